"""Findings → the exception queue (oms.order_holds), order statuses and order events.

A finding is one rule failing for one order. An open hold for the same order and rule is
kept (its detail refreshed); an open one no longer found is cleared; a new one is opened.
A rule ops released for an order is not held again for that order. An order with an open
hold of severity ``hold`` is ``on_hold``, otherwise ``ready``; each change of status, or
of the reasons an order is held for, is one ``order_events`` row.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from pipelines.lib.quality.prepare import PLACED
from pipelines.lib.schema import EXPECTATION_RESULTS, ORDER_EVENTS, ORDER_HOLDS, ORDERS

#: At most this many findings of one rule are spelled out in a hold's detail.
MAX_DETAILS = 5


def current_findings(findings: pl.DataFrame) -> pl.DataFrame:
    """One row per (order, rule): the rule's findings on the order in one sentence."""
    return (
        findings.unique(["order_key", "rule", "detail"], maintain_order=True)
        .sort("order_key", "check", "detail")
        .group_by("order_key", "rule", maintain_order=True)
        .agg(
            pl.col("reason").first(),
            pl.col("severity").first(),
            pl.col("detail").head(MAX_DETAILS).str.join("; ").alias("detail"),
            pl.len().alias("found"),
            pl.col("check").min(),
        )
        .with_columns(
            pl.when(pl.col("found") > MAX_DETAILS)
            .then(pl.format("{}; and {} more", "detail", pl.col("found") - MAX_DETAILS))
            .otherwise("detail")
            .alias("detail")
        )
    )


def close_cancelled(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> int:
    """Resolve open holds of orders that were cancelled (by the channel or by ops)."""
    return con.execute(
        f"""
        UPDATE {ORDER_HOLDS.qualified} SET resolved_at = $now, resolution = 'cancelled',
            resolved_by = 'channel', resolution_note = 'the order was cancelled',
            resolved_run_id = $run_id
        WHERE resolved_at IS NULL AND order_key IN (
            SELECT order_key FROM {ORDERS.qualified} WHERE status = 'cancelled')
        """,
        {"now": now, "run_id": run_id},
    ).fetchall()[0][0]


def apply_findings(
    con: duckdb.DuckDBPyConnection, findings: pl.DataFrame, run_id: str, now: datetime
) -> dict[str, int]:
    """Reconcile the holds of the orders in ``val_keys`` with ``findings``; set statuses.

    Returns counts: ready, on_hold, opened, cleared, warnings.
    """
    params = {"now": now, "run_id": run_id}
    con.register("val_found", current_findings(findings).to_arrow())
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE val_current AS
            SELECT f.order_key, f.rule, f.reason, f.severity, f.detail, f."check"
            FROM val_found f
            WHERE NOT EXISTS (
                SELECT 1 FROM {ORDER_HOLDS.qualified} h
                WHERE h.order_key = f.order_key AND h.rule = f.rule
                  AND h.resolution = 'released')
            """
        )
    finally:
        con.unregister("val_found")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE val_before AS
        SELECT o.order_key, o.status AS old_status
        FROM {ORDERS.qualified} o JOIN val_keys USING (order_key)
        """
    )
    cleared = con.execute(
        f"""
        UPDATE {ORDER_HOLDS.qualified} AS h SET resolved_at = $now, resolution = 'cleared',
            resolved_by = 'validation',
            resolution_note = 'no longer found when the order was validated again',
            resolved_run_id = $run_id
        WHERE h.resolved_at IS NULL
          AND h.order_key IN (SELECT order_key FROM val_keys)
          AND NOT EXISTS (SELECT 1 FROM val_current c
                          WHERE c.order_key = h.order_key AND c.rule = h.rule)
        """,
        params,
    ).fetchall()[0][0]
    con.execute(
        f"""
        UPDATE {ORDER_HOLDS.qualified} AS h
        SET detail = c.detail, reason = c.reason, severity = c.severity
        FROM val_current c
        WHERE h.resolved_at IS NULL AND h.order_key = c.order_key AND h.rule = c.rule
          AND (h.detail, h.reason, h.severity) IS DISTINCT FROM (c.detail, c.reason, c.severity)
        """
    )
    opened = con.execute(
        f"""
        INSERT INTO {ORDER_HOLDS.qualified}
            (hold_id, order_key, rule, reason, severity, detail, opened_at, opened_run_id)
        SELECT md5(c.order_key || '|' || c.rule || '|' || $run_id), c.order_key, c.rule,
               c.reason, c.severity, c.detail, $now, $run_id
        FROM val_current c
        WHERE NOT EXISTS (SELECT 1 FROM {ORDER_HOLDS.qualified} h
                          WHERE h.resolved_at IS NULL AND h.order_key = c.order_key
                            AND h.rule = c.rule)
        """,
        params,
    ).fetchall()[0][0]
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE val_after AS
        WITH open_holds AS (
            SELECT h.order_key,
                   string_agg(h.reason || ': ' || h.detail, ' | '
                              ORDER BY c."check", h.rule) FILTER (h.severity = 'hold') AS held,
                   string_agg(h.reason || ': ' || h.detail, ' | '
                              ORDER BY c."check", h.rule) FILTER (h.severity = 'warn') AS warned,
                   bool_or(h.severity = 'hold' AND h.opened_run_id = $run_id) AS newly_held
            FROM {ORDER_HOLDS.qualified} h
            LEFT JOIN val_current c USING (order_key, rule)
            WHERE h.resolved_at IS NULL AND h.order_key IN (SELECT order_key FROM val_keys)
            GROUP BY h.order_key
        ),
        cleared AS (
            SELECT DISTINCT order_key FROM {ORDER_HOLDS.qualified}
            WHERE resolved_run_id = $run_id AND resolution = 'cleared' AND severity = 'hold'
        )
        SELECT b.order_key, b.old_status,
               CASE WHEN oh.held IS NOT NULL THEN 'on_hold'
                    WHEN b.old_status IN ({", ".join(f"'{s}'" for s in PLACED)})
                        THEN b.old_status
                    ELSE 'ready' END AS new_status,
               oh.held, oh.warned,
               coalesce(oh.newly_held, false) OR cl.order_key IS NOT NULL AS holds_changed
        FROM val_before b
        LEFT JOIN open_holds oh USING (order_key)
        LEFT JOIN cleared cl USING (order_key)
        """,
        {"run_id": run_id},
    )
    con.execute(
        f"""
        UPDATE {ORDERS.qualified} AS o SET status = a.new_status, validated_at = $now
        FROM val_after a WHERE o.order_key = a.order_key
        """,
        {"now": now},
    )
    con.execute(
        f"""
        INSERT INTO {ORDER_EVENTS.qualified} BY NAME
        SELECT md5(order_key || '|' || new_status || '|' || $run_id) AS event_id, order_key,
               new_status AS event, $now AS "at",
               CASE WHEN new_status = 'on_hold' THEN 'on hold: ' || held
                    ELSE 'passed validation'
                         || coalesce(' with warnings: ' || warned, '') END AS detail,
               $run_id AS run_id
        FROM val_after
        WHERE new_status IS DISTINCT FROM old_status
           OR (new_status = 'on_hold' AND holds_changed)
        """,
        params,
    )
    ((ready, on_hold, warnings),) = con.execute(
        "SELECT count(*) FILTER (new_status = 'ready'), count(*) FILTER (new_status = 'on_hold'),"
        " count(*) FILTER (warned IS NOT NULL) FROM val_after"
    ).fetchall()
    return {
        "ready": ready,
        "on_hold": on_hold,
        "opened": opened,
        "cleared": cleared,
        "warnings": warnings,
    }


def record_outcomes(
    con: duckdb.DuckDBPyConnection, outcomes: list, run_id: str, now: datetime
) -> None:
    if not outcomes:
        return
    rows = pl.DataFrame([{"run_id": run_id, "validated_at": now, **vars(o)} for o in outcomes])
    con.register("val_outcomes", EXPECTATION_RESULTS.conform(rows).to_arrow())
    try:
        con.execute(
            f"INSERT INTO {EXPECTATION_RESULTS.qualified} BY NAME SELECT * FROM val_outcomes"
        )
    finally:
        con.unregister("val_outcomes")
