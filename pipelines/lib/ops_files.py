"""Files the ops pages drop in the inbox: hold decisions and phone orders.

The pages never write the warehouse. A decision on a held order becomes a decisions file
(docs/decisions.md) that the next batch applies before validation; a phone order becomes a
direct-order CSV (docs/direct-orders.md) that the next batch's intake reads like any export.

Each file is written under a name the intake ignores (a leading ``.``), then linked to a
unique final name that is never reused: a batch sees the whole file or none of it, and two
people sending at the same second never overwrite each other.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl

from pipelines.lib.channels import UnreadableFile, direct
from pipelines.lib.files import write_new
from pipelines.lib.quality.contact_checks import email_problem, phone_problem
from pipelines.lib.quality.decisions import (
    CLEARABLE,
    LINE_FIELDS,
    OPTIONAL_COLUMNS,
    ORDER_FIELDS,
    REQUIRED_COLUMNS,
    decision_files,
    read_decisions,
)
from pipelines.lib.quality.postal import postal_problems
from pipelines.lib.reference import read_reference
from pipelines.lib.schema import DECISION_ACTIONS, HOLD_REASONS

CENT = Decimal("0.01")
#: The decisions file's columns, in the order of data/templates/decisions.csv.
DECISION_COLUMNS = (
    "decision_id",
    "order_key",
    "action",
    "reason",
    "field",
    "line_no",
    "value",
    "note",
    "decided_by",
    "decided_at",
)
#: The direct-order CSV's columns, in the order of data/templates/direct_orders.csv.
DIRECT_COLUMNS = (*direct.ORDER_FIELDS, *direct.LINE_FIELDS)
#: How staff take payment on the phone → (payment_method, payment_status) of the template.
#: Both let the order through validation (on_account only for phone and email orders).
PAYMENTS: dict[str, tuple[str, str]] = {
    "On account": ("on_account", "on_account"),
    "Card authorized": ("card", "authorized"),
}
PHONE_FILE_PREFIX = "phone_order_"
DECISIONS_FILE_PREFIX = "decisions_"
SERVICE_LEVEL_ORDER = ("standard", "expedited", "overnight")


class OpsInputError(ValueError):
    """What the user entered cannot be written; the message says why."""


# --- writing files --------------------------------------------------------------------------


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _short_id() -> str:
    return uuid.uuid4().hex[:6]


def write_new_file(
    inbox: Path, candidate: Callable[[], tuple[str, bytes]], *, attempts: int = 20
) -> Path:
    """Write a new file in ``inbox``, never replacing one (:func:`files.write_new`: whole or
    not at all); ``candidate()`` gives a (name, bytes) to try, and is asked again when that
    name is taken."""
    for _ in range(attempts):
        name, body = candidate()
        try:
            return write_new(inbox, body, [name])
        except FileExistsError:
            continue
    raise FileExistsError(f"no free file name in {inbox} after {attempts} attempts")


def _csv_bytes(columns: Sequence[str], rows: Sequence[dict]) -> bytes:
    """The rows as CSV, every value exactly as entered. Unlike the files the platform
    writes for people (files.spreadsheet_safe_frame), these are the next batch's input: a
    leading ``'`` against formula injection would be read back as part of the value (a
    phone number ``+1 212…`` would be stored as ``'+1 212…``, a note ``- gift wrap`` as
    ``'- gift wrap``). The readers take every cell as text; the values are quoted later, in
    every CSV made from them for a person."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    return out.getvalue().encode("utf-8")


# --- hold decisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """One decision on one order (docs/decisions.md): release, cancel or correct."""

    order_key: str
    action: str
    reason: str | None = None
    field: str | None = None
    line_no: int | None = None
    value: str | None = None

    def problem(self) -> str | None:
        """Why this decision cannot be sent, or None."""
        if not self.order_key.strip():
            return "no order given"
        if self.action not in DECISION_ACTIONS:
            return f'action "{self.action}" is not one of {", ".join(DECISION_ACTIONS)}'
        if self.reason is not None and (
            self.action != "release" or self.reason not in HOLD_REASONS
        ):
            return f'reason "{self.reason}" fits only a release, as one of the hold reasons'
        if self.action != "correct":
            if self.field is not None or self.value is not None or self.line_no is not None:
                return "only a correction has a field and a value"
            return None
        if self.field in LINE_FIELDS:
            if self.line_no is None or self.line_no < 1:
                return f"a line number is needed to correct {self.field}"
        elif self.field in ORDER_FIELDS:
            if self.line_no is not None:
                return f"{self.field} is an order field: no line number"
        else:
            return f'field "{self.field}" cannot be corrected'
        if self.value is None and self.field not in CLEARABLE:
            return f"a new value is needed for {self.field}"
        if self.field == "quantity" and not (self.value or "").isdigit():
            return "quantity must be a whole number of at least 1"
        if self.field == "quantity" and int(self.value or 0) < 1:
            return "quantity must be a whole number of at least 1"
        return None


def decision_rows(
    decisions: Sequence[Decision], *, decided_by: str, note: str, now: datetime
) -> list[dict]:
    """The decisions file's rows, each with its own decision id; raises OpsInputError."""
    decided_by, note = decided_by.strip(), note.strip()
    if not decided_by:
        raise OpsInputError("your name is required")
    if not note:
        raise OpsInputError("a note is required: say why")
    if not decisions:
        raise OpsInputError("no order to decide on")
    rows = []
    for decision in decisions:
        problem = decision.problem()
        if problem:
            raise OpsInputError(f"{decision.order_key}: {problem}")
        rows.append(
            {
                "decision_id": f"ops-{uuid.uuid4().hex}",
                "order_key": decision.order_key.strip(),
                "action": decision.action,
                "reason": decision.reason,
                "field": decision.field,
                "line_no": decision.line_no,
                "value": decision.value,
                "note": note,
                "decided_by": decided_by,
                "decided_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    return rows


def write_decisions(
    inbox: Path,
    decisions: Sequence[Decision],
    *,
    decided_by: str,
    note: str,
    now: datetime | None = None,
) -> Path:
    """One decisions file (one row per decision) in the inbox; returns its path.

    Raises OpsInputError, writing nothing, when the name or note is blank or a decision is
    malformed.
    """
    now = now or datetime.now(UTC)
    rows = decision_rows(decisions, decided_by=decided_by, note=note, now=now)
    body = _csv_bytes(DECISION_COLUMNS, rows)
    return write_new_file(
        inbox, lambda: (f"{DECISIONS_FILE_PREFIX}{_stamp(now)}_{_short_id()}.csv", body)
    )


PENDING_COLUMNS = ("file", *REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)


def pending_decisions(inbox: Path) -> pl.DataFrame:
    """Decisions waiting in the inbox for the next batch, one row per decision, with the file
    name (a file that cannot be read shows as one row with the reason in ``note``)."""
    frames = []
    for path in decision_files(inbox):
        try:
            frame = read_decisions(path)
        except (UnreadableFile, OSError) as exc:
            frame = pl.DataFrame({"action": ["unreadable"], "note": [str(exc)]})
        frames.append(frame.with_columns(pl.lit(path.name).alias("file")))
    schema = dict.fromkeys(PENDING_COLUMNS, pl.String)
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(
        [
            f.with_columns(
                pl.lit(None, pl.String).alias(c) for c in schema if c not in f.columns
            ).select(PENDING_COLUMNS)
            for f in frames
        ],
        how="vertical",
    )


# --- phone orders ---------------------------------------------------------------------------


def catalogue(reference_dir: Path) -> pl.DataFrame:
    """Products staff may sell: sku, name, unit_price (text, two decimals), active."""
    products = read_reference(reference_dir, "products")
    return products.select(
        "sku",
        "name",
        pl.col("unit_price").map_elements(lambda p: f"{Decimal(str(p)).quantize(CENT)}", pl.String),
        "active",
    ).sort("sku")


def destinations(reference_dir: Path) -> pl.DataFrame:
    """Countries we ship to (countries.csv, served): country, name."""
    countries = read_reference(reference_dir, "countries")
    return countries.filter(pl.col("served")).select("country", "name")


def service_levels(reference_dir: Path, country: str | None = None) -> list[str]:
    """Service levels some carrier service meets (carriers.csv), cheapest first; for a
    ship-to country, only those whose scope covers it (domestic: the warehouses' country)."""
    carriers = read_reference(reference_dir, "carriers")
    if country:
        home = set(read_reference(reference_dir, "warehouses")["country"].to_list())
        scope = "domestic" if country.upper() in home else "international"
        carriers = carriers.filter(pl.col("scope") == scope)
    levels = set(carriers["service_level"].to_list())
    return [s for s in SERVICE_LEVEL_ORDER if s in levels] + sorted(
        levels - set(SERVICE_LEVEL_ORDER)
    )


@dataclass
class PhoneLine:
    sku: str
    quantity: int
    unit_price: Decimal
    product_name: str | None = None

    @property
    def line_total(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(CENT)


@dataclass
class PhoneOrder:
    """An order taken on the phone, as the form holds it."""

    customer_name: str = ""
    email: str = ""
    phone: str = ""
    ship_company: str = ""
    ship_address1: str = ""
    ship_address2: str = ""
    ship_city: str = ""
    ship_region: str = ""
    ship_postal_code: str = ""
    ship_country: str = "US"
    service_level: str = "standard"
    payment: str = "On account"
    shipping_amount: Decimal = Decimal("0.00")
    tax_amount: Decimal = Decimal("0.00")
    currency: str = "USD"
    notes: str = ""
    lines: list[PhoneLine] = field(default_factory=list)

    @property
    def subtotal(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))

    @property
    def order_total(self) -> Decimal:
        return (self.subtotal + self.shipping_amount + self.tax_amount).quantize(CENT)


def line_problem(sku: str, quantity: int, products: pl.DataFrame) -> str | None:
    """Why a line cannot be added (unknown or discontinued SKU, quantity below 1), or None."""
    sku = sku.strip()
    if not sku:
        return "pick a product or type a SKU"
    found = products.filter(pl.col("sku") == sku.upper())
    if found.is_empty():
        return f'SKU "{sku}" is not in the catalogue'
    if not found["active"][0]:
        return f'SKU "{sku}" is discontinued'
    if quantity < 1:
        return "quantity must be at least 1"
    return None


def address_problems(order: PhoneOrder) -> dict[str, str]:
    """Problems of what is filled in, by field (email, phone, postal code): the project's
    own checks, the ones validation applies to the order later."""
    problems = {}
    if order.email.strip():
        problem = email_problem(order.email.strip())
        if problem:
            problems["email"] = problem
    if order.phone.strip():
        problem = phone_problem(order.phone.strip(), order.ship_country)
        if problem:
            problems["phone"] = problem
    postal = postal_problems(
        pl.DataFrame(
            {
                "ship_country": [order.ship_country],
                "ship_region": [order.ship_region.strip() or None],
                "ship_postal_code": [order.ship_postal_code.strip() or None],
            },
            schema=dict.fromkeys(("ship_country", "ship_region", "ship_postal_code"), pl.String),
        )
    )[0]
    if postal:
        problems["postal_code"] = postal
    return problems


def order_problems(order: PhoneOrder, products: pl.DataFrame) -> list[str]:
    """Everything that stops the order from being written: missing fields, bad values."""
    problems = []
    missing = [
        label
        for label, value in (
            ("customer name", order.customer_name),
            ("street", order.ship_address1),
            ("city", order.ship_city),
            ("country", order.ship_country),
        )
        if not value.strip()
    ]
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
    problems.extend(address_problems(order).values())
    if not order.lines:
        problems.append("the order has no lines")
    for number, line in enumerate(order.lines, start=1):
        problem = line_problem(line.sku, line.quantity, products)
        if problem:
            problems.append(f"line {number}: {problem}")
    if order.payment not in PAYMENTS:
        problems.append(f"payment must be one of {', '.join(PAYMENTS)}")
    for label, amount in (("shipping", order.shipping_amount), ("tax", order.tax_amount)):
        if amount < 0:
            problems.append(f"{label} cannot be negative")
    return problems


def new_order_id(now: datetime) -> str:
    """A call-centre order number: ``P-`` + UTC time + a random part."""
    return f"P-{_stamp(now)}-{uuid.uuid4().hex[:6].upper()}"


def phone_order_rows(order: PhoneOrder, order_id: str, now: datetime) -> list[dict]:
    """The direct-order CSV rows (one per line) of ``order``."""
    method, status = PAYMENTS[order.payment]
    head = {
        "order_id": order_id,
        "channel": "phone",
        "ordered_at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "customer_name": order.customer_name.strip(),
        "email": order.email.strip(),
        "phone": order.phone.strip(),
        "ship_name": order.customer_name.strip(),
        "ship_company": order.ship_company.strip(),
        "ship_address1": order.ship_address1.strip(),
        "ship_address2": order.ship_address2.strip(),
        "ship_city": order.ship_city.strip(),
        "ship_region": order.ship_region.strip(),
        "ship_postal_code": order.ship_postal_code.strip().upper(),
        "ship_country": order.ship_country.strip().upper(),
        "currency": order.currency,
        "service_level": order.service_level,
        "ship_complete": "false",
        "payment_method": method,
        "payment_status": status,
        "shipping_amount": f"{order.shipping_amount.quantize(CENT)}",
        "tax_amount": f"{order.tax_amount.quantize(CENT)}",
        "discount_amount": "0.00",
        "order_total": f"{order.order_total}",
        "notes": order.notes.strip(),
    }
    return [
        {
            **head,
            "line_no": number,
            "sku": line.sku.strip().upper(),
            "product_name": line.product_name or "",
            "quantity": line.quantity,
            "unit_price": f"{line.unit_price.quantize(CENT)}",
            "line_discount": "0.00",
        }
        for number, line in enumerate(order.lines, start=1)
    ]


def write_phone_order(
    inbox: Path, order: PhoneOrder, products: pl.DataFrame, *, now: datetime | None = None
) -> tuple[str, Path]:
    """Write ``order`` as a direct-order CSV in the inbox; returns (order_id, path).

    Raises OpsInputError, writing nothing, when :func:`order_problems` finds anything. The
    order id is new: a name already in the inbox gets another id.
    """
    problems = order_problems(order, products)
    if problems:
        raise OpsInputError("; ".join(problems))
    now = now or datetime.now(UTC)
    ids: list[str] = []

    def candidate() -> tuple[str, bytes]:
        ids.append(new_order_id(now))
        body = _csv_bytes(DIRECT_COLUMNS, phone_order_rows(order, ids[-1], now))
        return f"{PHONE_FILE_PREFIX}{ids[-1]}.csv", body

    path = write_new_file(inbox, candidate)
    return ids[-1], path


_PHONE_FILE = re.compile(rf"^{PHONE_FILE_PREFIX}(P-[0-9TZ]+-[0-9A-F]+)\.csv$")


def pending_phone_orders(inbox: Path) -> list[str]:
    """Order ids of phone orders written by the page and not yet read by a batch."""
    if not inbox.is_dir():
        return []
    found = (_PHONE_FILE.match(p.name) for p in inbox.iterdir() if p.is_file())
    return sorted(m.group(1) for m in found if m)
