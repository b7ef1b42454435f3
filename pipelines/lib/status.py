"""What state the platform is in: orders by status and files received."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from pipelines.lib.schema import ORDER_STATUSES
from pipelines.lib.warehouse import connect, scalar

T = TypeVar("T")


#: Stock figures ``oms status`` shows (all zero before the first stock file).
INVENTORY_SQL = """
    SELECT
        (SELECT coalesce(sum(on_hand), 0) FROM oms.inventory_positions) AS units_on_hand,
        (SELECT coalesce(sum("committed"), 0) FROM oms.inventory_positions) AS units_committed,
        (SELECT coalesce(sum(atp), 0) FROM oms.inventory_positions) AS units_atp,
        (SELECT count(*) FROM oms.backorders WHERE status = 'open') AS open_backorders,
        (SELECT coalesce(sum(quantity), 0) FROM oms.backorders WHERE status = 'open')
            AS units_backordered,
        (SELECT min(promised_date) FROM oms.backorders WHERE status = 'open')
            AS next_promised_date,
        (SELECT count(*) FROM oms.reorder_report) AS skus_to_reorder
"""

#: Shipping figures ``oms status`` shows.
SHIPPING_SQL = """
    SELECT
        (SELECT count(*) FROM oms.parcels WHERE status IN ('released', 'picked', 'packed')
            AND tracking_number IS NOT NULL) AS parcels_labelled_waiting,
        (SELECT count(*) FROM oms.parcels WHERE status IN ('released', 'picked', 'packed')
            AND tracking_number IS NULL AND rating_warning IS NOT NULL) AS parcels_unlabelled,
        (SELECT count(*) FROM oms.manifests) AS manifests,
        (SELECT count(*) FROM oms.parcels WHERE manifest_id IS NOT NULL
            AND status NOT IN ('delivered', 'cancelled')) AS parcels_on_the_way,
        (SELECT count(*) FROM oms.parcels WHERE status = 'delivered') AS parcels_delivered,
        (SELECT count(*) FROM oms.parcels
            WHERE status IN ('delivery_failed', 'returned_to_sender', 'exception'))
            AS parcels_with_exceptions,
        (SELECT count(*) FROM oms.shipments WHERE delayed_at IS NOT NULL
            AND status <> 'delivered') AS shipments_delayed,
        (SELECT count(*) FROM quality.tracking_quarantine) AS tracking_events_quarantined
"""

#: Returns figures ``oms status`` shows.
RETURNS_SQL = """
    SELECT
        (SELECT count(DISTINCT rma_number) FROM oms.returns WHERE status = 'authorized')
            AS rmas_awaiting_units,
        (SELECT count(*) FROM oms.returns WHERE status = 'received') AS lines_partly_received,
        (SELECT count(*) FROM oms.returns WHERE status = 'inspected') AS refunds_held,
        (SELECT count(*) FROM oms.returns WHERE status = 'rejected') AS lines_rejected,
        (SELECT count(*) FROM oms.returns WHERE status = 'completed') AS lines_completed,
        (SELECT coalesce(sum(missing_quantity), 0) FROM oms.returns) AS units_missing,
        (SELECT count(*) FROM oms.refunds) AS refunds,
        (SELECT count(*) FROM oms.orders WHERE channel = 'exchange') AS exchange_orders,
        (SELECT count(*) FROM quality.returns_quarantine) AS records_quarantined
"""

#: Channel feeds ``oms status`` shows; unconfirmed: units shipped for a feed channel's
#: orders that no confirmation covers yet (Amazon orders without item ids wait for the rest).
FEEDS_SQL = """
    SELECT
        (SELECT count(*) FROM oms.channel_feeds) AS feeds,
        (SELECT max(created_at) FROM oms.channel_feeds) AS last_feed_at,
        (SELECT count(*) FROM oms.channel_feeds WHERE written_at IS NULL) AS feeds_unwritten,
        (SELECT coalesce(sum(quantity), 0) FROM oms.channel_confirmations) AS units_confirmed,
        (SELECT coalesce(sum(a.quantity), 0) FROM oms.allocations a
            JOIN oms.orders o USING (order_key)
            WHERE a.status = 'shipped' AND o.channel IN ('amazon', 'shopify', 'woocommerce'))
        - (SELECT coalesce(sum(quantity), 0) FROM oms.channel_confirmations)
            AS units_unconfirmed
"""

#: The customer message outbox ``oms status`` shows.
OUTBOX_SQL = """
    SELECT
        count(*) FILTER (WHERE status = 'queued') AS queued,
        count(*) FILTER (WHERE status = 'sent') AS sent,
        count(*) FILTER (WHERE status = 'failed') AS failed,
        count(*) FILTER (WHERE status = 'skipped') AS skipped,
        count(*) FILTER (WHERE status = 'queued' AND attempts > 0) AS retrying
    FROM oms.notifications
"""
#: The latest failed messages with their errors.
FAILURES_SQL = """
    SELECT order_key, kind, channel, recipient, attempts, last_error, last_attempt_at
    FROM oms.notifications WHERE status = 'failed'
    ORDER BY last_attempt_at DESC NULLS LAST, notification_id LIMIT 5
"""


def _counts(
    source: str,
    by_status: dict[str, int],
    lines: int,
    files: dict[str, int],
    inventory: dict[str, object] | None = None,
    shipping: dict[str, object] | None = None,
    outbox: dict[str, object] | None = None,
    returns: dict[str, object] | None = None,
    feeds: dict[str, object] | None = None,
) -> dict[str, object]:
    return {
        "source": source,
        "orders": sum(by_status.values()),
        "lines": lines,
        "orders_by_status": {s: by_status.get(s, 0) for s in ORDER_STATUSES},
        "files": files,
        "inventory": inventory or {},
        "shipping": shipping or {},
        "outbox": outbox or {},
        "returns": returns or {},
        "feeds": feeds or {},
    }


def _figures(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, object]:
    """One row of figures by name; empty when the tables predate the stage."""
    try:
        cursor = con.execute(sql)
    except duckdb.CatalogException:  # e.g. a snapshot published before the stage existed
        return {}
    row = cursor.fetchall()[0]
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def _read(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, object]:
    by_status = dict(
        con.execute("SELECT status, count(*) FROM oms.orders GROUP BY status").fetchall()
    )
    files: dict[str, int] = {}
    if scalar(
        con,
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'raw' AND table_name = 'files'",
    ):
        files = dict(
            con.execute("SELECT status, count(*) FROM raw.files GROUP BY status").fetchall()
        )
    lines = scalar(con, "SELECT count(*) FROM oms.order_lines")
    return _counts(
        source,
        by_status,
        lines,
        files,
        _figures(con, INVENTORY_SQL),
        _figures(con, SHIPPING_SQL),
        _outbox(con),
        _figures(con, RETURNS_SQL),
        _figures(con, FEEDS_SQL),
    )


def _outbox(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    figures = _figures(con, OUTBOX_SQL)
    if figures:
        cursor = con.execute(FAILURES_SQL)
        names = [d[0] for d in cursor.description]
        figures["recent_failures"] = [
            dict(zip(names, row, strict=True)) for row in cursor.fetchall()
        ]
    return figures


def _live_or_snapshot(
    warehouse: Path,
    reporting: Path,
    read: Callable[[duckdb.DuckDBPyConnection, str], T],
    empty: Callable[[str], T],
) -> T:
    """``read(con, source)`` on the live warehouse, or on the published snapshot while a
    batch holds the lock; ``empty(source)`` when neither has the tables yet."""
    for path, source in ((warehouse, "warehouse"), (reporting, "reporting snapshot")):
        if not path.exists():
            continue
        try:
            with connect(path, read_only=True) as con:
                return read(con, f"{source} {path}")
        except duckdb.IOException:
            continue  # a batch is writing: fall back to the published snapshot
        except duckdb.CatalogException:
            return empty(f"{source} {path}")
    return empty("none")


def order_status_counts(warehouse: Path, reporting: Path) -> dict[str, object]:
    """Counts from the live warehouse, or from the snapshot while a batch holds the lock."""
    return _live_or_snapshot(
        warehouse,
        reporting,
        _read,
        lambda source: _counts(
            source if source == "none" else f"{source} (no orders yet)", {}, 0, {}
        ),
    )


def _open_holds(con: duckdb.DuckDBPyConnection, reason: str | None, now) -> list[dict]:
    sql = """
        SELECT h.order_key, o.channel, o.order_number, o.status, h.reason, h.rule, h.detail,
               h.opened_at, round(epoch($now - h.opened_at) / 3600, 1) AS age_hours
        FROM oms.order_holds h JOIN oms.orders o USING (order_key)
        WHERE h.resolved_at IS NULL AND h.severity = 'hold'
          AND ($reason IS NULL OR h.reason = $reason)
        ORDER BY h.opened_at, h.order_key, h.reason, h.rule
    """
    cursor = con.execute(sql, {"now": now, "reason": reason})
    rows = cursor.fetchall()
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


def open_holds(
    warehouse: Path, reporting: Path, now, reason: str | None = None
) -> tuple[str, list[dict]]:
    """(source, holds): the exception queue, oldest first, from the live warehouse or the
    snapshot while a batch holds the lock. ``reason`` picks one hold reason."""
    return _live_or_snapshot(
        warehouse,
        reporting,
        lambda con, source: (source, _open_holds(con, reason, now)),
        lambda source: (source if source == "none" else f"{source} (not validated yet)", []),
    )
