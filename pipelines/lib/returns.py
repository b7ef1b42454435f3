"""Returns stage: return requests (RMA intake), warehouse inspections, refunds and exchanges.

A return is not a restock and a refund is not automatic: every returned unit is tracked from
the request to the money back (docs/returns.md). Each batch, before validation:

1. **Requests.** Return-request files in the inbox (CSV or JSON, :data:`REQUEST_COLUMNS`) are
   read one at a time, each in its own transaction. A record that names no known order, no
   line of it, or is malformed goes to ``quality.returns_quarantine`` with the reason. A
   record tied to real lines is stored in ``oms.returns``:

   * ``rejected`` with the reason when it asks for more units than were shipped from our
     stock and not already asked for, when it comes after the channel's return window
     (``returns.toml``; counted from delivery, or from shipping while no delivery is known),
     or when its exchange SKU is not in the catalogue;
   * ``authorized`` otherwise, under the request's RMA number (``RMA-000123``, one per order
     and request id, kept when the request grows), addressed to the warehouse that shipped the
     units, with a return label (PDF) written to ``data/outbox/returns/labels/``.

   A record already authorized (same order, request id, SKU and reason) is a repeat: left
   alone; one that was rejected is judged afresh (sent again corrected).
2. **Inspections.** Inspection files from the warehouses split each RMA's units by
   disposition. RESTOCK units go back on hand (a ``return_restock`` movement, so ATP); the
   REFURBISH, DAMAGED and SCRAP units stay in ``oms.return_inspections`` (the returns area,
   never ATP); MISSING units never arrived. A line is ``received`` while units are still
   expected and ``inspected`` once every authorized unit is accounted for. More units than
   authorized, an unknown RMA or SKU, or a RESTOCK into a warehouse with no bin for the SKU
   are quarantined. The order becomes ``partially_returned`` or ``returned`` (every unit
   shipped came back), with a ``return_received`` event for the customer message.
3. **Settlement** of inspected lines, per RMA and resolution: a refund
   (:func:`pipelines.lib.refunds.refund_for`, to the order's payment method) or a store credit
   for the units that arrived, never for MISSING ones, never twice; or, for an exchange, a
   replacement order (channel ``exchange``, zero price, linked to the original) that the
   same batch validates and allocates. Units of an exchange order are refunded on the original
   order's line, which paid for them. What the channel refunded itself counts as refunded. A
   refund the calculator refuses (inconsistent order money) leaves the line ``inspected``
   with the reason, for review. Refunds are exported once to finance, one CSV per payment
   method (``data/outbox/refunds/<date>/``); the payment status becomes
   ``partially_refunded`` or ``refunded``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lib.files import spreadsheet_safe_frame, write_atomically
from pipelines.lib.fulfilment import address
from pipelines.lib.intake import (
    OTHER_STAGE_LAYOUTS,
    FileOutcome,
    file_layout,
    inbox_files,
    take_stage_file,
)
from pipelines.lib.inventory import Catalogue, already_counted, insert_movements
from pipelines.lib.labels import render_labels_pdf
from pipelines.lib.reference import read_reference, read_settings, whole_number_at_least_one
from pipelines.lib.refunds import (
    LineMoney,
    OrderMoney,
    Refund,
    RefundPolicy,
    ReturnedUnits,
    refund_for,
)
from pipelines.lib.schema import (
    DISPOSITIONS,
    ORDER_EVENTS,
    ORDER_LINES,
    ORDERS,
    PICK_TASKS,
    REFUNDS,
    RETURN_INSPECTIONS,
    RETURN_REASONS,
    RETURN_RESOLUTIONS,
    RETURNS,
    RETURNS_QUARANTINE,
    SHIPMENTS,
)
from pipelines.lib.timing import Laps
from pipelines.lib.warehouse import frame, scalar, transaction

CONFIG_FILE = "returns.toml"
DEFAULT_WINDOW_DAYS = 30
DEFAULT_RMA_PREFIX = "RMA"
#: Inbox layouts (pipelines.lib.intake.OTHER_STAGE_LAYOUTS names them by their columns).
REQUESTS_LAYOUT = "return requests"
INSPECTIONS_LAYOUT = "return inspections"
#: Columns of the request layout (CSV header; JSON keys) and of the inspection layout.
REQUEST_COLUMNS = (
    "return_id",
    "order_key",
    "order_number",
    "channel",
    "sku",
    "quantity",
    "reason",
    "resolution",
    "exchange_sku",
    "requested_at",
    "note",
)
INSPECTION_COLUMNS = (
    "rma_number",
    "sku",
    "reason",
    "quantity",
    "disposition",
    "warehouse_id",
    "inspected_at",
    "inspected_by",
    "note",
)
#: Columns a file must have to be read as that layout (intake leaves such files alone).
REQUEST_REQUIRED = OTHER_STAGE_LAYOUTS[REQUESTS_LAYOUT]
INSPECTION_REQUIRED = OTHER_STAGE_LAYOUTS[INSPECTIONS_LAYOUT]
#: Times later than now by more than this are refused (a clock a little ahead is fine).
CLOCK_SKEW = timedelta(minutes=15)
#: Return lines still expecting units; lines whose units are all accounted for.
_EXPECTING = ("authorized", "received")
#: Lines that count against what may still be returned (everything but rejected).
_ACTIVE = ("authorized", "received", "inspected", "completed")
#: Order statuses a return moves to partially_returned / returned.
_RETURNABLE_ORDER = ("shipped", "delivered", "partially_returned", "returned")

#: What each order line shipped from our stock, where from, and when it reached the customer:
#: (order_key, line_no, sku, shipped_quantity, warehouse_id, shipped_at, delivered_at).
#: ``delivered_at`` is the latest delivery of the line's shipments, null until every one of
#: them is delivered.
SHIPPED_LINES_SQL = f"""
    SELECT t.order_key, t.line_no, any_value(t.sku) AS sku,
           sum(t.quantity)::BIGINT AS shipped_quantity,
           arg_max(t.warehouse_id, t.quantity) AS warehouse_id,
           max(s.shipped_at) AS shipped_at,
           CASE WHEN bool_and(s.delivered_at IS NOT NULL) THEN max(s.delivered_at) END
               AS delivered_at
    FROM {PICK_TASKS.qualified} t
    JOIN {SHIPMENTS.qualified} s USING (shipment_id)
    WHERE t.status = 'shipped'
    GROUP BY t.order_key, t.line_no
"""


class UnreadableReturnsFile(ValueError):
    """A returns file that cannot be read at all (it is rejected whole)."""


# --- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReturnPolicy:
    window_days: int = DEFAULT_WINDOW_DAYS
    restocking_fee_percent: Decimal = Decimal("0")


@dataclass(frozen=True)
class ReturnSettings:
    default: ReturnPolicy = field(default_factory=ReturnPolicy)
    channels: dict[str, ReturnPolicy] = field(default_factory=dict)
    rma_prefix: str = DEFAULT_RMA_PREFIX
    labels: bool = True

    def policy(self, channel: str) -> ReturnPolicy:
        return self.channels.get(channel, self.default)


_POLICY_KEYS = {"window_days": None, "restocking_fee_percent": None}
#: Channels a section of returns.toml may name.
POLICY_CHANNELS = ("shopify", "woocommerce", "amazon", "phone", "email", "exchange")


def _fee(path: Path, name: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError(f"{path}: {name} must be a number from 0 to 100, got {value!r}")
    return Decimal(str(value))


def load_settings(reference_dir: Path) -> ReturnSettings:
    """``returns.toml``; absent means the defaults. A bad value is an error."""
    path = reference_dir / CONFIG_FILE
    raw = read_settings(
        path,
        {
            "policy": {
                "window_days": DEFAULT_WINDOW_DAYS,
                "restocking_fee_percent": 0,
            },
            **{channel: dict(_POLICY_KEYS) for channel in POLICY_CHANNELS},
            "rma": {"prefix": DEFAULT_RMA_PREFIX},
            "labels": {"enabled": True},
        },
    )
    base = raw["policy"]
    default = ReturnPolicy(
        window_days=whole_number_at_least_one(path, "policy.window_days", base["window_days"]),
        restocking_fee_percent=_fee(
            path, "policy.restocking_fee_percent", base["restocking_fee_percent"]
        ),
    )
    channels = {}
    for channel in POLICY_CHANNELS:
        keys = raw[channel]
        if keys == _POLICY_KEYS:
            continue
        window, fee = keys["window_days"], keys["restocking_fee_percent"]
        channels[channel] = ReturnPolicy(
            window_days=default.window_days
            if window is None
            else whole_number_at_least_one(path, f"{channel}.window_days", window),
            restocking_fee_percent=default.restocking_fee_percent
            if fee is None
            else _fee(path, f"{channel}.restocking_fee_percent", fee),
        )
    prefix = raw["rma"]["prefix"]
    if not isinstance(prefix, str) or not re.fullmatch(r"[A-Z]{2,8}", prefix):
        raise ValueError(f"{path}: rma.prefix must be 2-8 capital letters, got {prefix!r}")
    enabled = raw["labels"]["enabled"]
    if not isinstance(enabled, bool):
        raise ValueError(f"{path}: labels.enabled must be true or false, got {enabled!r}")
    return ReturnSettings(default=default, channels=channels, rma_prefix=prefix, labels=enabled)


# --- result -----------------------------------------------------------------------------------


@dataclass
class ReturnsResult:
    files: list[FileOutcome] = field(default_factory=list)
    requests_read: int = 0
    authorized_lines: int = 0
    authorized_units: int = 0
    rejected_lines: int = 0
    repeated: int = 0
    quarantined: int = 0
    rmas_issued: int = 0
    inspections_read: int = 0
    units_received: int = 0
    units_restocked: int = 0
    units_missing: int = 0
    refunds: int = 0
    store_credits: int = 0
    refunded: dict[str, Decimal] = field(default_factory=dict)  # by currency
    refunds_held: int = 0
    exchange_orders: int = 0
    orders_returned: int = 0
    orders_partially_returned: int = 0
    labels_written: int = 0
    export_files: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


# --- reading files ----------------------------------------------------------------------------


def returns_files(inbox: Path, layout: str) -> list[Path]:
    """The inbox files in ``layout``, oldest first."""
    return [path for path in inbox_files(inbox) if file_layout(path) == layout]


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _read_csv(path: Path, columns: tuple[str, ...], required: frozenset[str]) -> list[dict]:
    try:
        data = pl.read_csv(path, infer_schema=False, encoding="utf8", raise_if_empty=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError, UnicodeDecodeError) as exc:
        raise UnreadableReturnsFile(f"not a readable CSV file: {exc}".split("\n")[0]) from exc
    data = data.rename({c: c.strip().lower() for c in data.columns})
    missing = sorted(required - set(data.columns))
    if missing:
        raise UnreadableReturnsFile(f"missing column(s): {', '.join(missing)}")
    data = data.with_columns(
        pl.lit(None, pl.String).alias(c) for c in columns if c not in data.columns
    ).select(  # text trimmed, blanks as null (as _text does one value at a time)
        pl.when(pl.col(c).str.strip_chars() != "").then(pl.col(c).str.strip_chars()).alias(c)
        for c in columns
    )
    records = data.to_dicts()
    for i, record in enumerate(records, start=1):
        record["source_row"] = i
    return records


def _read_json(path: Path) -> list[dict]:
    try:
        document = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableReturnsFile(f"not valid JSON: {exc}") from exc
    requests = document.get("returns") if isinstance(document, dict) else document
    if not isinstance(requests, list):
        raise UnreadableReturnsFile('expected {"returns": [...]} or a list of return requests')
    records: list[dict] = []
    for number, request in enumerate(requests, start=1):
        lines = request.get("lines") if isinstance(request, dict) else None
        if not isinstance(lines, list) or not lines:
            records.append(
                {"source_row": len(records) + 1, "_problem": f"request {number} has no lines"}
                | {"_raw": request}
            )
            continue
        head = {k: v for k, v in request.items() if k != "lines"}
        for line in lines:
            merged = head | (line if isinstance(line, dict) else {})
            record = {c: _text(merged.get(c)) for c in REQUEST_COLUMNS}
            record["source_row"] = len(records) + 1
            if not isinstance(line, dict):
                record["_problem"] = f"request {number}: a line is not an object"
            records.append(record)
    return records


def read_request_file(path: Path) -> list[dict]:
    """Records of a request file (CSV or JSON), one per line of a request, as text."""
    with path.open("rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith((b"{", b"[")):
        return _read_json(path)
    return _read_csv(path, REQUEST_COLUMNS, REQUEST_REQUIRED)


def read_inspection_file(path: Path) -> list[dict]:
    """Records of an inspection file, as text."""
    return _read_csv(path, INSPECTION_COLUMNS, INSPECTION_REQUIRED)


def _time(value: str | None, name: str, now: datetime, problems: list[str]) -> datetime | None:
    if value is None:
        problems.append(f"{name} is missing")
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        problems.append(f"{name} {value!r} is not an ISO 8601 time")
        return None
    if moment.tzinfo is None:
        problems.append(f"{name} {value!r} has no UTC offset")
        return None
    if moment > now + CLOCK_SKEW:
        problems.append(f"{name} {value} is in the future")
        return None
    return moment.astimezone(UTC)


def _units(value: str | None, problems: list[str]) -> int:
    if value is None:
        problems.append("quantity is missing")
        return 0
    try:
        number = int(value)
    except ValueError:
        problems.append(f"quantity {value!r} is not a whole number")
        return 0
    if number < 1:
        problems.append(f"quantity {number} must be at least 1")
    return number


def _choice(value: str | None, name: str, allowed: tuple[str, ...], problems: list[str]) -> str:
    if value is None:
        problems.append(f"{name} is missing")
        return ""
    if value not in allowed:
        problems.append(f"{name} {value!r} is not one of {', '.join(allowed)}")
    return value


def _raw(record: dict) -> str:
    raw = record.get("_raw")
    if raw is None:
        raw = {k: v for k, v in record.items() if not k.startswith("_") and k != "source_row"}
    return json.dumps(raw, default=str, ensure_ascii=False)


def _quarantine_row(kind: str, record: dict, reason: str) -> dict:
    return {
        "kind": kind,
        "reference": _text(record.get("return_id") or record.get("rma_number")),
        "order_ref": _text(record.get("order_key") or record.get("order_number")),
        "sku": _text(record.get("sku")),
        "record": _raw(record),
        "reason": reason,
        "source_row": record["source_row"],
    }


def _sorted_out(
    records: list[dict], kind: str, check: Callable[[dict], list[str]]
) -> tuple[list[dict], list[dict]]:
    """(the records ``check`` finds no problem with, quarantine rows for the others)."""
    good: list[dict] = []
    quarantine: list[dict] = []
    for record in records:
        problems = check(record)
        if problems:
            quarantine.append(_quarantine_row(kind, record, "; ".join(problems)))
        else:
            good.append(record)
    return good, quarantine


# --- shared writes ----------------------------------------------------------------------------


def _rows(rows: list[dict], schema: pl.Schema, *, every_column: bool = False) -> pl.DataFrame:
    """``rows`` (dicts that may each lack some keys) as a frame typed by ``schema``, with the
    columns the rows have (or ``every_column`` of it): no type inference over every row,
    which costs seconds at 50k returns."""
    keys = schema if every_column else set().union(*rows)
    typed = {key: dtype for key, dtype in schema.items() if key in keys}
    # Column lists convert about twice as fast as dicts.
    return pl.DataFrame({key: [row.get(key) for row in rows] for key in typed}, schema=typed)


def _insert(
    con: duckdb.DuckDBPyConnection, table, rows: list[dict] | pl.DataFrame, stamp: dict
) -> int:
    """Insert ``rows`` (dicts or a frame) into ``table``, stamped with lineage/time columns."""
    data = rows if isinstance(rows, pl.DataFrame) else _rows(rows, table.polars_schema)
    if data.is_empty():
        return 0
    data = data.with_columns(
        pl.lit(value).alias(name)
        for name, value in stamp.items()
        if name in table.column_names and name not in data.columns
    )
    con.register("new_rows", table.conform(data).to_arrow())
    try:
        con.execute(f"INSERT INTO {table.qualified} BY NAME SELECT * FROM new_rows")
    finally:
        con.unregister("new_rows")
    return data.height


def _events(con: duckdb.DuckDBPyConnection, events: list[dict], run_id: str) -> None:
    """Order events (event_id, order_key, event, at, detail) not stored yet."""
    if not events:
        return
    data = _rows(events, ORDER_EVENTS.polars_schema).with_columns(run_id=pl.lit(run_id))
    con.register("new_events", ORDER_EVENTS.conform(data).to_arrow())
    try:
        con.execute(
            f"""
            INSERT INTO {ORDER_EVENTS.qualified} BY NAME
            SELECT DISTINCT ON (event_id) * FROM new_events
            WHERE event_id NOT IN (SELECT event_id FROM {ORDER_EVENTS.qualified})
            """
        )
    finally:
        con.unregister("new_events")


def _event(order_key: str, event: str, at: datetime, detail: str, *ids: str) -> dict:
    key = "|".join((order_key, event, *ids))
    return {
        "event_id": hashlib.md5(key.encode()).hexdigest(),
        "order_key": order_key,
        "event": event,
        "at": at,
        "detail": detail,
    }


def _keyed(con: duckdb.DuckDBPyConnection, name: str, values: Iterable[str]) -> None:
    con.register(name, pl.DataFrame({"key": sorted(set(values))}, schema={"key": pl.String}))


# --- 1. requests ------------------------------------------------------------------------------


@dataclass
class _Order:
    order_key: str
    channel: str
    fulfilled_by_channel: bool
    lines: list[dict] = field(default_factory=list)  # line_no, sku, quantity, shipped, ...


def _orders_for(con: duckdb.DuckDBPyConnection, records: list[dict]) -> tuple[dict, dict]:
    """(orders by key, order keys by order number) for the orders ``records`` name."""
    _keyed(con, "ref_keys", (r["order_key"] for r in records if r.get("order_key")))
    _keyed(con, "ref_numbers", (r["order_number"] for r in records if r.get("order_number")))
    try:
        orders = frame(
            con,
            f"""
            SELECT order_key, order_number, channel, coalesce(fulfilled_by_channel, false) AS fbc
            FROM {ORDERS.qualified}
            WHERE order_key IN (SELECT key FROM ref_keys)
               OR order_number IN (SELECT key FROM ref_numbers)
            """,
        )
        con.register("ref_orders", orders.select("order_key"))
        lines = frame(
            con,
            f"""
            SELECT l.order_key, l.line_no, l.sku, l.quantity,
                   coalesce(s.shipped_quantity, 0) AS shipped, s.warehouse_id,
                   s.shipped_at, s.delivered_at,
                   coalesce(r.asked, 0) AS asked
            FROM {ORDER_LINES.qualified} l
            LEFT JOIN ({SHIPPED_LINES_SQL}) s USING (order_key, line_no)
            LEFT JOIN (
                SELECT order_key, line_no,
                       sum(quantity - missing_quantity)::BIGINT AS asked
                FROM {RETURNS.qualified}
                WHERE status IN {_ACTIVE!r} GROUP BY ALL
            ) r USING (order_key, line_no)
            WHERE l.order_key IN (SELECT order_key FROM ref_orders)
            ORDER BY l.order_key, l.line_no
            """,
        )
    finally:
        for name in ("ref_keys", "ref_numbers", "ref_orders"):
            con.unregister(name)
    by_key = {
        row["order_key"]: _Order(row["order_key"], row["channel"], row["fbc"])
        for row in orders.iter_rows(named=True)
    }
    by_number: dict[str, list[str]] = defaultdict(list)
    for row in orders.iter_rows(named=True):
        if row["order_number"]:
            by_number[row["order_number"]].append(row["order_key"])
    for line in lines.iter_rows(named=True):
        by_key[line["order_key"]].lines.append(line)
    return by_key, by_number


def _resolve(record: dict, by_key: dict, by_number: dict) -> tuple[_Order | None, str | None]:
    key, number, channel = record["order_key"], record["order_number"], record["channel"]
    if key:
        return (by_key[key], None) if key in by_key else (None, f"unknown order {key}")
    candidates = [by_key[k] for k in by_number.get(number, [])]
    if channel:
        candidates = [o for o in candidates if o.channel == channel.lower()]
    if not candidates:
        return None, f"unknown order number {number}" + (f" on {channel}" if channel else "")
    if len(candidates) > 1:
        return None, (
            f"order number {number} matches {len(candidates)} orders "
            f"({', '.join(o.order_key for o in candidates)}); give order_key or channel"
        )
    return candidates[0], None


def _check_request(record: dict, now: datetime) -> list[str]:
    problems: list[str] = [record["_problem"]] if record.get("_problem") else []
    if problems:
        return problems
    for name in ("return_id", "sku"):
        if not record.get(name):
            problems.append(f"{name} is missing")
    if not record.get("order_key") and not record.get("order_number"):
        problems.append("order_key or order_number is required")
    record["quantity"] = _units(record.get("quantity"), problems)
    reason = (record.get("reason") or "").upper() or None
    record["reason"] = _choice(reason, "reason", RETURN_REASONS, problems)
    resolution = (record.get("resolution") or "refund").lower()
    record["resolution"] = _choice(resolution, "resolution", RETURN_RESOLUTIONS, problems)
    if record["resolution"] != "exchange":
        record["exchange_sku"] = None
    record["requested_at"] = _time(record.get("requested_at"), "requested_at", now, problems)
    return problems


def _line_id(order_key: str, return_id: str, line_no: int, reason: str) -> str:
    return hashlib.md5(f"{order_key}|{return_id}|{line_no}|{reason}".encode()).hexdigest()


def _judge(
    record: dict, order: _Order, lines: list[dict], policy: ReturnPolicy, skus: frozenset[str]
) -> tuple[list[tuple[dict, int]], str | None, datetime | None]:
    """([(line, units)] the request takes, rejection reason or None, window end)."""
    wanted = record["quantity"]
    free = [(line, line["shipped"] - line["asked"]) for line in lines]
    available = sum(max(units, 0) for _, units in free)
    if available < wanted:
        shipped = sum(line["shipped"] for line in lines)
        if shipped == 0:
            why = (
                "fulfilled by the channel: returns go through the channel"
                if order.fulfilled_by_channel
                else "nothing of this line has shipped from our warehouses yet"
            )
        else:
            why = (
                f"asks to return {wanted} but only {available} of the {shipped} shipped "
                "are not already returned or asked for"
            )
        return [], why, None
    taken, left = [], wanted
    for line, units in free:
        if left and units > 0:
            take = min(units, left)
            taken.append((line, take))
            left -= take
    starts = [line["delivered_at"] or line["shipped_at"] for line, _ in taken]
    window_end = max(starts) + timedelta(days=policy.window_days)
    if record["requested_at"] > window_end:
        late = (record["requested_at"] - window_end).days + policy.window_days
        return (
            taken,
            f"requested {late} days after delivery; the {order.channel} return window is "
            f"{policy.window_days} days (ended {window_end:%Y-%m-%d %H:%M} UTC)",
            window_end,
        )
    exchange = record["exchange_sku"]
    if exchange and exchange not in skus:
        return taken, f"exchange SKU {exchange} is not in the catalogue", window_end
    return taken, None, window_end


def _existing_requests(
    con: duckdb.DuckDBPyConnection, orders: Iterable[str]
) -> tuple[set, set, dict]:
    """Of the stored return lines of ``orders``: the (order, return_id, sku, reason) keys
    authorized or further along, those rejected, and the RMA (number, warehouse) of each
    (order, return_id)."""
    _keyed(con, "req_orders", orders)
    try:
        rows = frame(
            con,
            f"""
            SELECT order_key, return_id, sku, reason, status, rma_number, warehouse_id
            FROM {RETURNS.qualified} WHERE order_key IN (SELECT key FROM req_orders)
            """,
        )
    finally:
        con.unregister("req_orders")
    stored, rejected = set(), set()
    for r in rows.iter_rows(named=True):
        key = (r["order_key"], r["return_id"], r["sku"], r["reason"])
        (rejected if r["status"] == "rejected" else stored).add(key)
    rmas = {
        (r["order_key"], r["return_id"]): (r["rma_number"], r["warehouse_id"])
        for r in rows.iter_rows(named=True)
        if r["rma_number"]
    }
    return stored, rejected, rmas


def _forget_rejected(con: duckdb.DuckDBPyConnection, keys: list[tuple]) -> None:
    """Drop the rejected lines of requests sent again: they are judged afresh."""
    if not keys:
        return
    con.register(
        "sent_again",
        pl.DataFrame(keys, schema=["order_key", "return_id", "sku", "reason"], orient="row"),
    )
    try:
        con.execute(
            f"""
            DELETE FROM {RETURNS.qualified}
            WHERE status = 'rejected' AND (order_key, return_id, sku, reason) IN (
                SELECT (order_key, return_id, sku, reason) FROM sent_again)
            """
        )
    finally:
        con.unregister("sent_again")


def _next_rma(con: duckdb.DuckDBPyConnection, prefix: str) -> int:
    last = scalar(
        con,
        f"""
        SELECT max(TRY_CAST(regexp_extract(rma_number, '-(\\d+)$', 1) AS BIGINT))
        FROM {RETURNS.qualified} WHERE rma_number LIKE $prefix || '-%'
        """,
        {"prefix": prefix},
    )
    return (last or 0) + 1


def apply_requests(
    con: duckdb.DuckDBPyConnection,
    records: list[dict],
    *,
    settings: ReturnSettings,
    skus: frozenset[str],
    outbox: Path,
    source_file: str,
    run_id: str,
    now: datetime,
    result: ReturnsResult,
) -> None:
    """Store one request file's records (inside the caller's transaction)."""
    good, quarantine = _sorted_out(records, "request", lambda r: _check_request(r, now))
    by_key, by_number = _orders_for(con, good)
    stored, rejected, rmas = _existing_requests(con, by_key)
    again: list[tuple] = []
    next_rma = _next_rma(con, settings.rma_prefix)
    lines_by_order = {key: order.lines for key, order in by_key.items()}
    rows: list[dict] = []
    events: list[dict] = []
    issued = 0
    labels_dir = outbox / "returns" / "labels"
    for record in good:
        order, problem = _resolve(record, by_key, by_number)
        if order is None:
            quarantine.append(_quarantine_row("request", record, problem))
            continue
        sku = record["sku"]
        lines = [line for line in lines_by_order[order.order_key] if line["sku"] == sku]
        if not lines:
            quarantine.append(
                _quarantine_row("request", record, f"SKU {sku} is not on order {order.order_key}")
            )
            continue
        request = (order.order_key, record["return_id"], sku, record["reason"])
        if request in stored:
            result.repeated += 1
            continue
        if request in rejected:  # sent again (corrected, or things changed): judged afresh
            rejected.discard(request)
            again.append(request)
        stored.add(request)
        taken, rejection, window_end = _judge(
            record, order, lines, settings.policy(order.channel), skus
        )
        base = {
            "return_id": record["return_id"],
            "order_key": order.order_key,
            "sku": sku,
            "reason": record["reason"],
            "resolution": record["resolution"],
            "exchange_sku": record["exchange_sku"],
            "requested_at": record["requested_at"],
            "note": record["note"],
            "window_ends_at": window_end,
            "received_quantity": 0,
            "restocked_quantity": 0,
            "missing_quantity": 0,
            "refunded_quantity": 0,
            "source_row": record["source_row"],
        }
        if rejection:
            line_no = (taken[0][0] if taken else lines[0])["line_no"]
            rows.append(
                base
                | {
                    "return_line_id": _line_id(
                        order.order_key, record["return_id"], line_no, record["reason"]
                    ),
                    "line_no": line_no,
                    "quantity": record["quantity"],
                    "status": "rejected",
                    "status_reason": rejection,
                }
            )
            events.append(
                _event(
                    order.order_key,
                    "return_rejected",
                    now,
                    f"return {record['return_id']}: {record['quantity']} x {sku} declined: "
                    f"{rejection}",
                    record["return_id"],
                    sku,
                    record["reason"],
                )
            )
            result.rejected_lines += 1
            continue
        key = (order.order_key, record["return_id"])
        if key not in rmas:
            rmas[key] = (f"{settings.rma_prefix}-{next_rma:06d}", taken[0][0]["warehouse_id"])
            next_rma += 1
            issued += 1
        rma_number, warehouse_id = rmas[key]
        for line, units in taken:
            line["asked"] += units
            row = base | {
                "return_line_id": _line_id(
                    order.order_key, record["return_id"], line["line_no"], record["reason"]
                ),
                "rma_number": rma_number,
                "line_no": line["line_no"],
                "quantity": units,
                "status": "authorized",
                "authorized_at": now,
                "warehouse_id": warehouse_id,
                "label_path": str(labels_dir / f"{rma_number}.pdf") if settings.labels else None,
            }
            rows.append(row)
            result.authorized_lines += 1
            result.authorized_units += units
        events.append(
            _event(
                order.order_key,
                "return_authorized",
                now,
                f"{rma_number}: {record['quantity']} x {sku} ({record['reason']}, "
                f"{record['resolution']}); send to {warehouse_id}",
                record["return_id"],
                sku,
                record["reason"],
            )
        )
    result.rmas_issued += issued
    result.requests_read += len(records)
    result.quarantined += len(quarantine)
    stamp = {"run_id": run_id, "source_file": source_file, "updated_at": now, "quarantined_at": now}
    _forget_rejected(con, again)
    _insert(con, RETURNS, rows, stamp)
    _insert(con, RETURNS_QUARANTINE, quarantine, stamp)
    _events(con, events, run_id)


# --- 2. inspections ---------------------------------------------------------------------------


def _check_inspection(record: dict, warehouses: frozenset[str], now: datetime) -> list[str]:
    problems: list[str] = []
    for name in ("rma_number", "sku"):
        if not record[name]:
            problems.append(f"{name} is missing")
    record["quantity"] = _units(record["quantity"], problems)
    disposition = (record["disposition"] or "").upper() or None
    record["disposition"] = _choice(disposition, "disposition", DISPOSITIONS, problems)
    if record["reason"]:
        record["reason"] = _choice(record["reason"].upper(), "reason", RETURN_REASONS, problems)
    if record["warehouse_id"] and record["warehouse_id"] not in warehouses:
        problems.append(f"unknown warehouse {record['warehouse_id']}")
    record["inspected_at"] = _time(record["inspected_at"], "inspected_at", now, problems)
    return problems


def _expected_lines(con: duckdb.DuckDBPyConnection, records: list[dict]) -> tuple[dict, set]:
    """(lines still expecting units by (rma, sku), every RMA number of ``records`` known)."""
    _keyed(con, "insp_rmas", (r["rma_number"] for r in records))
    try:
        lines = frame(
            con,
            f"""
            SELECT return_line_id, rma_number, order_key, sku, reason, warehouse_id, status,
                   quantity - received_quantity - missing_quantity AS expected
            FROM {RETURNS.qualified}
            WHERE rma_number IN (SELECT key FROM insp_rmas)
            -- units fill an RMA's lines of a SKU in the order they were requested
            ORDER BY rma_number, requested_at, source_file, source_row, line_no
            """,
        )
    finally:
        con.unregister("insp_rmas")
    expecting: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for line in lines.iter_rows(named=True):
        if line["status"] in _EXPECTING:
            expecting[(line["rma_number"], line["sku"])].append(line)
    return expecting, set(lines.get_column("rma_number").to_list())


def apply_inspections(
    con: duckdb.DuckDBPyConnection,
    records: list[dict],
    *,
    catalogue: Catalogue,
    file_id: str,
    source_file: str,
    run_id: str,
    now: datetime,
    result: ReturnsResult,
) -> None:
    """Store one inspection file's records (inside the caller's transaction)."""
    good, quarantine = _sorted_out(
        records, "inspection", lambda r: _check_inspection(r, catalogue.warehouses, now)
    )
    expecting, known = _expected_lines(con, good)
    bins = set(catalogue.pairs.iter_rows())
    inspections: list[dict] = []
    for record in good:
        rma, sku, units = record["rma_number"], record["sku"], record["quantity"]
        lines = expecting.get((rma, sku), [])
        if record["reason"]:  # the inspector named the reason: only that line
            lines = [line for line in lines if line["reason"] == record["reason"]]
        if rma not in known:
            problem = f"unknown RMA number {rma}"
        elif not lines:
            problem = f"{rma} expects no (more) units of SKU {sku}" + (
                f" for {record['reason']}" if record["reason"] else ""
            )
        elif sum(line["expected"] for line in lines) < units:
            problem = (
                f"{units} x {sku} inspected but {rma} expects only "
                f"{sum(line['expected'] for line in lines)} more"
            )
        else:
            problem = None
        warehouse = record["warehouse_id"] or (lines[0]["warehouse_id"] if lines else None)
        if not problem and record["disposition"] == "RESTOCK" and (warehouse, sku) not in bins:
            problem = f"{warehouse} has no bin for SKU {sku}: cannot restock it there"
        if problem:
            quarantine.append(_quarantine_row("inspection", record, problem))
            continue
        left, part = units, 0
        for line in lines:
            take = min(line["expected"], left)
            if take <= 0:
                continue
            line["expected"] -= take
            left -= take
            part += 1
            inspections.append(
                {
                    "inspection_id": f"{file_id[:16]}:{record['source_row']}"
                    + (f":{part}" if part > 1 else ""),
                    "return_line_id": line["return_line_id"],
                    "rma_number": rma,
                    "order_key": line["order_key"],
                    "sku": sku,
                    "warehouse_id": warehouse,
                    "disposition": record["disposition"],
                    "quantity": take,
                    "inspected_at": record["inspected_at"],
                    "inspected_by": record["inspected_by"],
                    "note": record["note"],
                    "source_row": record["source_row"],
                }
            )
            if not left:
                break
    result.inspections_read += len(records)
    result.quarantined += len(quarantine)
    stamp = {"run_id": run_id, "source_file": source_file, "quarantined_at": now}
    _insert(con, RETURNS_QUARANTINE, quarantine, stamp)
    if not inspections:
        return
    found = _rows(inspections, RETURN_INSPECTIONS.polars_schema)
    _insert(con, RETURN_INSPECTIONS, found, stamp)
    _book_restock(con, found, file_id=file_id, source_file=source_file, run_id=run_id, now=now)
    _receive(con, found, file_id, run_id, now, result)


def _book_restock(
    con: duckdb.DuckDBPyConnection,
    found: pl.DataFrame,
    *,
    file_id: str,
    source_file: str,
    run_id: str,
    now: datetime,
) -> None:
    """RESTOCK units back on hand: one return_restock movement per inspection record, and,
    like a late receipt, taken back out at the time of a later count that already saw them."""
    restock = found.filter(pl.col("disposition") == "RESTOCK")
    if restock.is_empty():
        return
    rows = restock.group_by("source_row", maintain_order=True).agg(
        pl.format("return:{}", "inspection_id").first().alias("movement_id"),
        pl.col("inspected_at").first().alias("at"),
        pl.col("warehouse_id").first(),
        pl.col("sku").first(),
        pl.col("quantity").sum(),
        pl.lit("return_restock").alias("reason"),
        pl.col("rma_number").first().alias("reference"),
        pl.format("returned on {}, sellable", "rma_number").first().alias("note"),
    )
    rows = pl.concat([rows, already_counted(con, rows, file_id)], how="diagonal_relaxed")
    insert_movements(con, rows, file_id=file_id, source_file=source_file, run_id=run_id, now=now)


def _receive(
    con: duckdb.DuckDBPyConnection,
    found: pl.DataFrame,
    file_id: str,
    run_id: str,
    now: datetime,
    result: ReturnsResult,
) -> None:
    """Add the inspected units to their return lines; move orders to (partially_)returned."""
    totals = found.group_by("return_line_id").agg(
        pl.col("quantity").filter(pl.col("disposition") != "MISSING").sum().alias("received"),
        pl.col("quantity").filter(pl.col("disposition") == "RESTOCK").sum().alias("restocked"),
        pl.col("quantity").filter(pl.col("disposition") == "MISSING").sum().alias("missing"),
        pl.col("inspected_at").max().alias("at"),
    )
    result.units_received += int(totals.get_column("received").sum())
    result.units_restocked += int(totals.get_column("restocked").sum())
    result.units_missing += int(totals.get_column("missing").sum())
    con.register("received_now", totals)
    try:
        con.execute(
            f"""
            UPDATE {RETURNS.qualified} r
            SET received_quantity = r.received_quantity + n.received,
                restocked_quantity = r.restocked_quantity + n.restocked,
                missing_quantity = r.missing_quantity + n.missing,
                inspected_at = greatest(r.inspected_at, n."at"),
                status = CASE WHEN r.received_quantity + n.received + r.missing_quantity
                                   + n.missing >= r.quantity
                              THEN 'inspected' ELSE 'received' END,
                updated_at = $now, run_id = $run_id
            FROM received_now n
            WHERE r.return_line_id = n.return_line_id
            """,
            {"now": now, "run_id": run_id},
        )
        touched = frame(
            con,
            f"""
            SELECT r.order_key, r.rma_number, sum(n.received)::BIGINT AS received,
                   sum(n.restocked)::BIGINT AS restocked, sum(n.missing)::BIGINT AS missing,
                   max(n."at") AS "at"
            FROM received_now n JOIN {RETURNS.qualified} r USING (return_line_id)
            GROUP BY ALL ORDER BY ALL
            """,
        )
    finally:
        con.unregister("received_now")
    events = [
        _event(
            row["order_key"],
            "return_received",
            row["at"],
            f"{row['rma_number']}: {row['received']} unit(s) received "
            f"({row['restocked']} restocked)"
            + (f", {row['missing']} missing" if row["missing"] else ""),
            row["rma_number"],
            file_id,
        )
        for row in touched.iter_rows(named=True)
        if row["received"] or row["missing"]
    ]
    _events(con, events, run_id)
    _set_returned(con, touched.get_column("order_key").unique().to_list(), run_id, now, result)


def _set_returned(
    con: duckdb.DuckDBPyConnection, orders: list[str], run_id: str, now: datetime, result
) -> None:
    """Shipped or delivered orders with units back: returned when every shipped unit is."""
    if not orders:
        return
    _keyed(con, "back_orders", orders)
    try:
        moves = frame(
            con,
            f"""
            WITH shipped AS (
                SELECT order_key, sum(shipped_quantity) AS shipped FROM ({SHIPPED_LINES_SQL})
                WHERE order_key IN (SELECT key FROM back_orders) GROUP BY ALL
            ), back AS (
                SELECT order_key, sum(received_quantity) AS received FROM {RETURNS.qualified}
                WHERE order_key IN (SELECT key FROM back_orders) GROUP BY ALL
            )
            SELECT o.order_key,
                   CASE WHEN b.received >= s.shipped THEN 'returned'
                        ELSE 'partially_returned' END AS status
            FROM {ORDERS.qualified} o JOIN back b USING (order_key) JOIN shipped s USING (order_key)
            WHERE o.status IN {_RETURNABLE_ORDER!r} AND b.received > 0
            """,
        )
    finally:
        con.unregister("back_orders")
    # (Read the changes first: DuckDB's UPDATE ... RETURNING is slow on a keyed table.)
    con.register("return_moves", moves)
    try:
        changed = frame(
            con,
            f"""
            SELECT m.order_key, m.status FROM return_moves m
            JOIN {ORDERS.qualified} o USING (order_key) WHERE o.status <> m.status
            """,
        )
        con.execute(
            f"""
            UPDATE {ORDERS.qualified} o SET status = m.status
            FROM return_moves m
            WHERE o.order_key = m.order_key AND o.status <> m.status
            """
        )
    finally:
        con.unregister("return_moves")
    for row in changed.iter_rows(named=True):
        if row["status"] == "returned":
            result.orders_returned += 1
        else:
            result.orders_partially_returned += 1
    _events(
        con,
        [
            _event(row["order_key"], row["status"], now, "returned items received", row["status"])
            for row in changed.iter_rows(named=True)
        ],
        run_id,
    )


# --- 3. settlement ----------------------------------------------------------------------------

_ZERO = Decimal("0.00")


@dataclass
class _Ledger:
    """What an order has had back so far (updated as refunds are issued in this run)."""

    refunded: Decimal  # by us, and by the channel itself (orders.channel_refunded)
    shipping: Decimal
    returned: dict[tuple[int, str], int]  # (line_no, reason) -> units refunded before


#: Each line of an exchange order with inspected returns, and the original order line its
#: units replace (through the exchanged return line): refunds of exchanged units are paid
#: against what the original order charged.
_EXCHANGED_LINES_SQL = f"""
    SELECT x.order_key, x.line_no, r.order_key AS original_key, r.line_no AS original_line
    FROM {ORDER_LINES.qualified} x
    JOIN {RETURNS.qualified} r ON r.return_line_id = x.external_line_id
    JOIN {ORDERS.qualified} o ON o.order_key = x.order_key AND o.channel = 'exchange'
"""


def _money(con: duckdb.DuckDBPyConnection) -> tuple[dict, dict, dict]:
    """Order money, lines and refund ledgers of the orders with inspected return lines (and,
    for exchange orders, of the original orders that paid for them)."""
    orders = frame(
        con,
        f"""
        WITH inspected AS (
            SELECT DISTINCT order_key FROM {RETURNS.qualified} WHERE status = 'inspected'
        ),
        due AS (
            SELECT order_key FROM inspected
            UNION
            SELECT original_key FROM ({_EXCHANGED_LINES_SQL})
            WHERE order_key IN (SELECT order_key FROM inspected)
        ),
        lines AS (
            SELECT order_key, sum(coalesce(line_total,
                       quantity * unit_price - coalesce(line_discount, 0))) AS total
            FROM {ORDER_LINES.qualified} WHERE order_key IN (SELECT order_key FROM due)
            GROUP BY ALL
        )
        SELECT o.order_key, o.order_number, o.channel, o.currency, o.payment_method,
               o.customer_name, o.email, o.ship_name, o.ship_company, o.ship_address1,
               o.ship_address2, o.ship_city, o.ship_region, o.ship_postal_code,
               o.ship_country, o.service_level, o.ship_complete, o.accepts_marketing, o.phone,
               coalesce(o.subtotal, l.total) AS subtotal,
               coalesce(o.shipping_amount, 0) AS shipping_amount,
               coalesce(o.tax_amount, 0) AS tax_amount,
               coalesce(o.discount_amount, 0) AS discount_amount,
               coalesce(o.order_total, coalesce(o.subtotal, l.total)
                   - coalesce(o.discount_amount, 0) + coalesce(o.shipping_amount, 0)
                   + CASE WHEN o.prices_include_tax THEN 0 ELSE coalesce(o.tax_amount, 0) END)
                   AS order_total,
               coalesce(o.prices_include_tax, false) AS prices_include_tax,
               coalesce(f.refunded, 0) + coalesce(o.channel_refunded, 0) AS refunded,
               coalesce(f.shipping, 0) AS shipping_refunded
        FROM {ORDERS.qualified} o JOIN lines l USING (order_key)
        LEFT JOIN (SELECT order_key, sum(amount) AS refunded, sum(shipping) AS shipping
                   FROM {REFUNDS.qualified} GROUP BY ALL) f USING (order_key)
        """,
    )
    con.register("due_orders", orders.select("order_key"))
    try:
        lines = frame(
            con,
            f"""
            SELECT order_key, line_no, sku, product_name, quantity, unit_price,
                   coalesce(line_discount, 0) AS line_discount,
                   coalesce(line_total, quantity * unit_price - coalesce(line_discount, 0))
                       AS line_total
            FROM {ORDER_LINES.qualified} WHERE order_key IN (SELECT order_key FROM due_orders)
            ORDER BY order_key, line_no
            """,
        )
        returned = frame(
            con,
            f"""
            -- units refunded through an exchange order count on the original line
            SELECT coalesce(x.original_key, r.order_key) AS order_key,
                   coalesce(x.original_line, r.line_no) AS line_no, r.reason,
                   sum(r.refunded_quantity)::BIGINT AS units
            FROM {RETURNS.qualified} r
            LEFT JOIN ({_EXCHANGED_LINES_SQL}) x USING (order_key, line_no)
            WHERE r.refunded_quantity > 0
              AND coalesce(x.original_key, r.order_key) IN (SELECT order_key FROM due_orders)
            GROUP BY ALL
            """,
        )
    finally:
        con.unregister("due_orders")
    by_order = {row["order_key"]: row for row in orders.iter_rows(named=True)}
    lines_of: dict[str, list[dict]] = defaultdict(list)
    for line in lines.iter_rows(named=True):
        lines_of[line["order_key"]].append(line)
    ledgers = {
        key: _Ledger(row["refunded"], row["shipping_refunded"], {}) for key, row in by_order.items()
    }
    for row in returned.iter_rows(named=True):
        ledgers[row["order_key"]].returned[(row["line_no"], row["reason"])] = row["units"]
    return by_order, lines_of, ledgers


def _refund(order: dict, lines: list[dict], units: list[dict], ledger: _Ledger, policy) -> Refund:
    money = OrderMoney(
        subtotal=order["subtotal"],
        shipping_amount=order["shipping_amount"],
        tax_amount=order["tax_amount"],
        discount_amount=order["discount_amount"],
        order_total=order["order_total"],
        prices_include_tax=order["prices_include_tax"],
        currency=order["currency"] or "USD",
    )
    line_money = [
        LineMoney(
            line_no=line["line_no"],
            quantity=line["quantity"],
            unit_price=line["unit_price"],
            line_discount=line["line_discount"],
            line_total=line["line_total"],
        )
        for line in lines
    ]
    returning = [ReturnedUnits(u["line_no"], u["units"], u["reason"]) for u in units]
    before = [ReturnedUnits(ln, n, reason) for (ln, reason), n in ledger.returned.items() if n]
    return refund_for(
        money,
        line_money,
        returning,
        RefundPolicy(policy.restocking_fee_percent),
        already_refunded=ledger.refunded,
        shipping_already_refunded=ledger.shipping,
        previously_returned=before,
    )


def _slug(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "_", (text or "unknown").lower()).strip("_") or "unknown"


def _exchange_order(
    order: dict, rma: str, lines: list[dict], names: dict[str, str], taken: set[str], now
) -> tuple[dict, list[dict]]:
    external = rma
    n = 1
    while f"exchange:{external}" in taken:
        n += 1
        external = f"{rma}-{n}"
    key = f"exchange:{external}"
    taken.add(key)
    header = {
        "order_key": key,
        "channel": "exchange",
        "source_format": "exchange",
        "external_order_id": external,
        "order_number": external,
        "ordered_at": now,
        "status": "received",
        "customer_name": order["customer_name"],
        "email": order["email"],
        "phone": order["phone"],
        "accepts_marketing": order["accepts_marketing"],
        **{f"ship_{k}": order[f"ship_{k}"] for k in ("name", "company", "address1", "address2")},
        **{f"ship_{k}": order[f"ship_{k}"] for k in ("city", "region", "postal_code", "country")},
        "currency": order["currency"],
        "subtotal": _ZERO,
        "shipping_amount": _ZERO,
        "tax_amount": _ZERO,
        "discount_amount": _ZERO,
        "order_total": _ZERO,
        "prices_include_tax": False,
        "payment_method": "exchange",
        "payment_status": "paid",
        "service_level": order["service_level"] or "standard",
        "ship_complete": bool(order["ship_complete"]),
        "fulfilled_by_channel": False,
        "notes": f"exchange for {order['order_number'] or order['order_key']} ({rma})",
        "original_order_key": order["order_key"],
        "received_at": now,
        "updated_at": now,
        "source_row": 1,
    }
    rows = []
    for i, line in enumerate(lines, start=1):
        sku = line["exchange_sku"] or line["sku"]
        rows.append(
            {
                "order_key": key,
                "line_no": i,
                "external_line_id": line["return_line_id"],
                "sku": sku,
                "product_name": names.get(sku),
                "quantity": line["units"],
                "unit_price": _ZERO,
                "line_discount": _ZERO,
                "line_total": _ZERO,
                "requires_shipping": True,
                "source_row": i,
            }
        )
    return header, rows


#: The return line changes a settlement writes.
_SETTLED = pl.Schema(
    {
        "return_line_id": pl.String(),
        "status": pl.String(),
        "status_reason": pl.String(),
        "completed_at": pl.Datetime("us", "UTC"),
        "refunded_quantity_add": pl.Int64(),
        "exchange_order_key": pl.String(),
    }
)


@dataclass
class _Settlement:
    """What one settlement writes, gathered before it is written."""

    now: datetime
    export_stamp: str  # batch time and run: no two batches share an export file
    export_dir: Path
    updates: list[dict] = field(default_factory=list)  # return line changes
    refunds: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)  # exchange orders
    lines: list[dict] = field(default_factory=list)

    def close(self, group: list[dict], **changes) -> None:
        """Every line of ``group`` completed (unless ``changes`` say otherwise)."""
        base = {"status": "completed", "completed_at": self.now, "status_reason": None}
        self.updates += [
            base | changes | {"return_line_id": line["return_line_id"]} for line in group
        ]


def _exchange(
    plan: _Settlement,
    order: dict,
    rma: str,
    group: list[dict],
    arrived: list[dict],
    names: dict[str, str],
    taken: set[str],
    result: ReturnsResult,
) -> None:
    header, rows = _exchange_order(order, rma, arrived, names, taken, plan.now)
    plan.orders.append(header)
    plan.lines += rows
    plan.close(group, exchange_order_key=header["order_key"])
    key = header["order_key"]
    plan.events.append(
        _event(
            order["order_key"], "exchange_created", plan.now, f"{rma}: replacement order {key}", key
        )
    )
    plan.events.append(
        _event(key, "received", plan.now, f"exchange for {order['order_key']} ({rma})")
    )
    result.exchange_orders += 1


def _pay_back(
    plan: _Settlement,
    order: dict,
    rma: str,
    method: str,
    group: list[dict],
    arrived: list[dict],
    refund_count: dict[str, int],
    result: ReturnsResult,
    *,
    lines: list[dict],
    ledger: _Ledger,
    policy: ReturnPolicy,
) -> None:
    """Refund (``method`` original) or credit the units that arrived on ``group``."""
    merged: dict[tuple[int, str], int] = defaultdict(int)
    for line in arrived:
        merged[(line["line_no"], line["reason"])] += line["units"]
    units = [{"line_no": ln, "reason": r, "units": n} for (ln, r), n in merged.items()]
    try:
        refund = _refund(order, lines, units, ledger, policy)
    except (ValueError, TypeError, ArithmeticError) as exc:
        plan.close(
            group,
            status="inspected",
            completed_at=None,
            status_reason=f"refund held for review: {exc}",
        )
        result.refunds_held += 1
        return
    ledger.refunded += refund.amount
    ledger.shipping += refund.shipping
    for key, n in merged.items():
        ledger.returned[key] = ledger.returned.get(key, 0) + n
    for line in group:
        plan.close(
            [line],
            refunded_quantity_add=line["units"],
            status_reason=(
                None if refund.amount > 0 else "nothing left to refund: " + refund.explanation
            ),
        )
    if refund.amount <= 0:
        return
    refund_count[rma] = refund_count.get(rma, 0) + 1
    currency = order["currency"] or "USD"
    target = method if method == "store_credit" else _slug(order["payment_method"])
    refund_id = f"RF-{rma}-{refund_count[rma]}"
    plan.refunds.append(
        {
            "refund_id": refund_id,
            "order_key": order["order_key"],
            "rma_number": rma,
            "method": method,
            "payment_method": order["payment_method"],
            "currency": currency,
            "amount": refund.amount,
            "merchandise": refund.merchandise,
            "discount_share": refund.discount_share,
            "tax_share": refund.tax_share,
            "shipping": refund.shipping,
            "restocking_fee": refund.restocking_fee,
            "cap_adjustment": refund.cap_adjustment,
            "units": sum(u["units"] for u in units),
            "explanation": refund.explanation,
            "issued_at": plan.now,
            "export_file": str(plan.export_dir / f"refunds_{target}_{plan.export_stamp}.csv"),
        }
    )
    result.refunded[currency] = result.refunded.get(currency, _ZERO) + refund.amount
    if method == "store_credit":
        result.store_credits += 1
        to = "store credit"
    else:
        result.refunds += 1
        to = order["payment_method"] or "the original payment"
    plan.events.append(
        _event(
            order["order_key"],
            "refund_issued",
            plan.now,
            f"{refund_id}: {refund.amount} {currency} to {to}",
            refund_id,
        )
    )


def _write_settlement(con: duckdb.DuckDBPyConnection, plan: _Settlement, run_id: str) -> None:
    _insert(con, REFUNDS, plan.refunds, {"run_id": run_id})
    _insert(con, ORDERS, plan.orders, {"run_id": run_id, "source_file": "returns"})
    _insert(con, ORDER_LINES, plan.lines, {"run_id": run_id, "source_file": "returns"})
    if plan.updates:
        con.register("settled", _rows(plan.updates, _SETTLED, every_column=True))
        try:
            con.execute(
                f"""
                UPDATE {RETURNS.qualified} r
                SET status = s.status, status_reason = s.status_reason,
                    completed_at = s.completed_at,
                    refunded_quantity = r.refunded_quantity + coalesce(s.refunded_quantity_add, 0),
                    exchange_order_key = coalesce(s.exchange_order_key, r.exchange_order_key),
                    updated_at = $now, run_id = $run_id
                FROM settled s WHERE r.return_line_id = s.return_line_id
                  AND (r.status IS DISTINCT FROM s.status
                       OR r.status_reason IS DISTINCT FROM s.status_reason)
                """,
                {"now": plan.now, "run_id": run_id},
            )
        finally:
            con.unregister("settled")
    if plan.refunds:
        _keyed(con, "refunded_orders", (r["order_key"] for r in plan.refunds))
        try:
            con.execute(
                f"""
                UPDATE {ORDERS.qualified} o
                SET payment_status = CASE
                        WHEN o.order_total IS NULL THEN o.payment_status
                        WHEN f.paid_back + coalesce(o.channel_refunded, 0) >= o.order_total
                            THEN 'refunded'
                        ELSE 'partially_refunded' END
                FROM (SELECT order_key, sum(amount) AS paid_back FROM {REFUNDS.qualified}
                      WHERE method = 'original' GROUP BY ALL) f
                WHERE o.order_key = f.order_key
                  AND o.order_key IN (SELECT key FROM refunded_orders)
                """
            )
        finally:
            con.unregister("refunded_orders")
    _events(con, plan.events, run_id)


def settle(
    con: duckdb.DuckDBPyConnection,
    *,
    settings: ReturnSettings,
    product_names: dict[str, str],
    outbox: Path,
    run_id: str,
    now: datetime,
    result: ReturnsResult,
) -> None:
    """Refund, credit or exchange every inspected return line, per RMA and resolution
    (inside the caller's transaction)."""
    due = frame(
        con,
        f"""
        SELECT return_line_id, rma_number, order_key, line_no, sku, reason, resolution,
               exchange_sku, received_quantity - refunded_quantity AS units
        FROM {RETURNS.qualified} WHERE status = 'inspected'
        ORDER BY rma_number, line_no, return_line_id
        """,
    )
    if due.is_empty():
        return
    lap = Laps(result.seconds)
    orders, lines_of, ledgers = _money(con)
    origins = {
        (row[0], row[1]): (row[2], row[3])
        for row in con.execute(
            f"""SELECT * FROM ({_EXCHANGED_LINES_SQL}) WHERE order_key IN (
                    SELECT order_key FROM {RETURNS.qualified} WHERE status = 'inspected')"""
        ).fetchall()
    }
    lap("settle_read")
    refund_count = dict(
        con.execute(f"SELECT rma_number, count(*) FROM {REFUNDS.qualified} GROUP BY ALL").fetchall()
    )
    taken = {
        row[0]
        for row in con.execute(
            f"SELECT order_key FROM {ORDERS.qualified} WHERE channel = 'exchange'"
        ).fetchall()
    }
    plan = _Settlement(
        now=now,
        export_stamp=f"{now:%Y%m%dT%H%M%S}_{_slug(run_id)[:8]}",
        export_dir=outbox / "refunds" / now.date().isoformat(),
    )
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for line in due.iter_rows(named=True):
        method = "original" if line["resolution"] == "refund" else line["resolution"]
        groups[(line["rma_number"], method)].append(line)
    for (rma, method), group in groups.items():
        order = orders[group[0]["order_key"]]
        arrived = [line for line in group if line["units"] > 0]
        if not arrived:
            plan.close(group, status_reason="no units arrived: nothing to settle")
        elif method == "exchange":
            _exchange(plan, order, rma, group, arrived, product_names, taken, result)
        else:
            if order["channel"] == "exchange":  # paid for by the original order
                mapped = [origins.get((line["order_key"], line["line_no"])) for line in arrived]
                if None in mapped or len({m[0] for m in mapped}) != 1:
                    plan.close(
                        group,
                        status="inspected",
                        completed_at=None,
                        status_reason="refund held for review: the exchange order's lines do "
                        "not lead back to one original order",
                    )
                    result.refunds_held += 1
                    continue
                order = orders[mapped[0][0]]
                arrived = [
                    line | {"line_no": m[1]} for line, m in zip(arrived, mapped, strict=True)
                ]
            _pay_back(
                plan,
                order,
                rma,
                method,
                group,
                arrived,
                refund_count,
                result,
                lines=lines_of[order["order_key"]],
                ledger=ledgers[order["order_key"]],
                policy=settings.policy(order["channel"]),
            )
    lap("settle_compute")
    _write_settlement(con, plan, run_id)
    lap("settle_write")


# --- files after commit -----------------------------------------------------------------------

EXPORT_COLUMNS = (
    "refund_id",
    "issued_at",
    "order_key",
    "order_number",
    "channel",
    "rma_number",
    "method",
    "payment_method",
    "currency",
    "amount",
    "merchandise",
    "discount_share",
    "tax_share",
    "shipping",
    "restocking_fee",
    "units",
    "customer_name",
    "email",
)


def _refund_export(con: duckdb.DuckDBPyConnection, path: str) -> pl.DataFrame:
    """The finance export file ``path`` as it is written: its refunds with their orders."""
    rows = frame(
        con,
        f"""
        SELECT f.refund_id, strftime(f.issued_at, '%Y-%m-%dT%H:%M:%SZ') AS issued_at,
               f.order_key, o.order_number, o.channel, f.rma_number, f.method,
               f.payment_method, f.currency, f.amount, f.merchandise,
               f.discount_share, f.tax_share, f.shipping, f.restocking_fee, f.units,
               o.customer_name, o.email
        FROM {REFUNDS.qualified} f JOIN {ORDERS.qualified} o USING (order_key)
        WHERE f.export_file = $path ORDER BY f.refund_id
        """,
        {"path": path},
    ).select(EXPORT_COLUMNS)
    # Amounts stay decimals (written as 53.21, summable); the text columns carry
    # customers' and channels' words, so a formula-like cell is quoted.
    return spreadsheet_safe_frame(rows)


def write_refund_exports(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Write each finance export file whose refunds are not exported yet, then mark them
    exported (after the settlement's commit). A file already there is what a crash between
    writing and marking left: it is marked, not written again; and an exported file that
    finance moved away is never written a second time."""
    pending = [
        row[0]
        for row in con.execute(
            f"SELECT DISTINCT export_file FROM {REFUNDS.qualified} WHERE exported_at IS NULL "
            "ORDER BY 1"
        ).fetchall()
    ]
    for path in pending:
        if not Path(path).exists():
            rows = _refund_export(con, path)
            write_atomically(Path(path), lambda tmp, rows=rows: rows.write_csv(tmp))
        with transaction(con):
            con.execute(
                f"UPDATE {REFUNDS.qualified} SET exported_at = $now "
                "WHERE export_file = $path AND exported_at IS NULL",
                {"now": now, "path": path},
            )
    return len(pending)


def render_refund_export(con: duckdb.DuckDBPyConnection, export_file: str, to: Path) -> bool:
    """The finance export file ``export_file`` written again to ``to`` from the warehouse as
    it is now (every refund it carries, in its order); False (nothing written) when no refund
    names it."""
    rows = _refund_export(con, export_file)
    if rows.is_empty():
        return False
    write_atomically(Path(to), lambda tmp: rows.write_csv(tmp))
    return True


def _return_labels(con: duckdb.DuckDBPyConnection, where: str, params: list) -> pl.DataFrame:
    """One row per RMA with what its return label prints; ``where`` is fixed SQL, its values
    ``?`` bound from ``params``."""
    return frame(
        con,
        f"""
        SELECT r.rma_number, r.label_path, any_value(r.warehouse_id) AS warehouse_id,
               any_value(r.return_id) AS return_id,
               min(r.authorized_at) AS authorized_at,
               any_value(coalesce(o.order_number, o.order_key)) AS order_number,
               any_value(o.ship_name) AS ship_name, any_value(o.ship_company) AS ship_company,
               any_value(o.ship_address1) AS ship_address1,
               any_value(o.ship_address2) AS ship_address2,
               any_value(o.ship_city) AS ship_city, any_value(o.ship_region) AS ship_region,
               any_value(o.ship_postal_code) AS ship_postal_code,
               any_value(o.ship_country) AS ship_country
        FROM {RETURNS.qualified} r JOIN {ORDERS.qualified} o USING (order_key)
        WHERE {where}
        GROUP BY r.rma_number, r.label_path ORDER BY r.rma_number
        """,
        params,
    )


def _return_label(row: dict, warehouses: dict[str, dict]) -> dict:
    """The label dict (pipelines.lib.labels) of one RMA: from the customer to the warehouse."""
    w = warehouses.get(row["warehouse_id"], {})
    ship_to = {
        "name": "Returns - " + (w.get("name") or row["warehouse_id"]),
        "company": None,
        "address1": w.get("address1"),
        "address2": f"RMA {row['rma_number']}",
        "city": w.get("city"),
        "region": w.get("region"),
        "postal_code": w.get("postal_code"),
        "country": w.get("country"),
    }
    return {
        "ship_from": address(row, "ship_"),
        "ship_to": ship_to,
        "carrier": "Return authorisation",
        "service": "RETURN",
        "tracking_number": row["rma_number"],
        "ship_date": row["authorized_at"].date().isoformat(),
        "order_number": row["order_number"],
        "shipment_id": f"return request {row['return_id']}",
        "parcel": "1 of 1",
    }


def _warehouses(reference_dir: Path) -> dict[str, dict]:
    return {w["warehouse_id"]: w for w in read_reference(reference_dir, "warehouses").to_dicts()}


def write_return_labels(con: duckdb.DuckDBPyConnection, reference_dir: Path) -> int:
    """The return label of each RMA whose label file is not written yet: 4 x 6 in, from the
    customer to the warehouse, the RMA number as the barcode."""
    rmas = _return_labels(
        con, "r.label_path IS NOT NULL AND r.status IN ('authorized', 'received')", []
    )
    warehouses = _warehouses(reference_dir)
    written = 0
    for row in rmas.iter_rows(named=True):
        path = Path(row["label_path"])
        if path.exists():
            continue
        render_labels_pdf(path, [_return_label(row, warehouses)])
        written += 1
    return written


def render_return_label(
    con: duckdb.DuckDBPyConnection, *, reference_dir: Path, rma_number: str, to: Path
) -> bool:
    """The return label of ``rma_number`` drawn again to ``to`` from the warehouse as it is
    now, whatever the RMA's status; False (nothing written) when it has no label."""
    rmas = _return_labels(con, "r.rma_number = ? AND r.label_path IS NOT NULL", [rma_number])
    if rmas.is_empty():
        return False
    render_labels_pdf(
        Path(to), [_return_label(rmas.row(0, named=True), _warehouses(reference_dir))]
    )
    return True


# --- the stage --------------------------------------------------------------------------------


def run_returns_stage(
    con: duckdb.DuckDBPyConnection,
    *,
    reference_dir: Path,
    inbox: Path,
    archive_dir: Path,
    rejected_dir: Path,
    outbox: Path,
    run_id: str,
    now: datetime,
) -> ReturnsResult:
    """Requests, then inspections (each file in its own transaction), then settlement (one
    transaction), then labels and finance exports."""
    settings = load_settings(reference_dir)
    catalogue = Catalogue.load(reference_dir)
    products = read_reference(reference_dir, "products")
    names = dict(zip(products["sku"], products["name"], strict=True))
    result = ReturnsResult()

    def requests(outcome: FileOutcome, path: Path) -> int:
        records = read_request_file(path)
        apply_requests(
            con,
            records,
            settings=settings,
            skus=catalogue.skus,
            outbox=outbox,
            source_file=path.name,
            run_id=run_id,
            now=now,
            result=result,
        )
        return len(records)

    def inspections(outcome: FileOutcome, path: Path) -> int:
        records = read_inspection_file(path)
        apply_inspections(
            con,
            records,
            catalogue=catalogue,
            file_id=outcome.file_id,
            source_file=path.name,
            run_id=run_id,
            now=now,
            result=result,
        )
        return len(records)

    lap = Laps(result.seconds)
    for layout, apply in ((REQUESTS_LAYOUT, requests), (INSPECTIONS_LAYOUT, inspections)):
        for path in returns_files(inbox, layout):
            result.files.append(
                take_stage_file(
                    con,
                    path,
                    fmt=layout,
                    apply=lambda outcome, path=path, apply=apply: apply(outcome, path),
                    unreadable=(UnreadableReturnsFile,),
                    archive_dir=archive_dir,
                    rejected_dir=rejected_dir,
                    run_id=run_id,
                    now=now,
                )
            )
        lap(layout.replace(" ", "_"))
    with transaction(con):
        settle(
            con,
            settings=settings,
            product_names=names,
            outbox=outbox,
            run_id=run_id,
            now=now,
            result=result,
        )
    lap("settlement")
    result.labels_written = write_return_labels(con, reference_dir)
    lap("labels")
    result.export_files = write_refund_exports(con, now)
    lap("exports")
    return result
