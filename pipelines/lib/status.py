"""What state the platform is in: orders by status and files received."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.lib.schema import ORDER_STATUSES
from pipelines.lib.warehouse import connect, scalar


def _counts(
    source: str, by_status: dict[str, int], lines: int, files: dict[str, int]
) -> dict[str, object]:
    return {
        "source": source,
        "orders": sum(by_status.values()),
        "lines": lines,
        "orders_by_status": {s: by_status.get(s, 0) for s in ORDER_STATUSES},
        "files": files,
    }


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
    return _counts(source, by_status, scalar(con, "SELECT count(*) FROM oms.order_lines"), files)


def order_status_counts(warehouse: Path, reporting: Path) -> dict[str, object]:
    """Counts from the live warehouse, or from the snapshot while a batch holds the lock."""
    for path, source in ((warehouse, "warehouse"), (reporting, "reporting snapshot")):
        if not path.exists():
            continue
        try:
            with connect(path, read_only=True) as con:
                return _read(con, f"{source} {path}")
        except duckdb.IOException:
            continue  # a batch is writing: fall back to the published snapshot
        except duckdb.CatalogException:
            return _counts(f"{source} {path} (no orders yet)", {}, 0, {})
    return _counts("none", {}, 0, {})
