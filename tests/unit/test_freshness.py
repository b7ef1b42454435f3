"""The analytics refresh skips when nothing it reads changed since the last publish."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.lib.freshness import fingerprint, record_published, up_to_date
from pipelines.lib.warehouse import connect, migrate
from pipelines.project import REPO_ROOT

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture
def platform(tmp_path: Path):
    reference = tmp_path / "reference"
    shutil.copytree(REPO_ROOT / "data" / "reference", reference)
    snapshots = [tmp_path / "reporting.duckdb", tmp_path / "ops.duckdb"]
    for path in snapshots:
        path.write_bytes(b"published")
    with connect(tmp_path / "oms.duckdb") as con:
        migrate(con)
        con.execute(
            'INSERT INTO oms.order_events (event_id, order_key, event, "at", run_id) '
            "VALUES ('e1', 'shopify:1', 'received', ?, 'r0')",
            [T0],
        )
        yield con, reference, snapshots


def _print(con, reference: Path) -> str:
    return fingerprint(con, root=REPO_ROOT, reference_dir=reference)


def test_a_refresh_after_a_publish_with_nothing_new_has_nothing_to_do(platform):
    con, reference, snapshots = platform
    first = _print(con, reference)
    assert not up_to_date(con, first, snapshots)  # never published
    record_published(con, first, run_id="r1", now=T0)
    # Recording the publish is not a change of what a build reads.
    assert _print(con, reference) == first
    assert up_to_date(con, first, snapshots)


def test_any_changed_row_reference_file_or_missing_snapshot_asks_for_a_build(platform):
    con, reference, snapshots = platform
    first = _print(con, reference)
    record_published(con, first, run_id="r1", now=T0)

    con.execute("UPDATE oms.order_events SET detail = 'corrected' WHERE event_id = 'e1'")
    changed_row = _print(con, reference)
    assert changed_row != first and not up_to_date(con, changed_row, snapshots)
    con.execute("UPDATE oms.order_events SET detail = NULL WHERE event_id = 'e1'")
    assert _print(con, reference) == first  # the same rows again: the same fingerprint

    rates = reference / "fx_rates.csv"
    rates.write_text(rates.read_text() + "\n")
    assert _print(con, reference) != first
    rates.write_text(rates.read_text()[:-1])
    assert _print(con, reference) == first

    snapshots[1].unlink()  # someone removed the ops snapshot: publish again
    assert not up_to_date(con, first, snapshots)


def test_the_latest_publish_counts(platform):
    con, reference, snapshots = platform
    record_published(con, "old", run_id="r1", now=T0)
    current = _print(con, reference)
    record_published(con, current, run_id="r2", now=T0.replace(hour=10))
    assert up_to_date(con, current, snapshots)
    record_published(con, "newer", run_id="r3", now=T0.replace(hour=11))
    assert not up_to_date(con, current, snapshots)
