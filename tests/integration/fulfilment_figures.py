"""The Fulfilment & shipping page's figures computed straight from the snapshot's operational
tables (``oms.*``), for the page tests: what a scope (warehouse, channel, day) should show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb


@dataclass(frozen=True)
class Scope:
    """What the test picks: one warehouse, one channel, one day (None: all)."""

    warehouse: str | None = None
    channel: str | None = None
    day: date | None = None

    def sql(self, day_column: str, warehouse_column: str, order_key: str) -> tuple[str, list]:
        """A condition on the day, the warehouse and the order's channel, and its parameters."""
        condition = (
            f"(CAST(? AS DATE) IS NULL OR {day_column} = ?) "
            f"AND (CAST(? AS VARCHAR) IS NULL OR {warehouse_column} = ?) "
            f"AND (CAST(? AS VARCHAR) IS NULL OR {order_key} IN "
            "(SELECT order_key FROM oms.orders WHERE channel = ?))"
        )
        values = (self.day, self.warehouse, self.channel)
        return condition, [v for value in values for v in (value, value)]


def expected_figures(con: duckdb.DuckDBPyConnection, scope: Scope = Scope()) -> dict:
    """The page's figures for ``scope`` from the oms tables: parcels by ship date, shipments
    by release date, cutoffs met through the parcels' manifests, savings from the rate
    quotes. The on-time ship rate from the KPI mart's numerators and denominators (all
    warehouses), or from the per-order KPIs of the orders with a shipment from the warehouse."""
    where, params = scope.sql("p.ship_date", "s.warehouse_id", "s.order_key")
    shipped, rated, cost, billable_g, cannot_carry = con.execute(
        f"""
        SELECT count(*) FILTER (WHERE p.shipped_at IS NOT NULL), count(p.rate), sum(p.rate),
               sum(p.billable_weight_g) FILTER (WHERE p.rate IS NOT NULL),
               count(*) FILTER (WHERE p.rating_warning LIKE 'no service can carry%')
        FROM oms.parcels p JOIN oms.shipments s USING (shipment_id)
        WHERE p.status <> 'cancelled' AND {where}
        """,
        params,
    ).fetchall()[0]
    cost = cost or 0
    saved = con.execute(
        f"""
        WITH chosen AS (
            SELECT q.parcel_id, q.price
            FROM oms.rate_quotes q
            JOIN oms.parcels p USING (parcel_id) JOIN oms.shipments s USING (shipment_id)
            WHERE q."rank" = 1 AND p.status <> 'cancelled' AND {where}
        ),
        cheapest_other AS (
            SELECT parcel_id, min(price) AS price FROM oms.rate_quotes
            WHERE "rank" > 1 AND meets_sla AND price IS NOT NULL GROUP BY parcel_id
        )
        SELECT coalesce(sum(o.price - c.price), 0)
        FROM chosen c JOIN cheapest_other o USING (parcel_id)
        """,
        params,
    ).fetchall()[0][0]

    where, params = scope.sql("CAST(s.released_at AS DATE)", "s.warehouse_id", "s.order_key")
    judged, met = con.execute(
        f"""
        WITH on_manifest AS (
            SELECT p.shipment_id, bool_and(coalesce(m.cutoff_at = w.cutoff_at, false)) AS met
            FROM oms.parcels p
            JOIN oms.shipments s USING (shipment_id) JOIN oms.waves w USING (wave_id)
            LEFT JOIN oms.manifests m USING (manifest_id)
            WHERE p.status <> 'cancelled' GROUP BY p.shipment_id
        )
        SELECT count(*) FILTER (WHERE s.shipped_at IS NOT NULL
                                OR w.cutoff_at <= (SELECT max(as_of)
                                                   FROM oms.inventory_positions)),
               count(*) FILTER (WHERE coalesce(om.met, false))
        FROM oms.shipments s JOIN oms.waves w USING (wave_id)
        LEFT JOIN on_manifest om USING (shipment_id)
        WHERE s.status <> 'cancelled' AND {where}
        """,
        params,
    ).fetchall()[0]

    where, params = scope.sql("w.wave_date", "s.warehouse_id", "s.order_key")
    delayed, open_delayed = con.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE s.delivered_at IS NULL
                                          AND s.status <> 'cancelled')
        FROM oms.shipments s JOIN oms.waves w USING (wave_id)
        WHERE s.delayed_at IS NOT NULL AND {where}
        """,
        params,
    ).fetchall()[0]

    if scope.warehouse:
        due, on_time = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_shipped_on_time) "
            "FROM analytics.fct_order_kpis WHERE is_ship_judged "
            "AND (CAST(? AS DATE) IS NULL OR ship_settled_date = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR channel = ?) "
            "AND order_key IN (SELECT order_key FROM oms.shipments WHERE warehouse_id = ?)",
            [scope.day, scope.day, scope.channel, scope.channel, scope.warehouse],
        ).fetchall()[0]
    else:
        due, on_time = con.execute(
            "SELECT sum(ship_due_orders), sum(shipped_on_time_orders) FROM analytics.kpi_daily "
            "WHERE (CAST(? AS DATE) IS NULL OR date_day = ?) "
            "AND (CAST(? AS VARCHAR) IS NULL OR channel = ?)",
            [scope.day, scope.day, scope.channel, scope.channel],
        ).fetchall()[0]

    per_kg = f"${float(cost) / (billable_g / 1000):,.2f}" if billable_g else "–"
    return {
        "shipped": shipped,
        "rated": rated,
        "cost": cost,
        "saved": saved,
        "tiles": {
            "On-time ship rate": f"{on_time / due:.1%}" if due else "–",
            "Shipped parcels": f"{shipped:,}",
            "Cost per parcel (USD)": f"${cost / rated:,.2f}" if rated else "–",
            "Cutoffs met": f"{met / judged:.1%}" if judged else "–",
            "Rate-shopping savings (USD)": f"${saved:,.2f}",
            "Shipping cost (USD)": f"${cost:,.2f}",
            "Cost per kg (USD)": per_kg,
            "Savings per parcel (USD)": f"${saved / rated:,.2f}" if rated else "–",
            "Late shipments (open / total)": f"{open_delayed:,} / {delayed:,}",
            "No service can carry": f"{cannot_carry:,}",
        },
    }
