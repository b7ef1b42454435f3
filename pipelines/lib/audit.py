"""The audit trail: every ops decision and sign-in, who made it, when, from which app.

Append-only, in one JSON Lines file (``data/audit/audit.jsonl``), written by the apps and the
``oms`` commands alike; the dashboards never write the warehouse, and the trail must hold
even while a batch holds the warehouse's lock. Each record carries the SHA-256 of the one
before it (``prev``) and its own (``hash``, over its fields in a fixed order), so a record
edited, removed or moved in the middle breaks the chain from there on: :func:`verify` says
where. Dropping the newest records, or rewriting the whole file with new hashes, leaves a
chain that verifies: the chain shows tampering by hand, it does not prevent it (keep the file
where the apps' users cannot write, and its newest hash in the backups).
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


def _parse(line: bytes) -> dict | None:
    """A record, or None for a line that is not one (torn by a crash mid-write)."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) and "hash" in value and "seq" in value else None


def _last(fh) -> dict | None:
    """The last whole record of an open file, read from the end (a torn last line, left by
    a crash mid-write, is passed over)."""
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    block, data = 4096, b""
    while size > 0:
        step = min(block, size)
        size -= step
        fh.seek(size)
        data = fh.read(step) + data
        lines = data.split(b"\n")
        # The first piece may be cut by the block boundary: judge it only at the file start.
        whole = lines if size == 0 else lines[1:]
        for line in reversed(whole):
            if line.strip() and (record := _parse(line)) is not None:
                return record
    return None


#: Longest text kept per field (anyone may type a name at the sign-in form).
LIMITS = {"who": 200, "target": 500, "detail": 2000}


def _clip(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ends_with_newline(fh) -> bool:
    fh.seek(-1, os.SEEK_END)
    ends = fh.read(1) == b"\n"
    fh.seek(0, os.SEEK_END)
    return ends


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
                "who": _clip(who, LIMITS["who"]),
                "role": role,
                "app": app,
                "action": action,
                "target": _clip(target, LIMITS["target"]),
                "detail": _clip(detail, LIMITS["detail"]),
                "prev": last["hash"] if last else GENESIS,
            }
            entry["hash"] = _digest(entry)
            fh.seek(0, os.SEEK_END)
            if fh.tell() and not _ends_with_newline(fh):
                fh.write(b"\n")  # end a line torn by a crash, so this record is whole
            fh.write((json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii"))
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    return entry


def _lines(data_dir: Path) -> list[bytes]:
    path = audit_path(data_dir)
    if not path.exists():
        return []
    with path.open("rb") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH)  # never half of a record being appended
        try:
            return [line for line in fh.read().split(b"\n") if line.strip()]
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read(data_dir: Path, limit: int | None = None) -> list[dict]:
    """Records, newest first (all of them, or the newest ``limit``); a line that is not a
    record (torn by a crash) is left out here and reported by :func:`verify`."""
    records = [r for r in map(_parse, _lines(data_dir)) if r is not None]
    records.reverse()
    return records[:limit] if limit is not None else records


def verify(data_dir: Path) -> list[str]:
    """Where the chain is broken (empty when every record is as written)."""
    problems = []
    previous, seq = GENESIS, 0
    lines = _lines(data_dir)
    problems += [
        f"line {n}: not a whole record (torn by a crash?)"
        for n, line in enumerate(lines, start=1)
        if _parse(line) is None
    ]
    for n, entry in enumerate(reversed(read(data_dir)), start=1):
        if entry.get("prev") != previous:
            problems.append(f"record {n} (seq {entry.get('seq')}): does not follow the one before")
        if entry.get("hash") != _digest(entry):
            problems.append(f"record {n} (seq {entry.get('seq')}): changed after it was written")
        if entry.get("seq") != seq + 1:
            problems.append(f"record {n}: seq {entry.get('seq')} after {seq}")
        previous, seq = entry.get("hash"), entry.get("seq") or seq
    return problems
