"""Read-only queries on the published reporting snapshot; the only module pages query through.

The snapshot is replaced by a rename after every batch, so a connection is cached per file
version (path + modification time): a new snapshot gets a new connection, an old reader keeps
its consistent copy until then, and a page never touches the live warehouse.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st

from pipelines.lib.files import spreadsheet_safe_frame
from pipelines.lib.runs import run_history
from pipelines.lib.warehouse import ops_snapshot_path
from pipelines.project import get_settings

log = logging.getLogger(__name__)


def snapshot_path() -> Path:
    return get_settings().reporting_path


def ops_path() -> Path:
    """The ops workspace's snapshot: full customer details of the orders it works on only."""
    return ops_snapshot_path(get_settings().reporting_path)


def _version(path: Path | None = None) -> int | None:
    path = snapshot_path() if path is None else path
    return path.stat().st_mtime_ns if path.exists() else None


@st.cache_resource(max_entries=2)
def _connection(path: str, version: int) -> duckdb.DuckDBPyConnection:
    # A private in-memory database that attaches the file: duckdb.connect(path) would hand
    # back the database this process already has open for the path, i.e. the replaced file.
    con = duckdb.connect(":memory:")
    con.execute("ATTACH ? AS snapshot (READ_ONLY)", [path])
    return _on_snapshot(con)


def _on_snapshot(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Point a connection (or a cursor: they keep no settings of their parent) at the
    attached snapshot, in UTC."""
    con.execute("USE snapshot")
    con.execute("SET TimeZone = 'UTC'")
    return con


def has_snapshot() -> bool:
    return _version() is not None


def cursor() -> duckdb.DuckDBPyConnection | None:
    """A fresh cursor on the current snapshot (close it after use), for queries that must not
    be cached across sessions (a customer's order lookup); None without a snapshot."""
    version = _version()
    if version is None:
        return None
    return _on_snapshot(_connection(str(snapshot_path()), version).cursor())


@st.cache_data(ttl=60, show_spinner=False)
def _query(sql: str, params: tuple, path: str, version: int) -> pl.DataFrame:
    return _connection(path, version).sql(sql, params=list(params)).pl()


def query(sql: str, params: tuple = ()) -> pl.DataFrame | None:
    """Run a read-only query on the snapshot; None when there is no snapshot yet."""
    return _answer(snapshot_path(), sql, params)


def ops_query(sql: str, params: tuple = ()) -> pl.DataFrame | None:
    """Run a read-only query on the ops snapshot (the ops workspace's pages only); None when
    there is none yet."""
    return _answer(ops_path(), sql, params)


def _answer(path: Path, sql: str, params: tuple) -> pl.DataFrame | None:
    version = _version(path)
    if version is None:
        return None
    try:
        return _query(sql, params, str(path), version)
    except (duckdb.CatalogException, duckdb.BinderException) as exc:
        # A table or column this code expects is not in the snapshot yet: it was published
        # by an older version, and the next batch replaces it. Logged, as a typo looks alike.
        log.warning("query not answered by the snapshot %s: %s", path, exc)
        return None


def csv(sql: str, params: tuple = ()) -> bytes:
    """The whole result of a read-only query as CSV (header first), for a download button:
    not cached and not capped like the table on the page. Empty without a snapshot. Text
    cells a spreadsheet would take for a formula are quoted (:func:`spreadsheet_safe_frame`);
    numbers are written as numbers."""
    con = cursor()
    if con is None:
        return b""
    try:
        return spreadsheet_safe_frame(con.sql(sql, params=list(params)).pl()).write_csv().encode()
    finally:
        con.close()


def inventory_by_warehouse() -> pl.DataFrame | None:
    """Stock per warehouse: positions, on hand, committed, ATP, stock-outs, reorder flags."""
    return query(
        "SELECT warehouse_id, count(*) AS skus, sum(on_hand) AS on_hand, "
        "sum(committed_units) AS committed, sum(atp) AS atp, "
        "count(*) FILTER (WHERE is_stocked_out) AS stocked_out, "
        "count(*) FILTER (WHERE below_reorder_point) AS below_reorder_point "
        "FROM analytics.fct_inventory_positions GROUP BY warehouse_id ORDER BY warehouse_id"
    )


def reorder_report() -> pl.DataFrame | None:
    """The latest reorder report (oms.reorder_report): positions to replenish."""
    return query(
        "SELECT warehouse_id, sku, product_name, available_position, reorder_point, "
        "suggested_quantity, lead_days FROM oms.reorder_report ORDER BY warehouse_id, sku"
    )


def open_backorders() -> pl.DataFrame | None:
    """Order lines still waiting for stock, oldest first."""
    return query(
        "SELECT order_key, line_no, sku, quantity, reason, detail, promised_date, "
        "promised_warehouse_id, channel, service_level, backordered_at, "
        "round(age_days, 1) AS age_days "
        "FROM analytics.fct_backorders WHERE is_open "
        "ORDER BY backordered_at, order_key, line_no"
    )


@st.cache_data(ttl=30, show_spinner=False)
def _batch_runs(dagster_home: str) -> dict[str, dict]:
    return run_history(Path(dagster_home))


def batch_runs() -> dict[str, dict]:
    """Each job's last success and last failure, from the Dagster home's run history (read,
    never written; refreshed every 30 s)."""
    return _batch_runs(str(get_settings().dagster_home))
