"""Customer order lookup: one order, found by its number plus the email or postal code on it.

This is what the customer-facing tracking page reads (``dashboards/app_pages/track_order.py``).
It is pure: it takes a DuckDB connection (the published snapshot, or a warehouse) and only
reads. Every query is parameterised; the customer's input never becomes SQL text.

What a customer gets back is an :class:`OrderView` holding only that order's data, with
customer-friendly labels. Internal details (warehouse ids, waves, totes, hold rule names, file
names, run ids, the events' free-text ``detail``) never reach it: texts are built from the
event *names* through the maps below, and an event this module does not know is left out.

Matching rules (:func:`find_order`):

- the order number matches exactly after trimming, case-insensitively, with or without one
  leading ``#`` on either side (``#1050`` = ``1050``);
- the secret matches the order's email (trimmed, case-insensitive) or its ship postal code
  (spaces and hyphens ignored, case-insensitive; a US ZIP+4 on the order also matches the
  5-digit ZIP the customer types);
- the snapshot keeps neither the email nor the full postal code, only their keyed hashes
  (``email_key``, ``postal_key``: :mod:`pipelines.lib.privacy`), so what the customer types is
  hashed with the same key and the hashes are compared;
- both must be non-empty; several orders may share a number across channels, and only the one
  whose secret matches is returned. If more than one still matches, the lookup is ambiguous
  and returns None, as every other failure does: callers show one generic "not found".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import quote

import duckdb

from pipelines.lib.privacy import email_lookup_value, keyed_hash, lookup_postal_keys

# --- constants others reuse --------------------------------------------------------------

#: Public tracking page of each carrier; the tracking number is appended (URL-encoded).
CARRIER_TRACKING_URLS: dict[str, str] = {
    "UPS": "https://www.ups.com/track?tracknum=",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr=",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels=",
}

#: Order status (oms.orders.status) → what the customer sees. on_hold is refined by its
#: open holds (see HOLD_ACTIONS).
ORDER_STATUS_LABELS: dict[str, str] = {
    "received": "Order received",
    "on_hold": "Being reviewed",
    "ready": "Order confirmed",
    "allocated": "Being prepared",
    "partially_allocated": "Being prepared",
    "backordered": "Waiting for stock",
    "released": "Being prepared",
    "partially_shipped": "Partly shipped",
    "shipped": "Shipped",
    "delivered": "Delivered",
    "cancelled": "Cancelled",
    "partially_returned": "Partly returned",
    "returned": "Returned",
}
#: Fallback for a status this module does not know.
UNKNOWN_STATUS_LABEL = "Being processed"

#: Label of an order (or event) held for something the customer can fix.
ACTION_NEEDED_LABEL = "We need something from you"
#: Label of a hold the customer cannot act on (risk, pricing, catalogue, duplicates, ...).
UNDER_REVIEW_LABEL = "Being reviewed"
#: Hold reasons the customer can act on → what to tell them. Every other reason is shown as
#: UNDER_REVIEW_LABEL only, never by name.
HOLD_ACTIONS: dict[str, str] = {
    "AWAITING_PAYMENT": (
        "Your payment has not been confirmed yet. Please complete the payment with the store "
        "you ordered from."
    ),
    "INCORRECT_ADDRESS": (
        "We could not verify the shipping address. Please contact us to confirm or correct it."
    ),
}

#: Event (oms.order_events.event) → the timeline text; None: internal, left out. The order of
#: the keys is the lifecycle order, used to sort events recorded at the same instant. on_hold
#: is refined by the hold reasons (ACTION_NEEDED_LABEL or UNDER_REVIEW_LABEL).
EVENT_LABELS: dict[str, str | None] = {
    "received": "Order received",
    "updated": None,
    "corrected": None,
    "reopened": "Order reopened",
    "on_hold": UNDER_REVIEW_LABEL,
    "hold_released": None,
    "ready": "Order confirmed",
    "stock_released": None,
    "allocated": "Being prepared",
    "partially_allocated": "Being prepared",
    "backordered": "Waiting for stock",
    "backorder_repromised": "New expected date for items waiting for stock",
    "released": "Being prepared",
    "partially_shipped": "Part of your order has shipped",
    "shipped": "Shipped",
    "out_for_delivery": "Out for delivery",
    "available_for_pickup": "Ready for pickup at the carrier",
    "delivery_failed": "Delivery attempt failed",
    "carrier_exception": "The carrier reported a problem with a parcel",
    "returned_to_sender": "A parcel is being returned to us",
    "delayed": "Delivery is running late",
    "shipment_delivered": "Parcel delivered",
    "delivered": "Delivered",
    "return_authorized": "Return authorised: use the return label we sent",
    "return_rejected": "Return request declined",
    "return_received": "Your return has arrived",
    "partially_returned": None,
    "returned": None,
    "refund_issued": "Refund issued",
    "exchange_created": "Replacement order created",
    "cancelled": "Order cancelled",
}

#: Parcel status (fulfilment, then carrier) → what the customer sees.
PARCEL_STATUS_LABELS: dict[str, str] = {
    "released": "Being prepared",
    "picked": "Being prepared",
    "packed": "Being prepared",
    "shipped": "Shipped",
    "in_transit": "In transit",
    "out_for_delivery": "Out for delivery",
    "available_for_pickup": "Ready for pickup at the carrier",
    "delivered": "Delivered",
    "delivery_failed": "Delivery attempt failed",
    "returned_to_sender": "Being returned to us",
    "exception": "Carrier exception: see the carrier's tracking",
}
UNKNOWN_PARCEL_LABEL = "See the carrier's tracking"

_EVENT_RANK = {name: i for i, name in enumerate(EVENT_LABELS)}
#: Reason codes in an on_hold event's detail: "on hold: REASON: ... | REASON: ...".
_HOLD_REASON_IN_DETAIL = re.compile(r"(?:^on hold: |\| )([A-Z_]+): ")


# --- the view ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    name: str
    quantity: int


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    event: str
    text: str


@dataclass(frozen=True)
class Parcel:
    carrier: str | None
    service: str | None
    tracking_number: str
    tracking_url: str | None
    status: str
    shipped_at: datetime | None
    promised_delivery_date: date | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class BackorderedLine:
    name: str
    quantity: int
    promised_date: date | None


@dataclass(frozen=True)
class OrderView:
    """One order as its customer may see it: nothing internal, nobody else's data."""

    number: str
    status: str
    #: What the customer can do about a hold (None when there is nothing to do).
    status_note: str | None
    ordered_at: datetime
    #: Where it goes, as broadly as the snapshot knows it (no city or street).
    ship_region: str | None
    ship_country: str | None
    lines: tuple[Line, ...]
    #: Oldest first.
    timeline: tuple[TimelineEntry, ...]
    parcels: tuple[Parcel, ...]
    backordered: tuple[BackorderedLine, ...]


# --- helpers -------------------------------------------------------------------------------


def tracking_url(carrier: str | None, number: str | None) -> str | None:
    """The carrier's public tracking page for ``number``; None for an unknown carrier."""
    if not carrier or not number or not number.strip():
        return None
    wanted = carrier.strip().casefold()
    for name, base in CARRIER_TRACKING_URLS.items():
        if name.casefold() == wanted:
            return base + quote(number.strip(), safe="")
    return None


def normalise_order_number(value: str | None) -> str:
    """Trimmed, without one leading '#', upper-case; '' when nothing is left."""
    text = (value or "").strip()
    if text.startswith("#"):
        text = text[1:].strip()
    return text.upper()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _hold_reasons_in(detail: str | None) -> list[str]:
    return _HOLD_REASON_IN_DETAIL.findall(detail or "")


def _hold_label(reasons: list[str]) -> tuple[str, str | None]:
    """(label, note) for a hold with these reasons: only customer-actionable ones are named."""
    actions = [HOLD_ACTIONS[r] for r in dict.fromkeys(reasons) if r in HOLD_ACTIONS]
    if actions:
        return ACTION_NEEDED_LABEL, " ".join(actions)
    return UNDER_REVIEW_LABEL, None


# SQL: the same normalisation as the helper above, on the stored values. The email and
# postal code are matched through their keyed hashes: the snapshot holds no email or full
# postal code (pipelines/lib/privacy.py).
_NUMBER_SQL = "upper(trim(regexp_replace(trim(order_number), '^#', '')))"

_FIND_SQL = f"""
    SELECT order_key, order_number, status, ordered_at, ship_region, ship_country
    FROM oms.orders
    WHERE order_number IS NOT NULL
      AND {_NUMBER_SQL} = $number
      AND (email_key = $email OR postal_key = $postal OR postal5_key = $zip5)
    LIMIT 2
"""


def find_order(
    con: duckdb.DuckDBPyConnection, order_number: str, secret: str, key: bytes
) -> OrderView | None:
    """The order with this number whose email or postal code is ``secret``; None otherwise.

    ``key`` is the platform's customer-hash key (:func:`pipelines.lib.privacy.pii_key`).
    None for empty input, an unknown number, a wrong secret and an ambiguous match alike.
    """
    number = normalise_order_number(order_number)
    email = email_lookup_value(secret)
    if not number or not email:
        return None
    postal, zip5 = lookup_postal_keys(key, secret)
    params = {"number": number, "email": keyed_hash(key, f"email:{email}"), "postal": postal}
    rows = con.execute(_FIND_SQL, {**params, "zip5": zip5}).fetchall()
    if len(rows) != 1:
        return None
    order_key, shown_number, status, ordered_at, region, country = rows[0]
    return _view(con, order_key, shown_number, status, ordered_at, region, country)


def _view(con, key, shown_number, status, ordered_at, region, country) -> OrderView:
    open_reasons = [
        r
        for (r,) in con.execute(
            "SELECT DISTINCT reason FROM oms.order_holds "
            "WHERE order_key = ? AND resolved_at IS NULL AND severity = 'hold' ORDER BY reason",
            [key],
        ).fetchall()
    ]
    events = con.execute(
        'SELECT "at", event, detail FROM oms.order_events WHERE order_key = ? ORDER BY "at"',
        [key],
    ).fetchall()
    if status == "on_hold":
        if not open_reasons:  # no hold rows (e.g. an older snapshot): the latest hold event
            held = [detail for _, event, detail in events if event == "on_hold"]
            open_reasons = _hold_reasons_in(held[-1]) if held else []
        label, note = _hold_label(open_reasons)
    else:
        label, note = ORDER_STATUS_LABELS.get(status, UNKNOWN_STATUS_LABEL), None

    lines = tuple(
        Line(name, int(qty or 0))
        for name, qty in con.execute(
            "SELECT coalesce(product_name, sku, 'Item'), quantity FROM oms.order_lines "
            "WHERE order_key = ? ORDER BY line_no",
            [key],
        ).fetchall()
    )
    parcels = tuple(
        Parcel(
            carrier=carrier,
            service=service,
            tracking_number=tracking,
            tracking_url=tracking_url(carrier, tracking),
            status=PARCEL_STATUS_LABELS.get(p_status, UNKNOWN_PARCEL_LABEL),
            shipped_at=_utc(shipped_at),
            promised_delivery_date=promised,
            delivered_at=_utc(delivered_at),
        )
        for carrier, service, tracking, p_status, shipped_at, promised, delivered_at in (
            con.execute(
                """
                SELECT p.carrier, p.service, p.tracking_number, p.status, p.shipped_at,
                       p.promised_delivery_date, p.delivered_at
                FROM oms.parcels p JOIN oms.shipments s USING (shipment_id)
                WHERE s.order_key = ? AND p.tracking_number IS NOT NULL
                  AND p.voided_at IS NULL AND p.status <> 'cancelled'
                ORDER BY coalesce(p.shipped_at, p.labelled_at), s.shipment_id, p.parcel_no
                """,
                [key],
            ).fetchall()
        )
    )
    backordered = tuple(
        BackorderedLine(name, int(qty), promised)
        for name, qty, promised in con.execute(
            """
            SELECT coalesce(l.product_name, b.sku, 'Item'), b.quantity, b.promised_date
            FROM oms.backorders b
            LEFT JOIN oms.order_lines l ON l.order_key = b.order_key AND l.line_no = b.line_no
            WHERE b.order_key = ? AND b.status = 'open'
            ORDER BY b.line_no
            """,
            [key],
        ).fetchall()
    )
    return OrderView(
        number=shown_number,
        status=label,
        status_note=note,
        ordered_at=_utc(ordered_at),
        ship_region=region,
        ship_country=country,
        lines=lines,
        timeline=_timeline(events),
        parcels=parcels,
        backordered=backordered,
    )


def _timeline(events: list[tuple[datetime, str, str | None]]) -> tuple[TimelineEntry, ...]:
    """Friendly entries, oldest first; internal and unknown events left out, and an entry that
    repeats the one before it (e.g. several "Being prepared" steps) shown once."""
    ordered = sorted(events, key=lambda e: (_utc(e[0]), _EVENT_RANK.get(e[1], len(_EVENT_RANK))))
    entries: list[TimelineEntry] = []
    for at, event, detail in ordered:
        if event == "on_hold":
            text, note = _hold_label(_hold_reasons_in(detail))
            if note:
                text = f"{text}: {note}"
        else:
            text = EVENT_LABELS.get(event)
        if text is None or (entries and entries[-1].text == text):
            continue
        entries.append(TimelineEntry(at=_utc(at), event=event, text=text))
    return tuple(entries)
