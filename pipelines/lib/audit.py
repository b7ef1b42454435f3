"""The audit trail: every ops decision and sign-in, who made it, when, from which app.

Append-only, in one JSON Lines file (``data/audit/audit.jsonl``), written by the apps and the
``oms`` commands alike; the dashboards never write the warehouse, and the trail must hold
even while a batch holds the warehouse's lock. Each record carries the SHA-256 of the one
before it (``prev``) and its own (``hash``, over its fields in a fixed order), so an edited,
removed or re-ordered record breaks the chain from there on: :func:`verify` says where.
Appends take an exclusive lock on the file (``fcntl.flock``), so two apps, two sessions or a
command writing at once never interleave or fork the chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

#: Under the data folder.
AUDIT_FILE = Path("audit") / "audit.jsonl"
#: What can be recorded (the ops pages, the sign-in and the commands that change data).
ACTIONS = (
    "sign_in",
    "sign_in_failed",
    "locked_out",
    "sign_out",
    "access_denied",
    "hold_release",
    "hold_cancel",
    "hold_correct",
    "upload_accepted",
    "phone_order",
    "feeds_resend",
    "feeds_stock",
    "forget_customer",
)
APPS = ("analytics", "ops", "tracking", "cli")
#: The fields a record's hash covers, in this order.
FIELDS = ("seq", "at", "who", "role", "app", "action", "target", "detail", "prev")
GENESIS = "0" * 64


def audit_path(data_dir: Path) -> Path:
    return Path(data_dir) / AUDIT_FILE


def _digest(record: dict) -> str:
    body = json.dumps([record.get(k) for k in FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _last(fh) -> dict | None:
    """The last complete record of an open file (read from the end)."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    block, data = 4096, b""
    while size > 0:
        step = min(block, size)
        size -= step
        fh.seek(size)
        data = fh.read(step) + data
        lines = [line for line in data.split(b"\n") if line.strip()]
        if len(lines) > 1 or size == 0:
            return json.loads(lines[-1]) if lines else None
    return None


def record(
    data_dir: Path,
    *,
    who: str,
    role: str | None,
    app: str,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> dict:
    """Append one record and return it (with its seq and hash)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; one of {', '.join(ACTIONS)}")
    if app not in APPS:
        raise ValueError(f"unknown app {app!r}; one of {', '.join(APPS)}")
    path = audit_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            last = _last(fh)
            entry = {
                "seq": (last["seq"] + 1) if last else 1,
                "at": (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
                "who": who,
                "role": role,
                "app": app,
                "action": action,
                "target": target,
                "detail": detail,
                "prev": last["hash"] if last else GENESIS,
            }
            entry["hash"] = _digest(entry)
            fh.seek(0, os.SEEK_END)
            fh.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return entry


def read(data_dir: Path, limit: int | None = None) -> list[dict]:
    """Records, newest first (all of them, or the newest ``limit``)."""
    path = audit_path(data_dir)
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    records.reverse()
    return records[:limit] if limit is not None else records


def verify(data_dir: Path) -> list[str]:
    """Where the chain is broken (empty when every record is as written)."""
    problems = []
    previous, seq = GENESIS, 0
    for n, entry in enumerate(reversed(read(data_dir)), start=1):
        if entry.get("prev") != previous:
            problems.append(f"record {n} (seq {entry.get('seq')}): does not follow the one before")
        if entry.get("hash") != _digest(entry):
            problems.append(f"record {n} (seq {entry.get('seq')}): changed after it was written")
        if entry.get("seq") != seq + 1:
            problems.append(f"record {n}: seq {entry.get('seq')} after {seq}")
        previous, seq = entry.get("hash"), entry.get("seq") or seq
    return problems
