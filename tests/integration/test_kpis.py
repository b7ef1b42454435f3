"""The KPI mart (fct_order_kpis, kpi_daily, kpi_holds, kpi_returns) on ten hand-written
orders inserted into a migrated warehouse and built by the real ``dbt build``: every KPI
value below is computed by hand from the scenario in the table.

Clock (oms.inventory_positions.as_of): 2026-11-20 12:00 UTC. Unless said otherwise an
order is placed 2026-11-09 08:00, received 09:00, ship_by 2026-11-10 23:00, in USD for
10.00, one line of SKU-00001; the first allocation batch runs at T = 2026-11-09 12:00 and
waves are released 2026-11-10 09:00 and leave at the 17:00 cutoff.

- O1: 2 units allocated at T; shipped 11-10; promised 11-12, delivered 11-12 15:00.
- O2: received 10:00; shipped late 11-11 17:00; promised 11-13, delivered 11-14 10:00.
- O3: received 11:00; 2 of 3 units at T (1 backordered, still open); 2 shipped 11-10;
  delivered 11-12 11:00.
- O4: received 11:30; like O1, then a WRONG_ITEM return request and a 10.00 refund 11-15.
- O5: 2 units backordered whole at T; filled 11-11 12:00; released and shipped 11-12,
  promised 11-14, delivered 11-14 09:00.
- O6: held for payment 09:30-13:30; allocated 16:00; shipped 11-10, promised 11-12, never
  delivered.
- O7: woocommerce, 2 lines from WH-NJ and WH-GA: two shipments on 11-10, promised 11-12 and
  11-13, delivered 11-12 and 11-13 12:00.
- O8: cancelled after its allocation at T.
- O9: amazon, ship_by 11-25: allocated at T, not released.
- O10: amazon, fulfilled by the channel.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.lib import schema
from pipelines.lib.warehouse import connect, migrate
from pipelines.project import DBT_PROJECT_DIR, REPO_ROOT

UTC = dt.UTC
T = dt.datetime(2026, 11, 9, 12, tzinfo=UTC)
RELEASE = dt.datetime(2026, 11, 10, 9, tzinfo=UTC)
CUTOFF = dt.datetime(2026, 11, 10, 17, tzinfo=UTC)
CLOCK = dt.datetime(2026, 11, 20, 12, tzinfo=UTC)

_DEFAULTS = {
    "VARCHAR": "test",
    "BIGINT": 0,
    "INTEGER": 0,
    "BOOLEAN": False,
    "TIMESTAMPTZ": T,
    "DATE": T.date(),
    "DOUBLE": 0.0,
}


def at(day: int, hour: float) -> dt.datetime:
    """2026-11-<day> at <hour> UTC (a half hour as .5)."""
    return dt.datetime(2026, 11, day, tzinfo=UTC) + dt.timedelta(hours=hour)


def _insert(con: duckdb.DuckDBPyConnection, table: schema.Table, rows: list[dict]) -> None:
    """Insert rows, filling the NOT NULL columns a row leaves out with a neutral value."""
    filled = []
    for row in rows:
        row = dict(row)
        for column in table.columns:
            if column.name not in row and not column.nullable:
                row[column.name] = (
                    Decimal("0.00")
                    if column.sql_type.startswith("DECIMAL")
                    else _DEFAULTS[column.sql_type]
                )
        filled.append(row)
    names = {k for row in filled for k in row}
    frame = pl.DataFrame(
        [{name: row.get(name) for name in names} for row in filled],
        schema={c.name: c.polars_type for c in table.columns if c.name in names},
    )
    con.register("incoming", table.conform(frame))
    con.execute(f"INSERT INTO {table.qualified} BY NAME SELECT * FROM incoming")
    con.unregister("incoming")


def _order(key: str, **kw) -> dict:
    channel, external = key.split(":")
    row = {
        "order_key": key,
        "channel": channel,
        "source_format": "test",
        "external_order_id": external,
        "ordered_at": at(9, 8),
        "received_at": at(9, 9),
        "updated_at": at(9, 9),
        "status": "shipped",
        "service_level": "standard",
        "ship_complete": False,
        "ship_by": at(10, 23),
        "currency": "USD",
        "order_total": Decimal("10.00"),
        "subtotal": Decimal("10.00"),
        "ship_country": "US",
    }
    row.update(kw)
    return row


def _scenario(con: duckdb.DuckDBPyConnection) -> None:
    orders = [
        _order("shopify:O1"),
        _order("shopify:O2", received_at=at(9, 10)),
        _order("shopify:O3", received_at=at(9, 11), status="partially_shipped"),
        _order("shopify:O4", received_at=at(9, 11.5), status="partially_returned"),
        _order("shopify:O5"),
        _order("shopify:O6"),
        _order("woocommerce:O7"),
        _order("shopify:O8", status="cancelled", cancelled_at=at(9, 20)),
        _order("amazon:O9", status="allocated", ship_by=at(25, 23)),
        _order("amazon:O10", fulfilled_by_channel=True),
    ]
    units = {"shopify:O1": 2, "shopify:O3": 3, "shopify:O5": 2}
    lines = [
        {
            "order_key": o["order_key"],
            "line_no": 1,
            "sku": "SKU-00001",
            "quantity": units.get(o["order_key"], 1),
            "requires_shipping": True,
        }
        for o in orders
    ]
    lines.append(
        {
            "order_key": "woocommerce:O7",
            "line_no": 2,
            "sku": "SKU-00002",
            "quantity": 1,
            "requires_shipping": True,
        }
    )
    _insert(con, schema.ORDERS, orders)
    _insert(con, schema.ORDER_LINES, lines)
    _insert(
        con,
        schema.ORDER_EVENTS,
        [
            {"event_id": "e1", "order_key": "shopify:O5", "event": "backordered", "at": T},
            {"event_id": "e2", "order_key": "shopify:O5", "event": "allocated", "at": at(11, 12)},
        ],
    )
    _insert(
        con,
        schema.ORDER_HOLDS,
        [
            {
                "hold_id": "h1",
                "order_key": "shopify:O6",
                "rule": "payment",
                "reason": "AWAITING_PAYMENT",
                "severity": "hold",
                "opened_at": at(9, 9.5),
                "resolved_at": at(9, 13.5),
                "resolution": "cleared",
                "resolved_by": "validation",
            }
        ],
    )
    # (allocation, order, line, warehouse, units, status, when, shipment)
    allocations = [
        ("a1", "shopify:O1", 1, "WH-NJ", 2, "shipped", T, "S1"),
        ("a2", "shopify:O2", 1, "WH-NJ", 1, "shipped", T, "S2"),
        ("a3", "shopify:O3", 1, "WH-NJ", 2, "shipped", T, "S3"),
        ("a4", "shopify:O4", 1, "WH-NJ", 1, "shipped", T, "S4"),
        ("a5", "shopify:O5", 1, "WH-NJ", 2, "shipped", at(11, 12), "S5"),
        ("a6", "shopify:O6", 1, "WH-NJ", 1, "shipped", at(9, 16), "S6"),
        ("a7a", "woocommerce:O7", 1, "WH-NJ", 1, "shipped", T, "S7a"),
        ("a7b", "woocommerce:O7", 2, "WH-GA", 1, "shipped", T, "S7b"),
        ("a8", "shopify:O8", 1, "WH-NJ", 1, "cancelled", T, None),
        ("a9", "amazon:O9", 1, "WH-NJ", 1, "committed", T, None),
    ]
    _insert(
        con,
        schema.ALLOCATIONS,
        [
            {
                "allocation_id": a,
                "order_key": o,
                "line_no": n,
                "sku": "SKU-00002" if a == "a7b" else "SKU-00001",
                "warehouse_id": w,
                "quantity": q,
                "rule": "split" if o == "woocommerce:O7" else "single",
                "status": s,
                "allocated_at": when,
            }
            for a, o, n, w, q, s, when, _ in allocations
        ],
    )
    _insert(
        con,
        schema.BACKORDERS,
        [
            {
                "order_key": "shopify:O3",
                "line_no": 1,
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "no_stock",
                "status": "open",
                "backordered_at": T,
                "updated_at": T,
            },
            {
                "order_key": "shopify:O5",
                "line_no": 1,
                "sku": "SKU-00001",
                "quantity": 2,
                "reason": "no_stock",
                "status": "filled",
                "backordered_at": T,
                "updated_at": at(11, 12),
                "resolved_at": at(11, 12),
            },
        ],
    )
    # (shipment, order, warehouse, released, shipped, promised day, delivered, rate)
    shipments = [
        ("S1", "shopify:O1", "WH-NJ", RELEASE, CUTOFF, 12, at(12, 15), "5.00"),
        ("S2", "shopify:O2", "WH-NJ", RELEASE, at(11, 17), 13, at(14, 10), "6.00"),
        ("S3", "shopify:O3", "WH-NJ", RELEASE, CUTOFF, 12, at(12, 11), "7.00"),
        ("S4", "shopify:O4", "WH-NJ", RELEASE, CUTOFF, 12, at(12, 15), "5.00"),
        ("S5", "shopify:O5", "WH-NJ", at(12, 9), at(12, 17), 14, at(14, 9), "5.00"),
        ("S6", "shopify:O6", "WH-NJ", RELEASE, CUTOFF, 12, None, "5.00"),
        ("S7a", "woocommerce:O7", "WH-NJ", RELEASE, CUTOFF, 12, at(12, 12), "4.00"),
        ("S7b", "woocommerce:O7", "WH-GA", RELEASE, CUTOFF, 13, at(13, 12), "4.00"),
    ]
    kg = {"S7a": 500, "S7b": 500}
    _insert(
        con,
        schema.SHIPMENTS,
        [
            {
                "shipment_id": s,
                "wave_id": "W-" + s,
                "order_key": o,
                "warehouse_id": w,
                "tote": "T01",
                "status": "delivered" if delivered else "in_transit",
                "lines": 1,
                "parcels": 1,
                "released_at": released,
                "shipped_at": shipped,
                "promised_delivery_date": dt.date(2026, 11, day),
                "delivered_at": delivered,
            }
            for s, o, w, released, shipped, day, delivered, _ in shipments
        ],
    )
    _insert(
        con,
        schema.WAVES,
        [
            {
                "wave_id": "W-" + s,
                "warehouse_id": w,
                "wave_date": released.date(),
                "cutoff_at": shipped,
                "status": "shipped",
                "shipments": 1,
                "released_at": released,
                "shipped_at": shipped,
            }
            for s, _, w, released, shipped, _, _, _ in shipments
        ],
    )
    _insert(
        con,
        schema.PARCELS,
        [
            {
                "parcel_id": s + "-P1",
                "shipment_id": s,
                "parcel_no": 1,
                "units": 1,
                "weight_g": kg.get(s, 1000),
                "billable_weight_g": kg.get(s, 1000),
                "status": "delivered" if delivered else "in_transit",
                "carrier": "UPS",
                "rate": Decimal(rate),
                "ship_date": shipped.date(),
                "shipped_at": shipped,
                "promised_delivery_date": dt.date(2026, 11, day),
                "delivered_at": delivered,
            }
            for s, _, _, _, shipped, day, delivered, rate in shipments
        ],
    )
    _insert(
        con,
        schema.PICK_TASKS,
        [
            {
                "task_id": a,
                "wave_id": "W-" + shipment,
                "shipment_id": shipment,
                "order_key": o,
                "line_no": n,
                "warehouse_id": w,
                "sku": "SKU-00002" if a == "a7b" else "SKU-00001",
                "quantity": q,
                "tote": "T01",
                "status": "shipped",
                "released_at": RELEASE,
            }
            for a, o, n, w, q, _, _, shipment in allocations
            if shipment
        ],
    )
    _insert(
        con,
        schema.RETURNS,
        [
            {
                "return_line_id": "r1",
                "return_id": "R1",
                "rma_number": "RMA-1",
                "order_key": "shopify:O4",
                "line_no": 1,
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "WRONG_ITEM",
                "resolution": "refund",
                "requested_at": at(13, 10),
                "status": "authorized",
                "authorized_at": at(13, 11),
                "warehouse_id": "WH-NJ",
            }
        ],
    )
    _insert(
        con,
        schema.REFUNDS,
        [
            {
                "refund_id": "RF-RMA-1-1",
                "order_key": "shopify:O4",
                "rma_number": "RMA-1",
                "method": "original",
                "currency": "USD",
                "amount": Decimal("10.00"),
                "merchandise": Decimal("10.00"),
                "units": 1,
                "issued_at": at(15, 10),
            }
        ],
    )
    # One stock position, so the batch clock is CLOCK and the daily stock ties out.
    _insert(
        con,
        schema.INVENTORY_MOVEMENTS,
        [
            {
                "movement_id": "m1",
                "at": at(8, 0),
                "warehouse_id": "WH-NJ",
                "sku": "SKU-00001",
                "on_hand_delta": 100,
                "committed_delta": 0,
                "reason": "snapshot",
                "recorded_at": at(8, 0),
            }
        ],
    )
    _insert(
        con,
        schema.INVENTORY_POSITIONS,
        [
            {
                "warehouse_id": "WH-NJ",
                "sku": "SKU-00001",
                "on_hand": 100,
                "committed": 0,
                "safety_stock": 0,
                "atp": 100,
                "reorder_point": 0,
                "max_level": 200,
                "last_movement_at": at(8, 0),
                "as_of": CLOCK,
            }
        ],
    )


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario's warehouse after a whole ``dbt build`` (models, data and unit tests)."""
    root = tmp_path_factory.mktemp("kpis")
    path = root / "oms.duckdb"
    with connect(path) as con:
        migrate(con)
        _scenario(con)
    env = {
        **os.environ,
        "OMS_WAREHOUSE": str(path),
        "OMS_REFERENCE_DIR": str(REPO_ROOT / "data" / "reference"),
    }
    dbt = Path(sys.executable).with_name("dbt")
    started = time.perf_counter()
    result = subprocess.run(
        [str(dbt), "build", "--target-path", str(root / "target"), "--log-path", str(root)],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(f"dbt build: {time.perf_counter() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-6000:]
    # No warning either: assert_kpi_daily_counts_every_order (severity warn) holds too.
    assert " WARN=0 " in result.stdout, result.stdout[-6000:]
    return path


def _query(path: Path, sql: str) -> list[tuple]:
    with connect(path, read_only=True) as con:
        return con.execute(sql).fetchall()


def _daily(path: Path, day: int, channel: str, *columns: str) -> tuple:
    rows = _query(
        path,
        f"SELECT {', '.join(columns)} FROM analytics.kpi_daily "
        f"WHERE date_day = DATE '2026-11-{day:02d}' AND channel = '{channel}'",
    )
    assert len(rows) == 1
    return rows[0]


def test_orders_revenue_and_holds_by_order_date(warehouse):
    assert _daily(
        warehouse,
        9,
        "shopify",
        "orders",
        "cancelled_orders",
        "units",
        "revenue_reporting",
        "reporting_currency",
        "held_orders",
        "hold_rate",
    ) == (7, 1, 11, Decimal("60.00"), "USD", 1, pytest.approx(1 / 7))
    assert _daily(warehouse, 9, "amazon", "orders", "units", "revenue_reporting") == (
        2,
        2,
        Decimal("20.00"),
    )


def test_fill_and_backorder_rates_count_the_first_attempt(warehouse):
    # O1 2/2, O2 1/1, O3 2/3, O4 1/1, O5 0/2 (event only), O6 1/1 (its own first batch),
    # O8 1/1 (cancelled later): 8 of 11 units, O3 and O5 backordered.
    assert _daily(
        warehouse,
        9,
        "shopify",
        "allocation_attempted_orders",
        "fill_units_ordered",
        "fill_units_allocated",
        "fill_rate",
        "backordered_orders",
        "backorder_rate",
    ) == (7, 11, 8, pytest.approx(8 / 11), 2, pytest.approx(2 / 7))
    # O10 (fulfilled by the channel) is never attempted.
    assert _daily(warehouse, 9, "amazon", "allocation_attempted_orders", "fill_rate") == (1, 1.0)
    # O5's backorder filled after exactly two days.
    assert _daily(
        warehouse, 11, "shopify", "backorder_lines_filled", "backorder_avg_days_to_fill"
    ) == (1, 2.0)


def test_on_time_ship_rate_by_ship_by_date(warehouse):
    # Due 11-10: O1, O4, O6 on time; O2 and O5 late; O3 not in full. O8 cancelled.
    assert _daily(
        warehouse, 10, "shopify", "ship_due_orders", "shipped_on_time_orders", "on_time_ship_rate"
    ) == (6, 3, 0.5)
    assert _daily(warehouse, 10, "woocommerce", "on_time_ship_rate") == (1.0,)
    # O9's ship_by (11-25) is after the clock, O10 never ships from our stock.
    rows = _query(
        warehouse,
        "SELECT sum(ship_due_orders) FROM analytics.kpi_daily WHERE channel = 'amazon'",
    )
    assert rows == [(0,)]


def test_on_time_delivery_otif_and_perfect_orders_by_promised_date(warehouse):
    # Promised 11-12: O1 (perfect), O3 (on time, 2 of 3 units), O4 (OTIF, WRONG_ITEM
    # return), O6 (never delivered).
    assert _daily(
        warehouse,
        12,
        "shopify",
        "delivery_due_orders",
        "delivered_on_time_orders",
        "otif_orders",
        "perfect_orders",
        "on_time_delivery_rate",
        "otif_rate",
        "perfect_order_rate",
    ) == (4, 3, 2, 1, 0.75, 0.5, 0.25)
    assert _daily(warehouse, 13, "shopify", "delivery_due_orders", "otif_orders") == (1, 0)
    assert _daily(warehouse, 14, "shopify", "delivery_due_orders", "perfect_orders") == (1, 1)
    # O7's promise is the later of its two first shipments' (11-13), kept.
    assert _daily(warehouse, 13, "woocommerce", "delivery_due_orders", "otif_rate") == (1, 1.0)


def test_split_shipments_and_shipping_cost_by_first_ship_date(warehouse):
    assert _daily(
        warehouse,
        10,
        "shopify",
        "shipped_orders",
        "split_shipment_orders",
        "shipping_cost_usd",
        "shipped_billable_kg",
        "shipping_cost_usd_per_order",
        "shipping_cost_usd_per_kg",
    ) == (4, 0, Decimal("22.00"), 4.0, 5.5, 5.5)
    assert _daily(
        warehouse,
        10,
        "woocommerce",
        "shipped_orders",
        "split_shipment_rate",
        "shipping_cost_usd_per_order",
        "shipping_cost_usd_per_kg",
    ) == (1, 1.0, 8.0, 8.0)


def test_cycle_time_medians_and_p90(warehouse):
    # Released 11-10 after 24, 23, 22, 21.5 and 24 hours (O1, O2, O3, O4, O6).
    assert _daily(
        warehouse,
        10,
        "shopify",
        "received_to_released_orders",
        "received_to_released_hours_p50",
        "received_to_released_hours_p90",
    ) == (5, 23.0, 24.0)
    assert _daily(
        warehouse, 11, "shopify", "released_to_shipped_hours_p50", "released_to_shipped_hours_p90"
    ) == (32.0, 32.0)
    # Delivered in full 11-12: O1 (46 h after shipping, 78 h after receipt) and O4 (46, 75.5).
    assert _daily(
        warehouse,
        12,
        "shopify",
        "delivered_orders",
        "shipped_to_delivered_hours_p50",
        "received_to_delivered_hours_p50",
        "received_to_delivered_hours_p90",
    ) == (2, 46.0, 76.75, 77.75)
    # 11-14: O2 (65 h) and O5 (40 h).
    assert _daily(
        warehouse, 14, "shopify", "shipped_to_delivered_hours_p50", "shipped_to_delivered_hours_p90"
    ) == (52.5, 62.5)


def test_refunds_in_the_reporting_currency(warehouse):
    assert _daily(warehouse, 15, "shopify", "refunds", "refunded_reporting") == (
        1,
        Decimal("10.00"),
    )


def test_a_week_rolls_up_from_numerators_and_denominators(warehouse):
    rows = _query(
        warehouse,
        """
        SELECT sum(fill_units_allocated) / sum(fill_units_ordered),
               sum(otif_orders) / sum(delivery_due_orders),
               sum(orders), count(*) = count(DISTINCT (date_day, channel))
        FROM analytics.kpi_daily
        WHERE date_day BETWEEN DATE '2026-11-09' AND DATE '2026-11-15'
        """,
    )
    # Fill: shopify 8/11, woocommerce 2/2, amazon 1/1. OTIF: O1, O4, O5, O7 of 7 judged.
    assert rows == [(pytest.approx(11 / 14), pytest.approx(4 / 7), 10, True)]


def test_holds_by_reason_and_returns_by_sku(warehouse):
    assert _query(
        warehouse,
        "SELECT order_date, channel, reason, orders, held_orders, holds_resolved, "
        "hours_to_resolve_p50 FROM analytics.kpi_holds",
    ) == [(dt.date(2026, 11, 9), "shopify", "AWAITING_PAYMENT", 7, 1, 1, 4.0)]
    # O1 2, O2 1, O3 2, O4 1, O5 2, O6 1 units shipped; O4's unit asked back, not yet back.
    assert _query(
        warehouse,
        "SELECT shipped_units, return_requested_units, returned_units, return_rate "
        "FROM analytics.kpi_returns WHERE channel = 'shopify' AND sku = 'SKU-00001'",
    ) == [(9, 1, 0, 0.0)]


def test_stock_kpis_per_warehouse_day(warehouse):
    # The one opening snapshot: 100 units of SKU-00001 at WH-NJ on 11-08, nothing shipped
    # through the ledger (the scenario books no ship movements).
    assert _query(
        warehouse,
        "SELECT date_day, warehouse_id, positions, units_shipped, on_hand_units "
        "FROM analytics.kpi_inventory_daily",
    ) == [(dt.date(2026, 11, 8), "WH-NJ", 1, 0, 100)]
