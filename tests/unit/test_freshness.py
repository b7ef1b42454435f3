"""The analytics refresh skips when nothing it reads changed since the last publish."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.lib.freshness import fingerprint, record_built, record_published, up_to_date
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


def _published(con, reference: Path, snapshots: list[Path], run_id: str, at: datetime) -> str:
    """A full build from the current state, then its publish (as the two steps do)."""
    current = _print(con, reference)
    record_built(con, current, run_id=run_id, now=at)
    assert record_published(con, _print(con, reference), snapshots, now=at)
    return current


def test_a_refresh_after_a_publish_with_nothing_new_has_nothing_to_do(platform):
    con, reference, snapshots = platform
    first = _print(con, reference)
    assert not up_to_date(con, first, snapshots)  # never built nor published
    record_built(con, first, run_id="r1", now=T0)
    assert not up_to_date(con, first, snapshots)  # built, not published yet
    assert record_published(con, first, snapshots, now=T0)
    # Recording the build and the publish is not a change of what a build reads.
    assert _print(con, reference) == first
    assert up_to_date(con, first, snapshots)


def test_any_changed_row_reference_file_or_snapshot_file_asks_for_a_build(platform):
    con, reference, snapshots = platform
    first = _published(con, reference, snapshots, "r1", T0)

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
    assert up_to_date(con, first, snapshots)

    # Another warehouse published over the same snapshot path, or someone restored an old
    # file: not the files this warehouse published, so it publishes again.
    snapshots[0].write_bytes(b"someone else's snapshot")
    assert not up_to_date(con, first, snapshots)
    first = _published(con, reference, snapshots, "r2", T0.replace(hour=10))
    snapshots[1].unlink()  # someone removed the ops snapshot
    assert not up_to_date(con, first, snapshots)


def test_two_identical_rows_changed_into_two_other_identical_rows_are_a_change(platform):
    con, reference, _ = platform
    insert = (
        'INSERT INTO oms.order_events (event_id, order_key, event, "at", run_id) '
        "VALUES ('e2', 'shopify:2', 'received', ?, 'r0')"
    )
    con.execute(insert, [T0])
    con.execute(insert, [T0])  # order_events has no key: the same row twice
    before = _print(con, reference)
    con.execute("UPDATE oms.order_events SET detail = 'x' WHERE event_id = 'e2'")
    assert _print(con, reference) != before


def test_a_publish_counts_only_for_a_full_build_of_the_state_it_published(platform):
    con, reference, snapshots = platform
    built_from = _print(con, reference)
    record_built(con, built_from, run_id="r1", now=T0)
    # Something wrote the warehouse between the build and the publish (or the snapshot step
    # ran alone): the marts do not show that state, so the publish is not marked.
    con.execute("UPDATE oms.order_events SET detail = 'later' WHERE event_id = 'e1'")
    now = _print(con, reference)
    assert not record_published(con, now, snapshots, now=T0)
    assert not up_to_date(con, now, snapshots)
    assert not up_to_date(con, built_from, snapshots)


def test_the_latest_publish_counts(platform):
    con, reference, snapshots = platform
    record_built(con, "old", run_id="r0", now=T0)
    assert record_published(con, "old", snapshots, now=T0)
    current = _published(con, reference, snapshots, "r1", T0.replace(hour=10))
    assert up_to_date(con, current, snapshots)
    record_built(con, "newer", run_id="r2", now=T0.replace(hour=11))
    assert record_published(con, "newer", snapshots, now=T0.replace(hour=11))
    assert not up_to_date(con, current, snapshots)
