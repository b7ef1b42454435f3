"""Whether the marts and the published snapshots already reflect the warehouse.

An analytics refresh (dbt build, then the snapshots) reads the raw, oms and quality tables,
the dbt project, the reference data and the platform's code. Their fingerprint is taken
before a full build and recorded in ``oms.analytics_builds`` when dbt succeeds; the snapshot
step marks that build published only if the fingerprint is still the same after it
published (nothing changed in between), with the identity of the files it wrote. A later
refresh that finds the fingerprint of the last publish, and those very files in place, has
nothing to do. So re-running a batch with no new input, or the nightly refresh after a batch
that published, costs a few seconds of hashing instead of a full build (dbt and both
snapshots: about 110 s at a million order lines). A batch at a later clock is not such a
case: it moves the positions' ``as_of``, the clock the marts age open backorders and orders
by, so they are built again.

The tables are hashed by content (DuckDB's ``hash`` of every row, summed), not by a
modification counter, which DuckDB does not keep: a change nobody announced is still seen.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from importlib import metadata
from pathlib import Path

import duckdb

from pipelines.lib.schema import ANALYTICS_BUILDS

#: The schemas dbt's sources and the snapshots read (``analytics`` is what they write).
SOURCE_SCHEMAS = ("raw", "oms", "quality")
#: Files whose change changes what a build makes: the dbt project, the platform's code and
#: the locked library versions.
CODE_GLOBS = (
    ("dbt_project", ("models/**/*", "macros/**/*", "tests/**/*", "seeds/**/*", "*.yml")),
    ("pipelines", ("**/*.py",)),
    (".", ("uv.lock",)),
)
#: Libraries whose version changes what a build or a publish makes.
LIBRARIES = ("duckdb", "dbt-core", "dbt-duckdb", "polars")


def _tables_digest(con: duckdb.DuckDBPyConnection) -> str:
    names = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() "
        f"AND table_schema IN {SOURCE_SCHEMAS} ORDER BY ALL"
    ).fetchall()
    # A sum, not a xor: two identical rows changed into two other identical rows still count.
    parts = [
        f"SELECT '{schema}.{name}' AS \"table\", count(*) AS n, "
        f'coalesce(sum(hash(t)::HUGEINT), 0) AS h FROM "{schema}"."{name}" t'
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
    for library in LIBRARIES:
        try:
            digest.update(f"{library}=={metadata.version(library)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{library} missing".encode())
    return digest.hexdigest()


def fingerprint(con: duckdb.DuckDBPyConnection, *, root: Path, reference_dir: Path) -> str:
    """What a refresh would read, as one sha256: the source tables' rows and the files."""
    both = _tables_digest(con) + _files_digest(root, reference_dir)
    return hashlib.sha256(both.encode()).hexdigest()


def _identity(snapshots: list[Path]) -> str:
    """The snapshot files as they are now: path, size and modification time of each."""
    found = []
    for path in snapshots:
        stat = path.stat() if path.exists() else None
        found.append(
            [str(path), stat.st_size if stat else None, stat.st_mtime_ns if stat else None]
        )
    return json.dumps(found)


def up_to_date(con: duckdb.DuckDBPyConnection, current: str, snapshots: list[Path]) -> bool:
    """True when the last publish was built from exactly ``current`` and its snapshot files
    are still the ones it wrote."""
    row = con.execute(
        f"SELECT fingerprint, snapshots FROM {ANALYTICS_BUILDS.qualified} "
        "WHERE published_at IS NOT NULL ORDER BY published_at DESC LIMIT 1"
    ).fetchone()
    return (
        row is not None
        and row[0] == current
        and all(p.exists() for p in snapshots)
        and row[1] == _identity(snapshots)
    )


def record_built(
    con: duckdb.DuckDBPyConnection, current: str, *, run_id: str, now: datetime
) -> None:
    """A full dbt build of ``run_id`` succeeded, from what ``current`` fingerprints."""
    con.execute(
        f"INSERT OR REPLACE INTO {ANALYTICS_BUILDS.qualified} "
        "(run_id, fingerprint, built_at) VALUES (?, ?, ?)",
        [run_id, current, now],
    )


def record_published(
    con: duckdb.DuckDBPyConnection, current: str, snapshots: list[Path], *, now: datetime
) -> bool:
    """The snapshots were just published while the warehouse fingerprints ``current``: mark
    the latest build published if it was built from that very state (else nothing changes,
    and the next refresh builds again). Returns whether it was marked."""
    row = con.execute(
        f"SELECT run_id, fingerprint FROM {ANALYTICS_BUILDS.qualified} "
        "ORDER BY built_at DESC LIMIT 1"
    ).fetchone()
    if row is None or row[1] != current:
        return False
    con.execute(
        f"UPDATE {ANALYTICS_BUILDS.qualified} SET published_at = ?, snapshots = ? WHERE run_id = ?",
        [now, _identity(snapshots), row[0]],
    )
    return True
