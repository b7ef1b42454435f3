"""Whether the marts and the published snapshots already reflect the warehouse.

An analytics refresh (dbt build, then the snapshots) reads the raw, oms and quality tables,
the dbt project, the reference data and the platform's code. Their fingerprint is recorded
in ``oms.analytics_builds`` once the snapshots are published; a later refresh that finds the
same fingerprint, and both snapshot files in place, has nothing to do. So a batch with no
new input, or the nightly refresh after a quiet evening, costs a few seconds of hashing
instead of a full build (about a minute at a million order lines).

The tables are hashed by content (DuckDB's ``hash`` of every row, combined), not by a
modification counter, which DuckDB does not keep: a change nobody announced is still seen.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.lib.schema import ANALYTICS_BUILDS

#: The schemas dbt's sources and the snapshots read (``analytics`` is what they write).
SOURCE_SCHEMAS = ("raw", "oms", "quality")
#: Files whose change changes what a build makes: the dbt project and the platform's code.
CODE_GLOBS = (
    ("dbt_project", ("models/**/*", "macros/**/*", "tests/**/*", "seeds/**/*", "*.yml")),
    ("pipelines", ("**/*.py",)),
)


def _tables_digest(con: duckdb.DuckDBPyConnection) -> str:
    names = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() "
        f"AND table_schema IN {SOURCE_SCHEMAS} ORDER BY ALL"
    ).fetchall()
    parts = [
        f"SELECT '{schema}.{name}' AS \"table\", count(*) AS n, "
        f'coalesce(bit_xor(hash(t)), 0) AS h FROM "{schema}"."{name}" t'
        for schema, name in names
        if f"{schema}.{name}" != ANALYTICS_BUILDS.qualified
    ]
    rows = con.execute(" UNION ALL ".join(parts) + " ORDER BY 1").fetchall() if parts else []
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _files_digest(root: Path, reference_dir: Path) -> str:
    digest = hashlib.sha256()
    found: list[Path] = [p for p in reference_dir.rglob("*") if p.is_file()]
    for folder, patterns in CODE_GLOBS:
        for pattern in patterns:
            found.extend(p for p in (root / folder).glob(pattern) if p.is_file())
    for path in sorted(set(found)):
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(con: duckdb.DuckDBPyConnection, *, root: Path, reference_dir: Path) -> str:
    """What a refresh would read, as one sha256: the source tables' rows and the files."""
    both = _tables_digest(con) + _files_digest(root, reference_dir)
    return hashlib.sha256(both.encode()).hexdigest()


def up_to_date(con: duckdb.DuckDBPyConnection, current: str, snapshots: list[Path]) -> bool:
    """True when the last published refresh read exactly ``current`` and its snapshot files
    are still there."""
    row = con.execute(
        f"SELECT fingerprint FROM {ANALYTICS_BUILDS.qualified} ORDER BY published_at DESC LIMIT 1"
    ).fetchone()
    return row is not None and row[0] == current and all(p.exists() for p in snapshots)


def record_published(
    con: duckdb.DuckDBPyConnection, current: str, *, run_id: str, now: datetime
) -> None:
    """Remember that the refresh of ``run_id`` built from ``current`` and published."""
    con.execute(
        f"INSERT OR REPLACE INTO {ANALYTICS_BUILDS.qualified} VALUES (?, ?, ?)",
        [run_id, current, now],
    )
