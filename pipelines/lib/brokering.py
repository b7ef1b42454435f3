"""The allocation stage of the batch: open order lines get stock, or wait for it.

Each batch, in one transaction:

1. **Give stock back** where it no longer belongs (a ``release`` movement each):
   allocations of cancelled orders (``cancelled``); of orders back in validation or on
   hold, of orders the channel fulfilled itself, of lines that changed (another SKU, fewer
   units, no longer shipped), and of ``ship_complete`` orders with lines still open, so the
   whole order is placed again (``withdrawn``). Where a count or adjustment left a position
   with more committed than on hand, the lowest-priority allocations there are withdrawn
   until it fits. Only orders not yet released to the warehouse floor are touched.
2. **Allocate** the open lines (orders ``ready``, ``allocated``, ``partially_allocated``,
   ``backordered``; units not yet allocated; lines that ship) with
   :func:`pipelines.lib.allocation.allocate` against ATP = on_hand − committed −
   safety_stock, from ship-to points (:mod:`pipelines.lib.geo`). Backorders are re-brokered
   here every batch, highest priority first, with everything else that is open.
3. **Commit** what was allocated (``commit`` movements), record backorders with their
   shortfall, reason and promised date, set order statuses and append their events.
4. Rebuild ``oms.inventory_positions`` and the reorder report from the ledger.

Orders the channel reports fulfilled (``fulfilled_by_channel``) are never allocated: they
become ``shipped`` with an event saying the channel shipped them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lib.allocation import DEFAULT_MAX_SPLITS, USED_WAREHOUSES, allocate
from pipelines.lib.geo import haversine_km_expr, ship_to_points
from pipelines.lib.inventory import (
    derive_positions,
    reorder_report,
    stock_policy,
    write_positions,
)
from pipelines.lib.reference import read_reference, read_settings, whole_number_at_least_one
from pipelines.lib.schema import (
    ALLOCATIONS,
    BACKORDERS,
    COVERING,
    HOLDING_STOCK,
    INVENTORY_MOVEMENTS,
    ORDER_EVENTS,
    ORDER_LINES,
    ORDERS,
)
from pipelines.lib.timing import Laps
from pipelines.lib.warehouse import frame, scalar, transaction

CONFIG_FILE = "allocation.toml"
DEFAULT_LEAD_DAYS = 14
#: Orders whose open lines are allocated (and whose allocations may be re-placed).
ALLOCATABLE = ("ready", "allocated", "partially_allocated", "backordered")
_ALLOCATABLE_SQL = ", ".join(f"'{s}'" for s in ALLOCATABLE)
#: Orders whose open lines are allocated: also released and partially shipped ones (part of
#: them waits for stock).
_OPEN_SQL = _ALLOCATABLE_SQL + ", 'released', 'partially_shipped'"
_HOLDING_SQL = ", ".join(f"'{s}'" for s in HOLDING_STOCK)
#: Allocations whose units no longer wait: holding stock, or shipped.
_COVERING_SQL = ", ".join(f"'{s}'" for s in COVERING)
_SERVICE_RANK = "CASE o.service_level WHEN 'overnight' THEN 0 WHEN 'expedited' THEN 1 ELSE 2 END"


@dataclass(frozen=True)
class AllocationSettings:
    max_splits: int = DEFAULT_MAX_SPLITS
    default_lead_days: int = DEFAULT_LEAD_DAYS


def load_settings(reference_dir: Path) -> AllocationSettings:
    """``allocation.toml``; absent means the defaults. A bad value is an error."""
    path = reference_dir / CONFIG_FILE
    raw = read_settings(
        path,
        {"allocation": {"max_splits": DEFAULT_MAX_SPLITS, "default_lead_days": DEFAULT_LEAD_DAYS}},
    )["allocation"]
    return AllocationSettings(
        **{name: whole_number_at_least_one(path, name, value) for name, value in raw.items()}
    )


@dataclass
class AllocationStageResult:
    open_lines: int = 0
    units_demanded: int = 0
    units_allocated: int = 0
    units_backordered: int = 0
    orders_by_rule: dict[str, int] = field(default_factory=dict)
    released: dict[str, int] = field(default_factory=dict)  # ended allocations by why
    backorders_open: int = 0
    backorders_filled: int = 0
    repromised: int = 0
    fulfilled_by_channel: int = 0
    status_changes: dict[str, int] = field(default_factory=dict)
    reorder_rows: int = 0
    reorder: pl.DataFrame | None = None
    seconds: dict[str, float] = field(default_factory=dict)


# --- 1. giving stock back -----------------------------------------------------------------


def _end_allocations(
    con: duckdb.DuckDBPyConnection, select_sql: str, status: str, run_id: str, now: datetime
) -> dict[str, int]:
    """End the committed allocations ``select_sql`` returns (allocation_id, why) and book a
    release movement for each. Returns counts by why."""
    # (no try/finally: a statement run after a failure would mask it in an aborted
    # transaction; the temp table is dropped at the end, or with the connection)
    con.execute(f"CREATE OR REPLACE TEMP TABLE ending AS {select_sql}")
    con.execute(
        f"""
        INSERT INTO {INVENTORY_MOVEMENTS.qualified} BY NAME
        SELECT 'release:' || a.allocation_id || ':' || $run_id AS movement_id,
               $now AS "at", a.warehouse_id, a.sku, 0::BIGINT AS on_hand_delta,
               -a.quantity AS committed_delta, 'release' AS reason,
               a.order_key || '#' || a.line_no AS reference, e.why AS note,
               $now AS recorded_at, $run_id AS run_id
        FROM {ALLOCATIONS.qualified} a JOIN ending e USING (allocation_id)
        WHERE a.status IN ({_HOLDING_SQL})
        """,
        {"run_id": run_id, "now": now},
    )
    con.execute(
        f"""
        INSERT INTO {ORDER_EVENTS.qualified} BY NAME
        SELECT md5(a.order_key || '|stock_released|' || min(e.why) || '|' || $run_id)
                   AS event_id, a.order_key,
               'stock_released' AS event, $now AS "at",
               string_agg(DISTINCT e.why, '; ') || ': '
               || string_agg(a.quantity || ' x ' || a.sku || ' at ' || a.warehouse_id, ', '
                             ORDER BY a.line_no, a.warehouse_id) AS detail,
               $run_id AS run_id
        FROM {ALLOCATIONS.qualified} a JOIN ending e USING (allocation_id)
        WHERE a.status IN ({_HOLDING_SQL})
        GROUP BY a.order_key
        """,
        {"run_id": run_id, "now": now},
    )
    # (Counted before the UPDATE: DuckDB's UPDATE ... RETURNING is slow on large tables.)
    counts = dict(
        con.execute(
            f"""
            SELECT e.why, count(*) FROM {ALLOCATIONS.qualified} a JOIN ending e
              USING (allocation_id)
            WHERE a.status IN ({_HOLDING_SQL}) GROUP BY e.why
            """
        ).fetchall()
    )
    con.execute(
        f"""
        UPDATE {ALLOCATIONS.qualified} AS a SET status = $status, ended_at = $now,
            ended_reason = e.why, ended_run_id = $run_id
        FROM ending e
        WHERE a.allocation_id = e.allocation_id AND a.status IN ({_HOLDING_SQL})
        """,
        {"status": status, "now": now, "run_id": run_id},
    )
    con.execute("DROP TABLE ending")
    return counts


def _release_stock(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, result: AllocationStageResult
) -> None:
    a, o, lines = ALLOCATIONS.qualified, ORDERS.qualified, ORDER_LINES.qualified
    live = f"FROM {a} a JOIN {o} o USING (order_key) WHERE a.status = 'committed'"
    # Committed allocations (not on the floor yet) of every order still taking stock: also
    # released and partially shipped ones, whose later lines are allocated as usual.
    steps = [
        (  # also stock already in a pick wave: the fulfilment stage cancels its tasks
            "cancelled",
            f"SELECT a.allocation_id, 'order cancelled' AS why FROM {a} a JOIN {o} o "
            f"USING (order_key) WHERE a.status IN ({_HOLDING_SQL}) AND o.status = 'cancelled'",
        ),
        (
            "withdrawn",
            f"SELECT a.allocation_id, 'order back in validation' AS why {live} "
            "AND o.status IN ('received', 'on_hold')",
        ),
        (
            "withdrawn",
            f"SELECT a.allocation_id, 'fulfilled by the channel' AS why {live} "
            f"AND o.fulfilled_by_channel AND o.status IN ({_OPEN_SQL})",
        ),
        (
            "withdrawn",
            f"""
            SELECT a.allocation_id, 'order line changed' AS why
            FROM {a} a
            JOIN (
                SELECT order_key, line_no, sum(quantity) AS line_units FROM {a}
                WHERE status IN ({_COVERING_SQL}) GROUP BY ALL
            ) covered USING (order_key, line_no)
            JOIN {o} o USING (order_key)
            LEFT JOIN {lines} l USING (order_key, line_no)
            WHERE a.status = 'committed' AND o.status IN ({_OPEN_SQL})
              AND (l.order_key IS NULL OR l.sku IS DISTINCT FROM a.sku
                   OR NOT l.requires_shipping OR l.quantity < covered.line_units)
            """,
        ),
        (
            "withdrawn",
            f"""
            SELECT a.allocation_id, 'ship-complete order placed again whole' AS why
            FROM {a} a JOIN {o} o USING (order_key)
            WHERE a.status = 'committed' AND o.ship_complete
              AND o.status IN ({_ALLOCATABLE_SQL})
              AND a.order_key IN (SELECT order_key FROM open_lines)
            """,
        ),
    ]
    con.execute(f"CREATE OR REPLACE TEMP VIEW open_lines AS {_OPEN_LINES_SQL}")
    for status, sql in steps:
        for why, n in _end_allocations(con, sql, status, run_id, now).items():
            result.released[why] = result.released.get(why, 0) + n
    # Counted short: withdraw the lowest-priority allocations until committed <= on hand.
    short = f"""
        WITH pos AS (
            SELECT warehouse_id, sku, sum(on_hand_delta) AS on_hand,
                   sum(committed_delta) AS "committed"
            FROM {INVENTORY_MOVEMENTS.qualified} GROUP BY ALL
            HAVING sum(committed_delta) > sum(on_hand_delta)
        ),
        ranked AS (
            SELECT a.allocation_id, a.quantity, p.committed - p.on_hand AS excess,
                   sum(a.quantity) OVER (
                       PARTITION BY a.warehouse_id, a.sku
                       ORDER BY {_SERVICE_RANK} DESC, o.ship_by DESC NULLS FIRST,
                                o.ordered_at DESC, a.order_key DESC, a.line_no DESC
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
            FROM {a} a JOIN pos p USING (warehouse_id, sku) JOIN {o} o USING (order_key)
            WHERE a.status = 'committed' AND o.status IN ({_OPEN_SQL})
        )
        SELECT allocation_id, 'stock counted short' AS why FROM ranked
        WHERE coalesce(before, 0) < excess
    """
    for why, n in _end_allocations(con, short, "withdrawn", run_id, now).items():
        result.released[why] = result.released.get(why, 0) + n


def _ship_channel_fulfilled(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> int:
    """Orders the channel fulfilled itself: shipped, and their backorders cancelled."""
    keys = frame(
        con,
        f"""
        SELECT order_key, channel_status FROM {ORDERS.qualified}
        WHERE fulfilled_by_channel AND status IN ({_ALLOCATABLE_SQL}, 'partially_shipped')
        """,
    )
    if keys.is_empty():
        return 0
    con.register("fulfilled", keys)
    con.execute(
        f"""
        UPDATE {ORDERS.qualified} SET status = 'shipped'
        WHERE order_key IN (SELECT order_key FROM fulfilled)
        """
    )
    con.execute(
        f"""
        INSERT INTO {ORDER_EVENTS.qualified} BY NAME
        SELECT md5(order_key || '|shipped|' || $run_id) AS event_id, order_key,
               'shipped' AS event, $now AS "at",
               'fulfilled by the channel (' || coalesce(channel_status, '?')
               || '); nothing shipped from our stock' AS detail, $run_id AS run_id
        FROM fulfilled
        """,
        {"run_id": run_id, "now": now},
    )
    con.execute(
        f"""
        UPDATE {BACKORDERS.qualified} SET status = 'cancelled', resolved_at = $now,
            updated_at = $now, run_id = $run_id
        WHERE status = 'open' AND order_key IN (SELECT order_key FROM fulfilled)
        """,
        {"run_id": run_id, "now": now},
    )
    con.unregister("fulfilled")
    return keys.height


# --- 2. allocating ------------------------------------------------------------------------

_OPEN_LINES_SQL = f"""
    SELECT l.order_key, l.line_no, l.sku,
           (l.quantity - coalesce(c.units, 0))::BIGINT AS quantity
    FROM {ORDER_LINES.qualified} l
    JOIN {ORDERS.qualified} o USING (order_key)
    LEFT JOIN (
        SELECT order_key, line_no, sum(quantity) AS units FROM {ALLOCATIONS.qualified}
        WHERE status IN ({_COVERING_SQL}) GROUP BY ALL
    ) c USING (order_key, line_no)
    WHERE o.status IN ({_OPEN_SQL}) AND NOT coalesce(o.fulfilled_by_channel, false)
      AND l.requires_shipping AND l.sku IS NOT NULL AND l.quantity IS NOT NULL
      AND l.quantity - coalesce(c.units, 0) > 0
"""


def _open_lines(con: duckdb.DuckDBPyConnection, reference_dir: Path) -> pl.DataFrame:
    """The engine's LINES: open units with each order's priority columns and ship-to point."""
    lines = frame(con, _OPEN_LINES_SQL)
    orders = frame(
        con,
        f"""
        SELECT order_key, service_level, ship_by, ordered_at, ship_complete,
               ship_country, ship_region, ship_postal_code
        FROM {ORDERS.qualified}
        WHERE order_key IN (SELECT DISTINCT order_key FROM ({_OPEN_LINES_SQL}))
        """,
    )
    orders = pl.concat([orders, ship_to_points(orders, reference_dir)], how="horizontal")
    # Warehouses an order already ships from count towards max_splits when it is re-brokered.
    used = frame(
        con,
        f"""
        SELECT order_key, list(DISTINCT warehouse_id ORDER BY warehouse_id) AS used_warehouses
        FROM {ALLOCATIONS.qualified}
        WHERE status IN ({_COVERING_SQL})
          AND order_key IN (SELECT DISTINCT order_key FROM ({_OPEN_LINES_SQL}))
        GROUP BY order_key
        """,
    )
    orders = orders.join(used, on="order_key", how="left").with_columns(
        pl.col(USED_WAREHOUSES).fill_null(pl.lit([], pl.List(pl.String)))
    )
    return lines.join(
        orders.drop("ship_country", "ship_region", "ship_postal_code"),
        on="order_key",
        how="left",
    )


def _promises(
    backorders: pl.DataFrame,
    lines: pl.DataFrame,
    warehouses: pl.DataFrame,
    policy: pl.DataFrame,
    today: date,
    default_lead_days: int,
) -> pl.DataFrame:
    """Per backordered line: the nearest warehouse stocking the SKU and the date it can
    promise (today + its replenishment lead time; the default when none stocks it)."""
    points = backorders.join(
        lines.select("order_key", "line_no", "sku", "ship_lat", "ship_lon"),
        on=["order_key", "line_no"],
        how="left",
    )
    candidates = (
        points.join(policy.select("warehouse_id", "sku"), on="sku", how="inner")
        .join(warehouses, on="warehouse_id", how="inner")
        .with_columns(
            distance=haversine_km_expr(
                pl.col("ship_lat"), pl.col("ship_lon"), pl.col("lat"), pl.col("lon")
            )
            .fill_nan(0.0)
            .fill_null(0.0)
        )
        .sort("order_key", "line_no", "distance", "warehouse_id")
        .unique(["order_key", "line_no"], keep="first")
        .select("order_key", "line_no", "warehouse_id", "lead_days")
    )
    return points.join(candidates, on=["order_key", "line_no"], how="left").select(
        "order_key",
        "line_no",
        "sku",
        pl.col("warehouse_id").alias("promised_warehouse_id"),
        (pl.lit(today) + pl.duration(days=pl.col("lead_days").fill_null(default_lead_days))).alias(
            "promised_date"
        ),
    )


def _backorder_reasons(
    backorders: pl.DataFrame,
    lines: pl.DataFrame,
    allocations: pl.DataFrame,
    stock_after: pl.DataFrame,
    max_splits: int,
) -> pl.DataFrame:
    """Why each backordered line waits (see BACKORDER_REASONS) and a sentence saying so."""
    got = allocations.group_by("order_key").agg(pl.col("quantity").sum().alias("got"))
    before = (
        lines.select("order_key", pl.col(USED_WAREHOUSES).alias("warehouse_id"))
        .unique("order_key")
        .explode("warehouse_id")
        .drop_nulls()
    )
    used = (
        pl.concat([allocations.select("order_key", "warehouse_id"), before])
        .group_by("order_key")
        .agg(pl.col("warehouse_id").unique().alias("used"))
        .join(got, on="order_key", how="left")
    )
    left_elsewhere = (
        stock_after.filter(pl.col("atp") > 0)
        .group_by("sku")
        .agg(pl.col("warehouse_id").alias("has_stock"))
    )
    frame_ = (
        backorders.join(
            lines.select("order_key", "line_no", "sku", "ship_complete"),
            on=["order_key", "line_no"],
            how="left",
        )
        .join(used, on="order_key", how="left")
        .join(left_elsewhere, on="sku", how="left")
        .with_columns(
            n_used=pl.col("used").list.len().fill_null(0),
            elsewhere=pl.when(pl.col("used").is_null())
            .then(pl.col("has_stock").list.len())
            .otherwise(pl.col("has_stock").list.set_difference("used").list.len())
            .fill_null(0),
        )
    )
    reason = (
        pl.when(pl.col("ship_complete") & pl.col("got").is_null())
        .then(pl.lit("ship_complete"))
        .when((pl.col("n_used") >= max_splits) & (pl.col("elsewhere") > 0))
        .then(pl.lit("split_limit"))
        .otherwise(pl.lit("no_stock"))
    )
    detail = (
        pl.when(reason == "ship_complete")
        .then(
            pl.format(
                "{} x {} short: the order ships complete and no single warehouse can fill it",
                "quantity",
                "sku",
            )
        )
        .when(reason == "split_limit")
        .then(
            pl.format(
                "{} x {} short: the order already ships from {} warehouse(s), the most "
                "max_splits allows",
                "quantity",
                "sku",
                "n_used",
            )
        )
        .otherwise(pl.format("{} x {} short: not enough stock in any warehouse", "quantity", "sku"))
    )
    return frame_.select("order_key", "line_no", reason.alias("reason"), detail.alias("detail"))


# --- 3. committing ------------------------------------------------------------------------


def _commit(
    con: duckdb.DuckDBPyConnection,
    allocations: pl.DataFrame,
    lines: pl.DataFrame,
    run_id: str,
    now: datetime,
) -> None:
    rows = allocations.join(
        lines.select("order_key", "line_no", "sku"), on=["order_key", "line_no"], how="left"
    )
    con.register("allocated", rows)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE new_allocations AS
        SELECT md5($run_id || '|' || order_key || '|' || line_no || '|' || warehouse_id)
                   AS allocation_id,
               order_key, line_no, sku, warehouse_id, quantity, rule,
               'committed' AS status, $now AS allocated_at, $run_id AS run_id
        FROM allocated
        """,
        {"run_id": run_id, "now": now},
    )
    con.unregister("allocated")
    con.execute(f"INSERT INTO {ALLOCATIONS.qualified} BY NAME SELECT * FROM new_allocations")
    con.execute(
        f"""
        INSERT INTO {INVENTORY_MOVEMENTS.qualified} BY NAME
        SELECT 'commit:' || allocation_id AS movement_id, allocated_at AS "at", warehouse_id,
               sku, 0::BIGINT AS on_hand_delta, quantity AS committed_delta, 'commit' AS reason,
               order_key || '#' || line_no AS reference, rule AS note,
               allocated_at AS recorded_at, run_id
        FROM new_allocations
        """
    )


def _record_backorders(
    con: duckdb.DuckDBPyConnection,
    waiting: pl.DataFrame,
    run_id: str,
    now: datetime,
    today: date,
    result: AllocationStageResult,
) -> None:
    """Open, change or close backorder rows; a row is written only when it changes."""
    con.register("waiting", waiting)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE backorder_diff AS
        SELECT order_key, line_no, o.status AS order_status,
               b.order_key IS NOT NULL AS was_open, w.order_key IS NOT NULL AS waits,
               w.sku, w.quantity, w.reason, w.detail,
               -- A promise stands while it is in the future; one that passed is made again.
               CASE WHEN b.promised_date >= $today THEN b.promised_date
                    ELSE w.promised_date END AS promised_date,
               CASE WHEN b.promised_date >= $today THEN b.promised_warehouse_id
                    ELSE w.promised_warehouse_id END AS promised_warehouse_id,
               b.promised_date AS old_promised_date,
               b.promised_date < $today AND w.order_key IS NOT NULL AS repromised,
               (b.quantity, b.reason, b.detail) IS DISTINCT FROM (w.quantity, w.reason, w.detail)
                   OR b.promised_date < $today AS changed,
               l.line_no IS NOT NULL AS line_exists
        FROM waiting w
        FULL JOIN (SELECT * FROM {BACKORDERS.qualified} WHERE status = 'open') b
            USING (order_key, line_no)
        JOIN {ORDERS.qualified} o USING (order_key)
        LEFT JOIN (SELECT order_key, line_no FROM {ORDER_LINES.qualified}) l
            USING (order_key, line_no)
        """,
        {"today": today},
    )
    con.unregister("waiting")
    stamp = {"run_id": run_id, "now": now}
    # Lines that were waiting and are not any more: filled, or their order or line went away.
    # (Orders back in validation keep their open rows untouched until placed again.)
    result.backorders_filled = scalar(
        con,
        f"""
        SELECT count(*) FROM backorder_diff
        WHERE was_open AND NOT waits AND order_status IN ({_OPEN_SQL}) AND line_exists
        """,
    )
    con.execute(
        f"""
        UPDATE {BACKORDERS.qualified} AS b
        SET status = CASE WHEN d.order_status = 'cancelled' OR NOT d.line_exists
                          THEN 'cancelled' ELSE 'filled' END,
            resolved_at = $now, updated_at = $now, run_id = $run_id
        FROM backorder_diff d
        WHERE b.order_key = d.order_key AND b.line_no = d.line_no AND b.status = 'open'
          AND d.was_open AND NOT d.waits
          AND (d.order_status = 'cancelled' OR d.order_status IN ({_OPEN_SQL}))
        """,
        stamp,
    )
    con.execute(
        f"""
        INSERT INTO {ORDER_EVENTS.qualified} BY NAME
        SELECT md5(order_key || '|backorder_repromised|' || $run_id) AS event_id, order_key,
               'backorder_repromised' AS event, $now AS "at",
               string_agg(sku || ' was promised for ' || old_promised_date || ', now for '
                          || promised_date, '; ' ORDER BY line_no) AS detail,
               $run_id AS run_id
        FROM backorder_diff WHERE repromised
        GROUP BY order_key
        """,
        stamp,
    )
    result.repromised = scalar(con, "SELECT count(*) FROM backorder_diff WHERE repromised")
    con.execute(
        f"""
        UPDATE {BACKORDERS.qualified} AS b
        SET quantity = d.quantity, reason = d.reason, detail = d.detail,
            promised_date = d.promised_date, promised_warehouse_id = d.promised_warehouse_id,
            updated_at = $now, run_id = $run_id
        FROM backorder_diff d
        WHERE b.order_key = d.order_key AND b.line_no = d.line_no AND b.status = 'open'
          AND d.was_open AND d.waits AND d.changed
        """,
        stamp,
    )
    # New waits (a line filled or cancelled before may wait again: its row is reopened).
    con.execute(
        f"""
        INSERT INTO {BACKORDERS.qualified} BY NAME
        SELECT order_key, line_no, sku, quantity, reason, detail, promised_date,
               promised_warehouse_id, 'open' AS status, $now AS backordered_at,
               $now AS updated_at, $run_id AS run_id
        FROM backorder_diff WHERE waits AND NOT was_open
        ON CONFLICT (order_key, line_no) DO UPDATE SET
            sku = excluded.sku, quantity = excluded.quantity, reason = excluded.reason,
            detail = excluded.detail, promised_date = excluded.promised_date,
            promised_warehouse_id = excluded.promised_warehouse_id, status = 'open',
            backordered_at = excluded.backordered_at, updated_at = excluded.updated_at,
            resolved_at = NULL, run_id = excluded.run_id
        """,
        stamp,
    )
    con.execute("DROP TABLE backorder_diff")
    result.backorders_open = scalar(
        con, f"SELECT count(*) FROM {BACKORDERS.qualified} WHERE status = 'open'"
    )


def _update_statuses(
    con: duckdb.DuckDBPyConnection, run_id: str, now: datetime, result: AllocationStageResult
) -> None:
    """allocated / partially_allocated / backordered from the committed units, with events
    for every order whose status changed or that got stock in this run."""
    rows = frame(
        con,
        f"""
        WITH shippable AS (
            SELECT l.order_key, sum(l.quantity) AS units
            FROM {ORDER_LINES.qualified} l JOIN {ORDERS.qualified} o USING (order_key)
            WHERE o.status IN ({_ALLOCATABLE_SQL}) AND NOT coalesce(o.fulfilled_by_channel, false)
              AND l.requires_shipping AND l.quantity > 0
            GROUP BY ALL
        ),
        got AS (
            SELECT order_key, sum(quantity) AS units,
                   sum(quantity) FILTER (run_id = $run_id) AS now_units,
                   string_agg(DISTINCT warehouse_id, ', ' ORDER BY warehouse_id)
                       FILTER (run_id = $run_id) AS now_from,
                   max(rule) FILTER (run_id = $run_id) AS rule
            FROM {ALLOCATIONS.qualified} WHERE status IN ({_COVERING_SQL}) GROUP BY ALL
        ),
        waits AS (
            SELECT order_key, sum(quantity) AS units, min(promised_date) AS first_promise,
                   max(promised_date) AS promised
            FROM {BACKORDERS.qualified} WHERE status = 'open' GROUP BY ALL
        ),
        judged AS (
            SELECT s.order_key, o.status AS old_status,
                   CASE WHEN coalesce(g.units, 0) >= s.units THEN 'allocated'
                        WHEN coalesce(g.units, 0) > 0 THEN 'partially_allocated'
                        ELSE 'backordered' END AS new_status,
                   s.units, coalesce(g.units, 0) AS allocated, g.now_units, g.now_from, g.rule,
                   w.units AS waiting, w.promised
            FROM shippable s JOIN {ORDERS.qualified} o USING (order_key)
            LEFT JOIN got g USING (order_key) LEFT JOIN waits w USING (order_key)
        )
        SELECT * FROM judged WHERE old_status <> new_status OR now_units IS NOT NULL
        """,
        {"run_id": run_id},
    )
    if rows.is_empty():
        return
    detail = pl.concat_str(
        [
            pl.format("{} of {} units allocated", "allocated", "units"),
            pl.when(pl.col("now_units").is_not_null()).then(
                pl.format(" ({} now from {}, {})", "now_units", "now_from", "rule")
            ),
            pl.when(pl.col("waiting").is_not_null()).then(
                pl.format("; {} backordered, promised {}", "waiting", "promised")
            ),
        ],
        ignore_nulls=True,
    )
    changes = rows.select("order_key", "old_status", "new_status", detail.alias("detail"))
    con.register("changes", changes)
    con.execute(
        f"""
        UPDATE {ORDERS.qualified} AS o SET status = c.new_status
        FROM changes c WHERE o.order_key = c.order_key AND o.status <> c.new_status
        """
    )
    con.execute(
        f"""
        INSERT INTO {ORDER_EVENTS.qualified} BY NAME
        SELECT md5(order_key || '|' || new_status || '|' || $run_id) AS event_id,
               order_key, new_status AS event, $now AS "at", detail, $run_id AS run_id
        FROM changes
        """,
        {"run_id": run_id, "now": now},
    )
    con.unregister("changes")
    moved = changes.filter(pl.col("old_status") != pl.col("new_status"))
    result.status_changes = dict(moved.group_by("new_status").len().iter_rows())


def run_allocation_stage(
    con: duckdb.DuckDBPyConnection,
    *,
    reference_dir: Path,
    run_id: str,
    now: datetime,
) -> AllocationStageResult:
    """The whole stage in one transaction (see the module docstring)."""
    settings = load_settings(reference_dir)
    policy = stock_policy(reference_dir)
    warehouses = read_reference(reference_dir, "warehouses").select(
        "warehouse_id", "lat", "lon", pl.col("replenishment_lead_days").alias("lead_days")
    )
    today = now.date()
    result = AllocationStageResult()
    lap = Laps(result.seconds)

    with transaction(con):
        _release_stock(con, run_id, now, result)
        result.fulfilled_by_channel = _ship_channel_fulfilled(con, run_id, now)
        lap("release")
        lines = _open_lines(con, reference_dir)
        positions = derive_positions(con, policy, now)
        stock = positions.select("warehouse_id", "sku", "atp")
        lap("prepare")
        outcome = allocate(
            lines,
            stock,
            warehouses.select("warehouse_id", "lat", "lon"),
            max_splits=settings.max_splits,
        )
        lap("allocate")
        _commit(con, outcome.allocations, lines, run_id, now)
        lap("commit")
        reasons = _backorder_reasons(
            outcome.backorders,
            lines,
            outcome.allocations,
            outcome.stock_after,
            settings.max_splits,
        )
        promises = _promises(
            outcome.backorders, lines, warehouses, policy, today, settings.default_lead_days
        )
        waiting = outcome.backorders.join(promises, on=["order_key", "line_no"]).join(
            reasons, on=["order_key", "line_no"]
        )
        _record_backorders(con, waiting, run_id, now, today, result)
        lap("backorders")
        _update_statuses(con, run_id, now, result)
        lap("statuses")
        positions = derive_positions(con, policy, now)
        write_positions(con, positions)
        result.reorder = reorder_report(
            con,
            positions,
            reference_dir,
            default_lead_days=settings.default_lead_days,
            run_id=run_id,
            now=now,
        )
        result.reorder_rows = result.reorder.height
        lap("positions")
    result.open_lines = outcome.open_lines
    result.units_demanded = outcome.units_demanded
    result.units_allocated = outcome.units_allocated
    result.units_backordered = outcome.units_backordered
    result.orders_by_rule = outcome.orders_by_rule
    return result
