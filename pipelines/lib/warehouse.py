"""DuckDB warehouse I/O: connections, idempotent versioned migrations, the reporting snapshot."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lib.privacy import assign_privacy_keys, ops_selects, pii_key, reporting_selects
from pipelines.lib.schema import SCHEMA_VERSION, SCHEMAS, TABLES, Table
from pipelines.project import get_settings

#: Catalog name the warehouse file is attached under. The file is ``oms.duckdb`` and one of
#: its schemas is ``oms``; opened directly, ``oms.orders`` would be ambiguous.
CATALOG = "warehouse"
#: DuckDB's memory budget per connection; beyond it, temporary and uncommitted data spill
#: to disk (Polars, which does the row logic, has the rest of the machine).
MEMORY_LIMIT = "1GB"
#: The budget of the one-off work an upgrade does inside its schema transaction.
UPGRADE_MEMORY_LIMIT = "6GB"


@contextmanager
def connect(path: Path | str, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (UTC session time zone) and close it on exit."""
    con = duckdb.connect()
    try:
        mode = " (READ_ONLY)" if read_only else ""
        con.execute(f"ATTACH '{path}' AS {CATALOG}{mode}")
        con.execute(f"USE {CATALOG}")
        con.execute("SET TimeZone = 'UTC'")
        # Checkpoint when a stage says so (or on close), not after every large commit: an
        # automatic checkpoint per file rewrote the growing tables again and again.
        con.execute("SET checkpoint_threshold = '1GB'")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        # What spills goes beside the warehouse file, as for a file DuckDB opens itself (the
        # in-memory catalogue would put it in ``.tmp`` under whatever folder the process runs).
        con.execute(f"SET temp_directory = '{path}.tmp'")
        yield con
    finally:
        con.close()


#: DuckDB's words for a file another process holds (a path may hold "lock" too).
_LOCKED = ("Could not set lock on file", "Conflicting lock is held")


def lock_holder(path: Path | str) -> str | None:
    """DuckDB's own words when another process has the warehouse file open (they name it and
    its PID), else None. A file not created yet is free; one DuckDB cannot open
    for another reason is left for the batch to report."""
    if not Path(path).exists():
        return None
    try:
        with connect(path):
            return None
    except duckdb.Error as exc:
        text = " ".join(str(exc).split())
        return text if any(words in text for words in _LOCKED) else None


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> object:
    """First column of the first row (the result is read to the end, as DuckDB 2 requires)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> pl.DataFrame:
    """A query's result as a Polars frame."""
    return con.sql(sql, params=params).pl()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a failure inside rolls back every write made in the block."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _existing_columns(con: duckdb.DuckDBPyConnection, table: Table) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [table.schema, table.name],
    ).fetchall()
    return {r[0] for r in rows}


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = scalar(
        con,
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'raw' AND table_name = 'schema_version'",
    )
    if not exists:
        return 0
    return scalar(con, "SELECT max(version) FROM raw.schema_version") or 0


def migrate(con: duckdb.DuckDBPyConnection, tables: tuple[Table, ...] = TABLES) -> list[str]:
    """Bring the warehouse up to :data:`SCHEMA_VERSION`; a no-op when it already is.

    New tables are created; a column declared in :mod:`schema` but missing from an existing
    table is added (nullable, so rows already there keep their data). Returns what changed.
    """
    changes: list[str] = []
    created: set[str] = set()
    upgrading = schema_version(con) > 0
    with transaction(con):
        for name in SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
        con.execute(
            "CREATE TABLE IF NOT EXISTS raw.schema_version ("
            "version INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL, changes VARCHAR)"
        )
        for table in tables:
            existing = _existing_columns(con, table)
            if not existing:
                con.execute(table.create_sql())
                changes.append(f"created {table.qualified}")
                created.add(table.qualified)
                continue
            for column in table.columns:
                if column.name not in existing:
                    con.execute(
                        f"ALTER TABLE {table.qualified} "
                        f'ADD COLUMN "{column.name}" {column.sql_type}'
                    )
                    changes.append(f"added {table.qualified}.{column.name}")
        if upgrading and "oms.channel_confirmations" in created:
            # Parcels shipped before the warehouse had channel feeds are not sent again.
            from pipelines.lib.channel_feeds import baseline_confirmations

            # Every shipment at once, beside this transaction's new columns (which cannot
            # spill): a large warehouse needs more than a batch's budget, this once.
            con.execute(f"SET memory_limit = '{UPGRADE_MEMORY_LIMIT}'")
            try:
                items = baseline_confirmations(con, datetime.now(UTC))
            finally:
                con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            changes.append(f"{items} shipped item(s) recorded as confirmed to their channels")
        if any(c.startswith("added oms.orders.") and c.endswith("_key") for c in changes):
            # A new keyed column: every order is keyed again at the next build.
            con.execute("UPDATE oms.orders SET keyed_at = NULL")
        if changes or schema_version(con) < SCHEMA_VERSION:
            con.execute(
                "INSERT INTO raw.schema_version VALUES (?, now(), ?)",
                [SCHEMA_VERSION, "; ".join(changes) or "version bump"],
            )
    return changes


#: The ops workspace's snapshot, beside the reporting one.
OPS_SNAPSHOT = "ops.duckdb"


def ops_snapshot_path(reporting_path: Path | str) -> Path:
    return Path(reporting_path).with_name(OPS_SNAPSHOT)


def _publish(
    con: duckdb.DuckDBPyConnection, target: Path, setup: list[str], selects: dict[str, str]
) -> dict[str, int]:
    """Write each ``schema.table`` of ``selects`` (its SELECT) into a new file, then rename
    it over ``target``: readers see the old file or the new one, never a half-written one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    alias = "snapshot_out"
    counts: dict[str, int] = {}
    for sql in setup:
        con.execute(sql)
    con.execute(f"ATTACH '{tmp}' AS {alias}")
    try:
        for qualified, select in selects.items():
            schema, name = qualified.split(".", 1)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {alias}.{schema}")
            con.execute(f'CREATE OR REPLACE TABLE {alias}.{schema}."{name}" AS {select}')
            counts[qualified] = scalar(con, f'SELECT count(*) FROM {alias}.{schema}."{name}"')
    finally:
        con.execute(f"DETACH {alias}")
    os.replace(tmp, target)
    return counts


def publish_snapshot(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    schemas: tuple[str, ...] = ("oms", "analytics"),
    *,
    key: bytes | None = None,
) -> dict[str, int]:
    """Publish the reporting snapshot the dashboards read: every table and view of
    ``schemas``, materialised so it stands alone, with customers' personal data left out
    (:func:`pipelines.lib.privacy.reporting_selects`). Returns rows per table.

    Orders not keyed yet get their keyed hashes first (``key``, by default the platform's:
    :func:`pipelines.lib.privacy.pii_key`). The ops workspace's snapshot
    (:func:`publish_ops_snapshot`) is published beside it.
    """
    if key is None:
        key = pii_key(get_settings().data_dir)
    assign_privacy_keys(con, key)
    columns = con.execute(
        "SELECT table_schema || '.' || table_name, "
        "list((column_name, data_type) ORDER BY ordinal_position) "
        "FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema IN "
        f"({', '.join('?' for _ in schemas)}) GROUP BY 1 ORDER BY 1",
        list(schemas),
    ).fetchall()
    setup, selects = reporting_selects({q: [tuple(c) for c in cols] for q, cols in columns})
    counts = _publish(con, target, setup, selects)
    publish_ops_snapshot(con, ops_snapshot_path(target))
    return counts


def publish_ops_snapshot(con: duckdb.DuckDBPyConnection, target: Path) -> dict[str, int]:
    """Publish the ops workspace's snapshot: full customer details, of the orders it works on
    only (:func:`pipelines.lib.privacy.ops_selects`)."""
    setup, selects = ops_selects()
    return _publish(con, target, setup, selects)
