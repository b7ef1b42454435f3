"""Ops decisions on held orders: release, cancel, correct (docs/decisions.md).

Decisions arrive as CSV files in the inbox (written by hand, or later by the ops page) and
are applied by the next batch, before validation, in file order and row order. Every
decision is kept in ``oms.hold_decisions``: applied, or rejected with the reason (an unknown
order, an order with no open hold, a field that cannot be corrected...). An applied
decision is an ``order_events`` row saying who decided, when and why.

A correction changes the order (so validation judges it again in the same batch) and
stands: when a later export brings back the value it replaced, the correction is applied
again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lib.channels import UnreadableFile
from pipelines.lib.intake import (
    DUPLICATE_REASON,
    FileOutcome,
    already_processed,
    archive_file,
    file_layout,
    file_sha256,
    inbox_files,
    record_file,
    record_stored_path,
    reject_file,
)
from pipelines.lib.quality.prepare import VALIDATABLE
from pipelines.lib.schema import (
    DECISION_ACTIONS,
    HOLD_DECISIONS,
    HOLD_REASONS,
    ORDER_EVENTS,
    ORDER_HOLDS,
    ORDER_LINES,
    ORDERS,
    PAYMENT_STATUSES,
    SERVICE_LEVELS,
)
from pipelines.lib.warehouse import scalar, transaction

LAYOUT = "hold decisions"
REQUIRED_COLUMNS = ("order_key", "action", "decided_by")
OPTIONAL_COLUMNS = ("decision_id", "reason", "field", "line_no", "value", "note", "decided_at")
#: Order fields ops may correct, and line fields (which need line_no).
ORDER_FIELDS = (
    "ship_name",
    "ship_company",
    "ship_address1",
    "ship_address2",
    "ship_city",
    "ship_region",
    "ship_postal_code",
    "ship_country",
    "email",
    "phone",
    "currency",
    "payment_status",
    "service_level",
)
LINE_FIELDS = ("sku", "quantity")
#: Fields a blank value may clear.
CLEARABLE = ("ship_company", "ship_address2", "ship_region", "email", "phone")


class DecisionRejected(ValueError):
    """This decision cannot be applied; the message says why."""


@dataclass
class DecisionResult:
    files: list[FileOutcome] = field(default_factory=list)
    applied: int = 0
    rejected: int = 0
    reapplied: int = 0
    by_action: dict[str, int] = field(default_factory=dict)


def read_decisions(path: Path) -> pl.DataFrame:
    """The decisions in a file, all columns as text; raises UnreadableFile with a reason."""
    try:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"not a readable UTF-8 CSV decisions file: {exc}") from None
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise UnreadableFile(f"decisions file lacks column(s) {', '.join(missing)}", line=1)
    unknown = sorted(set(frame.columns) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS))
    if unknown:
        raise UnreadableFile(
            f"decisions file has unknown column(s) {', '.join(unknown)}; expected "
            f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}",
            line=1,
        )
    return frame.with_columns(
        pl.lit(None, pl.String).alias(c) for c in OPTIONAL_COLUMNS if c not in frame.columns
    ).with_columns(pl.all().str.strip_chars().replace("", None))


def _order(con: duckdb.DuckDBPyConnection, order_key: str) -> dict | None:
    cursor = con.execute(
        f"SELECT status, {', '.join(ORDER_FIELDS)} FROM {ORDERS.qualified} WHERE order_key = ?",
        [order_key],
    )
    row = cursor.fetchall()
    if not row:
        return None
    names = [d[0] for d in cursor.description]
    return dict(zip(names, row[0], strict=True))


def _event(
    con: duckdb.DuckDBPyConnection,
    order_key: str,
    event: str,
    detail: str,
    at: datetime,
    run_id: str,
    decision_id: str,
) -> None:
    con.execute(
        f"""
        INSERT INTO {ORDER_EVENTS.qualified} BY NAME
        SELECT md5(? || '|' || ? || '|' || ?) AS event_id, ? AS order_key, ? AS event,
               ? AS "at", ? AS detail, ? AS run_id
        """,
        [order_key, event, decision_id, order_key, event, at, detail, run_id],
    )


def _by(row: dict) -> str:
    note = f": {row['note']}" if row["note"] else ""
    return f"by {row['decided_by']}{note}"


def _release(con, row: dict, order: dict, run_id: str, now: datetime) -> str:
    reason = row["reason"]
    if reason is not None and reason not in HOLD_REASONS:
        raise DecisionRejected(f'reason "{reason}" is not one of {", ".join(HOLD_REASONS)}')
    picked = "AND reason = ?" if reason else ""
    released = con.execute(
        f"""
        UPDATE {ORDER_HOLDS.qualified} SET resolved_at = ?, resolution = 'released',
            resolved_by = ?, resolution_note = ?, resolved_run_id = ?
        WHERE order_key = ? AND resolved_at IS NULL AND severity = 'hold' {picked}
        RETURNING reason
        """,
        [row["decided_at"], row["decided_by"], row["note"], run_id, row["order_key"]]
        + ([reason] if reason else []),
    ).fetchall()
    if not released:
        what = f"open {reason} hold" if reason else "open hold"
        raise DecisionRejected(f"order has no {what} (status {order['status']})")
    reasons = ", ".join(sorted({r[0] for r in released}))
    detail = f"hold released ({reasons}) {_by(row)}"
    _event(con, row["order_key"], "hold_released", detail, row["decided_at"], run_id, row["id"])
    still_held = scalar(
        con,
        f"SELECT count(*) FROM {ORDER_HOLDS.qualified} "
        "WHERE order_key = ? AND resolved_at IS NULL AND severity = 'hold'",
        [row["order_key"]],
    )
    if not still_held and order["status"] == "on_hold":
        con.execute(
            f"UPDATE {ORDERS.qualified} SET status = 'ready' WHERE order_key = ?",
            [row["order_key"]],
        )
        _event(
            con,
            row["order_key"],
            "ready",
            f"released from hold {_by(row)}",
            row["decided_at"],
            run_id,
            row["id"],
        )
        return f"released {reasons}; order is ready"
    return f"released {reasons}; order still held for other reasons"


def _cancel(con, row: dict, order: dict, run_id: str, now: datetime) -> str:
    con.execute(
        f"UPDATE {ORDERS.qualified} SET status = 'cancelled', updated_at = ? WHERE order_key = ?",
        [now, row["order_key"]],
    )
    con.execute(
        f"""
        UPDATE {ORDER_HOLDS.qualified} SET resolved_at = ?, resolution = 'cancelled',
            resolved_by = ?, resolution_note = ?, resolved_run_id = ?
        WHERE order_key = ? AND resolved_at IS NULL
        """,
        [row["decided_at"], row["decided_by"], row["note"], run_id, row["order_key"]],
    )
    _event(
        con,
        row["order_key"],
        "cancelled",
        f"cancelled {_by(row)}",
        row["decided_at"],
        run_id,
        row["id"],
    )
    return "cancelled"


def _corrected_value(name: str, value: str | None) -> object:
    if value is None:
        if name in CLEARABLE:
            return None
        raise DecisionRejected(f"{name} cannot be blank")
    if name == "quantity":
        if not value.isdigit() or int(value) < 1:
            raise DecisionRejected(f'quantity "{value}" is not a whole number of at least 1')
        return int(value)
    if name == "ship_country":
        if len(value) != 2 or not value.isalpha():
            raise DecisionRejected(f'ship_country "{value}" is not a two-letter ISO code')
        return value.upper()
    if name == "currency":
        if len(value) != 3 or not value.isalpha():
            raise DecisionRejected(f'currency "{value}" is not a three-letter ISO code')
        return value.upper()
    if name == "payment_status" and value not in PAYMENT_STATUSES:
        raise DecisionRejected(f'payment_status "{value}" is not one of {PAYMENT_STATUSES}')
    if name == "service_level" and value not in SERVICE_LEVELS:
        raise DecisionRejected(f'service_level "{value}" is not one of {SERVICE_LEVELS}')
    return value


def _correct(con, row: dict, order: dict, run_id: str, now: datetime) -> str:
    name = (row["field"] or "").lower()
    if name not in ORDER_FIELDS + LINE_FIELDS:
        raise DecisionRejected(
            f'field "{row["field"] or ""}" cannot be corrected; correctable: '
            f"{', '.join(ORDER_FIELDS + LINE_FIELDS)}"
        )
    value = _corrected_value(name, row["value"])
    key = row["order_key"]
    if name in LINE_FIELDS:
        if row["line_no"] is None or not row["line_no"].isdigit():
            raise DecisionRejected(f"line_no is needed to correct {name}")
        line_no = int(row["line_no"])
        found = con.execute(
            f"SELECT {name} FROM {ORDER_LINES.qualified} WHERE order_key = ? AND line_no = ?",
            [key, line_no],
        ).fetchall()
        if not found:
            raise DecisionRejected(f"order has no line {line_no}")
        previous = found[0][0]
        # A corrected quantity re-prices the line at its unit price; the order's totals
        # stay as the channel charged them (the totals rule says if they disagree).
        sets, params = f"{name} = ?", [value]
        if name == "quantity":
            sets += ", line_total = ? * unit_price - coalesce(line_discount, 0)"
            params.append(value)
        con.execute(
            f"UPDATE {ORDER_LINES.qualified} SET {sets} WHERE order_key = ? AND line_no = ?",
            [*params, key, line_no],
        )
        where = f"line {line_no} {name}"
    else:
        previous = order[name]
        con.execute(f"UPDATE {ORDERS.qualified} SET {name} = ? WHERE order_key = ?", [value, key])
        where = name
    con.execute(f"UPDATE {ORDERS.qualified} SET updated_at = ? WHERE order_key = ?", [now, key])
    row["previous_value"] = None if previous is None else str(previous)
    detail = f'{where} corrected from "{previous or ""}" to "{value or ""}" {_by(row)}'
    _event(con, key, "corrected", detail, row["decided_at"], run_id, row["id"])
    return f"{where} corrected; the order is validated again"


ACTIONS = {"release": _release, "cancel": _cancel, "correct": _correct}


def _decided_at(text: str | None, now: datetime) -> datetime:
    if text is None:
        return now
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DecisionRejected(f'decided_at "{text}" is not an ISO 8601 time') from None
    if parsed.tzinfo is None:
        raise DecisionRejected(f'decided_at "{text}" has no UTC offset')
    return parsed


def apply_decision(
    con: duckdb.DuckDBPyConnection, row: dict, run_id: str, now: datetime
) -> tuple[str, str]:
    """Apply one decision row; returns (status, outcome). Never raises for a bad decision."""
    try:
        for column in REQUIRED_COLUMNS:
            if row[column] is None:
                raise DecisionRejected(f"{column} is blank")
        action = row["action"].lower()
        if action not in DECISION_ACTIONS:
            raise DecisionRejected(f'unknown action "{row["action"]}" (release, cancel or correct)')
        row["action"] = action
        row["decided_at"] = _decided_at(row["decided_at_text"], now)
        order = _order(con, row["order_key"])
        if order is None:
            raise DecisionRejected("no such order")
        if order["status"] == "cancelled":
            raise DecisionRejected("order is already cancelled")
        if action in ("cancel", "correct") and order["status"] not in VALIDATABLE:
            raise DecisionRejected(
                f"order is already {order['status']}: only orders not yet allocated "
                f"({', '.join(VALIDATABLE)}) can be changed by a {action} decision"
            )
        return "applied", ACTIONS[action](con, row, order, run_id, now)
    except DecisionRejected as exc:
        return "rejected", str(exc)


def _store(con: duckdb.DuckDBPyConnection, row: dict, status: str, outcome: str, run_id, now):
    decided_at = row.get("decided_at")
    con.execute(
        f"""
        INSERT INTO {HOLD_DECISIONS.qualified} (decision_id, order_key, action, reason, field,
            line_no, value, previous_value, note, decided_by, decided_at, status, outcome,
            applied_at, source_file, source_row, run_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT DO NOTHING
        """,
        [
            row["id"],
            row["order_key"] or "",
            row["action"] or "",
            row["reason"],
            row["field"],
            row["line_no_int"],
            row["value"],
            row.get("previous_value"),
            row["note"],
            row["decided_by"] or "",
            decided_at if isinstance(decided_at, datetime) else now,
            status,
            outcome,
            now,
            row["source_file"],
            row["source_row"],
            run_id,
        ],
    )


def apply_decisions_file(
    con: duckdb.DuckDBPyConnection,
    frame: pl.DataFrame,
    *,
    file_id: str,
    source_file: str,
    run_id: str,
    now: datetime,
    result: DecisionResult,
) -> None:
    """Apply every decision of one file, in row order (inside the caller's transaction)."""
    for number, raw in enumerate(frame.iter_rows(named=True), start=1):
        row = dict(raw)
        row["id"] = row.pop("decision_id") or f"{file_id[:16]}:{number}"
        row["decided_at_text"] = row.pop("decided_at")
        row["decided_at"] = None
        row["source_file"], row["source_row"] = source_file, number
        text = row["line_no"] or ""
        row["line_no_int"] = int(text) if text.isdigit() else None
        if scalar(
            con,
            f"SELECT count(*) FROM {HOLD_DECISIONS.qualified} WHERE decision_id = ?",
            [row["id"]],
        ):
            continue  # the same decision sent again (its id is already recorded)
        status, outcome = apply_decision(con, row, run_id, now)
        _store(con, row, status, outcome, run_id, now)
        if status == "applied":
            result.applied += 1
            result.by_action[row["action"]] = result.by_action.get(row["action"], 0) + 1
        else:
            result.rejected += 1


def decision_files(inbox: Path) -> list[Path]:
    """Decisions files waiting in the inbox, oldest first."""
    return [path for path in inbox_files(inbox) if file_layout(path) == LAYOUT]


def apply_inbox_decisions(
    con: duckdb.DuckDBPyConnection,
    inbox: Path,
    *,
    run_id: str,
    now: datetime,
) -> tuple[DecisionResult, list]:
    """Apply the decisions files in the inbox, inside the caller's transaction.

    Returns the result and the file moves to make once the transaction has committed (a
    rolled-back batch leaves the files in the inbox for the next run).
    """
    result = DecisionResult()
    moves = []
    for path in decision_files(inbox):
        file_id = file_sha256(path)
        size = path.stat().st_size
        outcome = FileOutcome(name=path.name, file_id=file_id, status="processed", format=LAYOUT)
        if already_processed(con, file_id):
            outcome.status = "duplicate"
            outcome.reason = DUPLICATE_REASON
        else:
            try:
                frame = read_decisions(path)
            except UnreadableFile as exc:
                outcome.status, outcome.reason = "rejected", str(exc)
            else:
                outcome.orders = frame.height
                apply_decisions_file(
                    con,
                    frame,
                    file_id=file_id,
                    source_file=path.name,
                    run_id=run_id,
                    now=now,
                    result=result,
                )
        record_file(con, outcome, size, run_id, now)
        result.files.append(outcome)
        moves.append((path, outcome))
    return result, moves


def move_decision_files(
    con: duckdb.DuckDBPyConnection, moves: list, archive_dir: Path, rejected_dir: Path, run_id, now
) -> None:
    """After the commit: archive applied files, move unreadable ones aside with a reason."""
    for path, outcome in moves:
        if outcome.status == "rejected":
            stored = reject_file(path, rejected_dir, outcome.file_id, outcome.reason)
        else:
            stored = archive_file(path, archive_dir, outcome.file_id, now)
        outcome.stored_path = str(stored)
        with transaction(con):
            record_stored_path(con, outcome, run_id)


def reapply_corrections(con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> int:
    """Put back ops corrections that a later export undid (the old value came back).

    Looks only at orders due for validation (changed since last judged); for each field,
    the latest applied correction counts.
    """
    latest = con.execute(
        f"""
        SELECT d.decision_id, d.order_key, d.field, d.line_no, d.value, d.previous_value,
               d.decided_by
        FROM {HOLD_DECISIONS.qualified} d
        JOIN {ORDERS.qualified} o USING (order_key)
        WHERE d.action = 'correct' AND d.status = 'applied'
          AND o.status IN ({", ".join(f"'{s}'" for s in VALIDATABLE)})
          AND (o.validated_at IS NULL OR o.updated_at > o.validated_at)
        QUALIFY row_number() OVER (
            PARTITION BY d.order_key, d.field, d.line_no ORDER BY d.decided_at DESC,
            d.applied_at DESC) = 1
        """
    ).fetchall()
    count = 0
    for decision_id, key, name, line_no, value, previous, decided_by in latest:
        if name in LINE_FIELDS:
            table, where, params = ORDER_LINES, "order_key = ? AND line_no = ?", [key, line_no]
        else:
            table, where, params = ORDERS, "order_key = ?", [key]
        current = con.execute(f"SELECT {name} FROM {table.qualified} WHERE {where}", params)
        rows = current.fetchall()
        if not rows or (None if rows[0][0] is None else str(rows[0][0])) != previous:
            continue  # the channel sent something else: its newer value stands
        con.execute(f"UPDATE {table.qualified} SET {name} = ? WHERE {where}", [value, *params])
        _event(
            con,
            key,
            "corrected",
            f'{name} set to "{value or ""}" again (correction by {decided_by}; '
            f'the channel sent "{previous or ""}" again)',
            now,
            run_id,
            f"{decision_id}:{run_id}",
        )
        count += 1
    return count
