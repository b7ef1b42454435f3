"""The audit trail: append-only, chained, and whole under concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.lib import audit


def _write(data_dir: str, who: str, n: int) -> None:
    for i in range(n):
        audit.record(Path(data_dir), who=who, role="ops", app="ops", action="hold_release",
                     target=f"shopify:{i}", detail="note")  # fmt: skip


def test_records_are_chained_and_read_back_newest_first(tmp_path: Path):
    at = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    first = audit.record(tmp_path, who="ana", role="ops", app="ops", action="sign_in", at=at)
    second = audit.record(
        tmp_path,
        who="ana",
        role="ops",
        app="ops",
        action="hold_cancel",
        target="shopify:1050",
        detail="customer asked to cancel",
    )
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["prev"] == audit.GENESIS and second["prev"] == first["hash"]
    assert first["at"] == "2026-11-27T09:30:00+00:00"
    assert audit.read(tmp_path) == [second, first]
    assert audit.read(tmp_path, limit=1) == [second]
    assert audit.verify(tmp_path) == []


def test_a_changed_or_removed_record_breaks_the_chain(tmp_path: Path):
    for who in ("ana", "ben", "cy"):
        audit.record(tmp_path, who=who, role="ops", app="ops", action="sign_in")
    path = audit.audit_path(tmp_path)
    lines = path.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["who"] = "mallory"
    path.write_text("\n".join([lines[0], json.dumps(edited), lines[2]]) + "\n")
    assert audit.verify(tmp_path) == ["record 2 (seq 2): changed after it was written"]
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    problems = audit.verify(tmp_path)
    assert any("does not follow" in p for p in problems)
    assert any("seq 3 after 1" in p for p in problems)


def test_unknown_actions_and_apps_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record(tmp_path, who="x", role=None, app="ops", action="delete_everything")
    with pytest.raises(ValueError, match="unknown app"):
        audit.record(tmp_path, who="x", role=None, app="shell", action="sign_in")
    assert audit.read(tmp_path) == []


def test_writers_in_several_processes_and_threads_never_fork_the_chain(tmp_path: Path):
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_write, args=(str(tmp_path), f"proc{i}", 40)) for i in range(2)
    ]
    threads = [
        threading.Thread(target=_write, args=(str(tmp_path), f"thread{i}", 40)) for i in range(3)
    ]
    for worker in (*processes, *threads):
        worker.start()
    for worker in (*processes, *threads):
        worker.join()
    assert all(p.exitcode == 0 for p in processes)
    records = audit.read(tmp_path)
    assert len(records) == 200
    assert sorted(r["seq"] for r in records) == list(range(1, 201))
    assert audit.verify(tmp_path) == []


def test_a_write_torn_by_a_crash_is_reported_and_the_trail_goes_on(tmp_path: Path):
    audit.record(tmp_path, who="ana", role="ops", app="ops", action="sign_in")
    path = audit.audit_path(tmp_path)
    with path.open("ab") as fh:  # a crash mid-append: half a record, no newline
        fh.write(b'{"seq": 2, "at": "2026-11-2')
    assert [r["who"] for r in audit.read(tmp_path)] == ["ana"]
    after = audit.record(tmp_path, who="ben", role="ops", app="ops", action="sign_in")
    assert after["seq"] == 2 and after["prev"] == audit.read(tmp_path)[1]["hash"]
    assert [r["who"] for r in audit.read(tmp_path)] == ["ben", "ana"]
    assert audit.verify(tmp_path) == ["line 2: not a whole record (torn by a crash?)"]


def test_long_or_unencodable_text_is_clipped_not_refused(tmp_path: Path):
    entry = audit.record(
        tmp_path,
        who="x" * 1_000_000,
        role=None,
        app="cli",
        action="feeds_resend",
        detail="bad \udcff byte from an argument",
    )
    assert len(entry["who"]) == audit.LIMITS["who"] and entry["who"].endswith("…")
    assert "\\udcff" in entry["detail"]
    assert audit.audit_path(tmp_path).stat().st_size < 5_000
    assert audit.verify(tmp_path) == []
