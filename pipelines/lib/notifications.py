"""The notifications stage: order events → customer messages in an outbox, exactly once,
then delivered by SMTP when it is switched on (docs/notifications.md).

Each batch:

1. **Due messages.** Order events of the last ``max_event_age_days`` that call for a message
   (:data:`KIND_OF_EVENT`) become one outbox row per (order, kind, channel) whose id —
   ``md5(order_key | kind | channel)`` — is not in ``oms.notifications`` yet, so a re-run or a
   repeated event never makes a second one. Email for every kind; SMS for
   :data:`messages.SMS_KINDS` when ``[sms] enabled``. A row is ``skipped`` with the reason when
   there is no address or number, when a marketing message (``review_request``) has no
   consent (``accepts_marketing``), when the order was cancelled since (anything but the
   cancellation's own messages), or when nothing of ours is left to say (an ``on_hold``
   without a hold the customer can fix; ``shipped`` by the channel itself).
2. **Rendering.** Messages are rendered in the language the ship-to country suggests
   (:func:`messages.locale_for`) and written as ``.eml`` files under
   ``data/outbox/mail/<date>/`` (SMS: ``.txt`` under ``data/outbox/sms/<date>/``, one line per
   part, for a gateway to pick up) before the rows are stored in one transaction.
3. **Delivery.** With ``[smtp] enabled`` the queued emails due (``next_attempt_at`` passed)
   are sent, oldest first, at most ``max_per_run`` per batch (:func:`mailer.deliver`: retries
   with backoff on 4xx, ``failed`` at once on 5xx or after ``max_attempts``). Off by default:
   the demo only fills the outbox. Delivery is at least once: a crash between the server's
   250 and the row's update sends that message again next time.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines.lib.mailer import Delivery, MailSettings, Outgoing, deliver, load_mail_settings
from pipelines.lib.messages import (
    SMS_KINDS,
    TRANSACTIONAL,
    Renderer,
    address_problem,
    build_eml,
)
from pipelines.lib.order_lookup import tracking_url
from pipelines.lib.reference import read_settings
from pipelines.lib.schema import (
    BACKORDERS,
    NOTIFICATIONS,
    ORDER_EVENTS,
    ORDER_HOLDS,
    ORDER_LINES,
    ORDERS,
    PARCELS,
    REFUNDS,
    RETURNS,
    SHIPMENTS,
)
from pipelines.lib.timing import Laps
from pipelines.lib.warehouse import frame, transaction

CONFIG_FILE = "notifications.toml"
#: The message kind each order event calls for.
KIND_OF_EVENT = {
    "ready": "order_confirmed",
    "on_hold": "action_needed",
    "backordered": "backordered",
    "partially_allocated": "backordered",
    "partially_shipped": "partially_shipped",
    "shipped": "shipped",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "delayed": "delayed",
    "return_received": "return_received",
    "refund_issued": "refund_issued",
}
#: Hold reasons the customer can fix (the others are ours to resolve: no message).
ACTIONABLE_HOLDS = ("AWAITING_PAYMENT", "INCORRECT_ADDRESS")
#: Kinds still worth sending once the order is cancelled.
AFTER_CANCELLATION = ("refund_issued",)


@dataclass(frozen=True)
class MessageSettings:
    brand: str = "Order-flow demo shop"
    support_email: str = "support@example.com"
    tracking_page_url: str = "http://127.0.0.1:8502"
    max_event_age_days: int = 14
    sms_enabled: bool = False
    smtp: MailSettings = field(default_factory=MailSettings)


def load_settings(reference_dir: Path) -> MessageSettings:
    """``notifications.toml``; absent means the defaults. A bad value is an error."""
    path = reference_dir / CONFIG_FILE
    base = MessageSettings()
    smtp_defaults = {f.name: getattr(base.smtp, f.name) for f in dataclasses.fields(MailSettings)}
    raw = read_settings(
        path,
        {
            "messages": {
                "brand": base.brand,
                "support_email": base.support_email,
                "tracking_page_url": base.tracking_page_url,
                "max_event_age_days": base.max_event_age_days,
            },
            "sms": {"enabled": base.sms_enabled},
            "smtp": smtp_defaults,
        },
    )
    messages = raw["messages"]
    for key in ("brand", "support_email", "tracking_page_url"):
        if not isinstance(messages[key], str) or not messages[key].strip():
            raise ValueError(f"{path}: messages.{key} must be a non-empty text")
    age = messages["max_event_age_days"]
    if not isinstance(age, int) or isinstance(age, bool) or age < 1:
        raise ValueError(f"{path}: messages.max_event_age_days must be a whole number >= 1")
    if not isinstance(raw["sms"]["enabled"], bool):
        raise ValueError(f"{path}: sms.enabled must be true or false")
    return MessageSettings(
        brand=messages["brand"],
        support_email=messages["support_email"],
        tracking_page_url=messages["tracking_page_url"],
        max_event_age_days=age,
        sms_enabled=raw["sms"]["enabled"],
        smtp=load_mail_settings(raw["smtp"], path),
    )


@dataclass
class NotificationResult:
    queued: int = 0
    skipped: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    emails_written: int = 0
    sms_written: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


# --- 1. what is due ----------------------------------------------------------------------


def _due(con: duckdb.DuckDBPyConnection, settings: MessageSettings, now: datetime) -> pl.DataFrame:
    """(order, kind, channel) rows not in the outbox yet, with the event behind each."""
    kinds = ", ".join(f"('{e}', '{k}')" for e, k in KIND_OF_EVENT.items())
    channels = ["('email')"] + (["('sms')"] if settings.sms_enabled else [])
    sms_kinds = ", ".join(f"'{k}'" for k in SMS_KINDS) or "''"
    due = frame(
        con,
        f"""
        WITH wanted AS (
            SELECT e.order_key, k.kind, arg_min(e.event_id, e."at") AS event_id,
                   min(e."at") AS event_at
            FROM {ORDER_EVENTS.qualified} e
            JOIN (VALUES {kinds}) k(event, kind) USING (event)
            WHERE e."at" >= $since
            GROUP BY ALL
        ),
        fanned AS (
            SELECT w.*, c.channel FROM wanted w CROSS JOIN (VALUES {", ".join(channels)}) c(channel)
            WHERE c.channel = 'email' OR w.kind IN ({sms_kinds})
            UNION ALL
            SELECT w.order_key, 'review_request', w.event_id, w.event_at, 'email'
            FROM wanted w WHERE w.kind = 'delivered'
        )
        SELECT f.*, md5(f.order_key || '|' || f.kind || '|' || f.channel) AS notification_id
        FROM fanned f
        WHERE md5(f.order_key || '|' || f.kind || '|' || f.channel)
              NOT IN (SELECT notification_id FROM {NOTIFICATIONS.qualified})
        ORDER BY f.event_at, f.order_key, f.kind, f.channel
        """,
        {"since": now - timedelta(days=settings.max_event_age_days)},
    )
    return due


# --- 2. what to say ----------------------------------------------------------------------


def _by_order(rows: pl.DataFrame) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows.iter_rows(named=True):
        out.setdefault(row["order_key"], []).append(row)
    return out


#: The order columns messages use.
_ORDER_COLUMNS = (
    "order_key, order_number, external_order_id, channel, status, customer_name, email, "
    "phone, accepts_marketing, currency, order_total, ordered_at, ship_name, ship_address1, "
    "ship_address2, ship_city, ship_region, ship_postal_code, ship_country"
)


def _fetch(con: duckdb.DuckDBPyConnection, keys: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Everything the messages of ``keys`` (order_key) need, fetched in bulk."""
    con.register("due_orders", keys)
    try:
        orders = frame(
            con,
            f"""
            SELECT {_ORDER_COLUMNS} FROM {ORDERS.qualified}
            WHERE order_key IN (SELECT order_key FROM due_orders)
            """,
        )
        lines = frame(
            con,
            f"""
            SELECT order_key, line_no, sku, product_name AS name, quantity, unit_price
            FROM {ORDER_LINES.qualified}
            WHERE order_key IN (SELECT order_key FROM due_orders)
            ORDER BY order_key, line_no
            """,
        )
        actionable = ", ".join(f"'{r}'" for r in ACTIONABLE_HOLDS)
        holds = frame(
            con,
            f"""
            SELECT order_key, reason, detail FROM {ORDER_HOLDS.qualified}
            WHERE order_key IN (SELECT order_key FROM due_orders)
              AND resolved_at IS NULL AND severity = 'hold' AND reason IN ({actionable})
            ORDER BY order_key, reason
            """,
        )
        backorders = frame(
            con,
            f"""
            SELECT b.order_key, b.sku, coalesce(l.product_name, b.sku) AS name, b.quantity,
                   b.promised_date
            FROM {BACKORDERS.qualified} b
            LEFT JOIN {ORDER_LINES.qualified} l USING (order_key, line_no)
            WHERE b.order_key IN (SELECT order_key FROM due_orders) AND b.status = 'open'
            ORDER BY b.order_key, b.line_no
            """,
        )
        parcels = frame(
            con,
            f"""
            SELECT s.order_key, p.carrier, p.service, p.tracking_number, p.status,
                   p.promised_delivery_date, p.delivered_at, s.promised_delivery_date
                       AS shipment_promise, s.delayed_at IS NOT NULL AS delayed
            FROM {PARCELS.qualified} p JOIN {SHIPMENTS.qualified} s USING (shipment_id)
            WHERE s.order_key IN (SELECT order_key FROM due_orders)
              AND p.manifest_id IS NOT NULL AND p.status <> 'cancelled'
            ORDER BY s.order_key, p.parcel_id
            """,
        )
        returned = frame(
            con,
            f"""
            SELECT r.order_key, r.sku, coalesce(l.product_name, r.sku) AS name,
                   sum(r.received_quantity)::BIGINT AS quantity
            FROM {RETURNS.qualified} r
            LEFT JOIN {ORDER_LINES.qualified} l USING (order_key, line_no)
            WHERE r.order_key IN (SELECT order_key FROM due_orders) AND r.received_quantity > 0
            GROUP BY ALL ORDER BY r.order_key, r.sku
            """,
        )
        refunds = frame(
            con,
            f"""
            SELECT order_key, sum(amount) AS amount FROM {REFUNDS.qualified}
            WHERE order_key IN (SELECT order_key FROM due_orders) GROUP BY ALL
            """,
        )
    finally:
        con.unregister("due_orders")
    return {
        "orders": orders,
        "lines": lines,
        "holds": holds,
        "backorders": backorders,
        "parcels": parcels,
        "returned": returned,
        "refunds": refunds,
    }


def _facts_from(frames: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """The fetched frames as dicts by order key (what contexts are built from)."""
    return {
        "orders": {row["order_key"]: row for row in frames["orders"].iter_rows(named=True)},
        **{
            name: _by_order(frames[name])
            for name in ("lines", "holds", "backorders", "parcels", "returned", "refunds")
        },
    }


def _context(order: dict, facts: dict[str, Any], kind: str, settings: MessageSettings) -> dict:
    key = order["order_key"]
    parcels = [
        {
            "carrier": p["carrier"],
            "service": p["service"],
            "tracking_number": p["tracking_number"],
            "tracking_url": tracking_url(p["carrier"], p["tracking_number"]),
            "promised_delivery_date": p["promised_delivery_date"],
            "status": p["status"],
            "delivered_at": p["delivered_at"],
            "delayed": p["delayed"],
            "shipment_promise": p["shipment_promise"],
        }
        for p in facts["parcels"].get(key, [])
    ]
    if kind == "out_for_delivery":
        parcels = [p for p in parcels if p["status"] != "delivered"] or parcels
    context: dict[str, Any] = {
        "brand": settings.brand,
        "support_email": settings.support_email,
        "tracking_page_url": settings.tracking_page_url,
        "order": {
            "number": order["order_number"] or order["external_order_id"],
            "key": key,
            "channel": order["channel"],
            "customer_name": order["customer_name"] or order["ship_name"],
            "email": order["email"],
            "currency": order["currency"] or "USD",
            "total": order["order_total"],
            "ordered_at": order["ordered_at"],
            "ship_to": {
                "name": order["ship_name"],
                "address1": order["ship_address1"],
                "address2": order["ship_address2"],
                "city": order["ship_city"],
                "region": order["ship_region"],
                "postal_code": order["ship_postal_code"],
                "country": order["ship_country"],
            },
        },
        "lines": [
            {
                "sku": line["sku"],
                "name": line["name"] or line["sku"],
                "quantity": line["quantity"],
                "unit_price": line["unit_price"],
            }
            for line in facts["lines"].get(key, [])
        ],
        "holds": [
            {"reason": h["reason"], "detail": h["detail"]} for h in facts["holds"].get(key, [])
        ],
        "backorders": [
            {
                "sku": b["sku"],
                "name": b["name"],
                "quantity": b["quantity"],
                "promised_date": b["promised_date"],
            }
            for b in facts["backorders"].get(key, [])
        ],
        "parcels": parcels,
    }
    context["returned"] = [
        {"sku": r["sku"], "name": r["name"], "quantity": r["quantity"]}
        for r in facts["returned"].get(key, [])
    ]
    refunded = facts["refunds"].get(key, [])
    context["refund_amount"] = refunded[0]["amount"] if refunded else None
    context["currency"] = order["currency"] or "USD"
    delivered = [p["delivered_at"] for p in parcels if p["delivered_at"] is not None]
    context["delivered_at"] = max(delivered) if delivered else None
    promises = [p["shipment_promise"] for p in parcels if p["delayed"] and p["shipment_promise"]]
    context["promised_delivery_date"] = min(promises) if promises else None
    return context


def _skip_reason(
    kind: str, channel: str, order: dict | None, having: dict[str, set[str]]
) -> str | None:
    """Why this message must not go out, or None."""
    if order is None:
        return "order not found"
    if order["status"] == "cancelled" and kind not in AFTER_CANCELLATION:
        return "order cancelled since"
    if kind == "action_needed" and order["order_key"] not in having["holds"]:
        return "no hold the customer can fix (ours to resolve)"
    if kind in ("shipped", "partially_shipped") and order["order_key"] not in having["parcels"]:
        return "shipped by the channel, which tells the customer"
    if kind == "backordered" and order["order_key"] not in having["backorders"]:
        return "nothing waits for stock any more"
    if kind not in TRANSACTIONAL and not order["accepts_marketing"]:
        return "no marketing consent (accepts_marketing is not true)"
    if channel == "email" and (problem := address_problem(order["email"])):
        return problem
    if channel == "sms" and not (order["phone"] or "").strip():
        return "no phone number"
    return None


# --- the stage ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Writer:
    """What rendering needs besides the messages (picklable: it goes to worker processes)."""

    outbox: Path
    settings: MessageSettings
    now: datetime

    def write(self, row: dict, order: dict, facts: dict[str, Any], renderer: Renderer) -> dict:
        """Render one message, write its file (directly: a file whose row was never stored
        is written again by the next run), and return the row's rendered fields. A message
        that cannot be rendered or written comes back failed with the error (the others go
        on)."""
        try:
            return self._write(row, order, facts, renderer)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            return {
                "notification_id": row["notification_id"],
                "status": "failed",
                "last_error": f"could not render: {type(exc).__name__}: {exc}",
            }

    def _write(self, row: dict, order: dict, facts: dict[str, Any], renderer: Renderer) -> dict:
        kind, channel = row["kind"], row["channel"]
        context = _context(order, facts, kind, self.settings)
        message = renderer.render(kind, context, country=order["ship_country"])
        day = self.now.strftime("%Y-%m-%d")
        out = {
            "notification_id": row["notification_id"],
            "language": message.language,
            "locale": message.locale,
        }
        if channel == "email":
            path = self.outbox / "mail" / day / f"{row['notification_id']}.eml"
            domain = self.settings.support_email.rpartition("@")[2] or "localhost"
            path.write_bytes(
                build_eml(
                    message,
                    sender=self.settings.smtp.sender,
                    recipient=row["recipient"],
                    message_id=f"<{row['notification_id']}@{domain}>",
                    date=self.now,
                )
            )
            out["subject"] = message.subject
        else:
            path = self.outbox / "sms" / day / f"{row['notification_id']}.txt"
            path.write_text(
                f"to: {row['recipient']}\n" + "\n".join(message.sms) + "\n", encoding="utf-8"
            )
            out["sms_parts"] = len(message.sms)
        out["file_path"] = str(path)
        return out


#: Below this many messages one process renders them; above, every core takes a share
#: (a worker costs about a second to start, which pays off from a few thousand messages).
PARALLEL_FROM = 4_000
_WORKER_RENDERER: Renderer | None = None


def _render_share(
    writer: _Writer, rows: list[dict], frames: dict[str, pl.DataFrame], renderer: Renderer | None
) -> list[dict]:
    """Render ``rows`` (their facts in ``frames``); in a worker its Renderer is built once."""
    global _WORKER_RENDERER
    if renderer is None:
        if _WORKER_RENDERER is None:
            _WORKER_RENDERER = Renderer()
        renderer = _WORKER_RENDERER
    facts = _facts_from(frames)
    return [writer.write(row, facts["orders"][row["order_key"]], facts, renderer) for row in rows]


def _render_all(
    writer: _Writer,
    rows: list[dict],
    frames: dict[str, pl.DataFrame],
    renderer: Renderer | None,
) -> list[dict]:
    """Rendered fields of every row, in order; split over worker processes when many."""
    for folder in ("mail", "sms"):
        (writer.outbox / folder / writer.now.strftime("%Y-%m-%d")).mkdir(
            parents=True, exist_ok=True
        )
    workers = min(os.cpu_count() or 1, 4)
    if len(rows) < PARALLEL_FROM or workers < 2:
        return _render_share(writer, rows, frames, renderer or Renderer())
    size = -(-len(rows) // workers)
    shares = [rows[i : i + size] for i in range(0, len(rows), size)]
    facts = []
    for share in shares:  # each worker gets only its orders' facts (Arrow, cheap to send)
        keys = pl.Series("order_key", list({row["order_key"] for row in share}), pl.String)
        facts.append(
            {name: f.filter(pl.col("order_key").is_in(keys)) for name, f in frames.items()}
        )
    context = multiprocessing.get_context("spawn")  # never fork a process holding DuckDB
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        done = pool.map(_render_share, [writer] * len(shares), shares, facts, [None] * len(shares))
        return [row for share in done for row in share]


def _render_due(
    con: duckdb.DuckDBPyConnection,
    due: pl.DataFrame,
    settings: MessageSettings,
    renderer: Renderer | None,
    outbox: Path,
    run_id: str,
    now: datetime,
    result: NotificationResult,
) -> pl.DataFrame:
    frames = _fetch(con, due.select("order_key").unique())
    orders = {row["order_key"]: row for row in frames["orders"].iter_rows(named=True)}
    having = {
        name: set(frames[name]["order_key"].to_list())
        for name in ("holds", "backorders", "parcels")
    }
    rows: list[dict] = []
    rendering: list[dict] = []
    for row in due.iter_rows(named=True):
        order = orders.get(row["order_key"])
        kind, channel = row["kind"], row["channel"]
        out = {**row, "status": "skipped", "attempts": 0, "created_at": now, "run_id": run_id}
        rows.append(out)
        if order is not None:
            address = order["email"] if channel == "email" else order["phone"]
            out["recipient"] = address.strip() if address else None
        reason = _skip_reason(kind, channel, order, having)
        if reason is not None:
            out["skip_reason"] = reason
            result.skipped += 1
            continue
        out["status"] = "queued"
        rendering.append(out)
        result.queued += 1
        result.by_kind[kind] = result.by_kind.get(kind, 0) + 1
        if channel == "email":
            result.emails_written += 1
        else:
            result.sms_written += 1
    writer = _Writer(outbox=outbox, settings=settings, now=now)
    for out, rendered in zip(
        rendering, _render_all(writer, rendering, frames, renderer), strict=True
    ):
        out.update(rendered)
        if out["status"] == "failed":
            result.queued -= 1
            result.failed += 1
    return pl.DataFrame(rows, infer_schema_length=None)


def _send(
    con: duckdb.DuckDBPyConnection,
    smtp: MailSettings,
    now: datetime,
    environ: Mapping[str, str],
    result: NotificationResult,
) -> None:
    waiting = frame(
        con,
        f"""
        SELECT notification_id, recipient, file_path, attempts FROM {NOTIFICATIONS.qualified}
        WHERE channel = 'email' AND status = 'queued'
          AND (next_attempt_at IS NULL OR next_attempt_at <= $now)
        ORDER BY created_at, notification_id
        LIMIT {int(smtp.max_per_run)}
        """,
        {"now": now},
    )
    if waiting.is_empty():
        return
    outgoing, missing = [], []
    for row in waiting.iter_rows(named=True):
        try:
            eml = Path(row["file_path"]).read_bytes()
        except OSError as exc:  # moved or deleted by hand: this one fails, the rest go on
            missing.append(
                Delivery(
                    notification_id=row["notification_id"],
                    status="failed",
                    attempts=row["attempts"],
                    error=f"message file unreadable: {exc}",
                    next_attempt_at=None,
                )
            )
            continue
        outgoing.append(
            Outgoing(
                notification_id=row["notification_id"],
                recipient=row["recipient"],
                eml=eml,
                attempts=row["attempts"],
            )
        )
    deliveries = missing + deliver(outgoing, smtp, now=now, environ=environ)
    if not deliveries:
        return
    done = pl.DataFrame(
        [
            {
                "notification_id": d.notification_id,
                "status": d.status,
                "attempts": d.attempts,
                "last_error": d.error,
                "next_attempt_at": d.next_attempt_at,
            }
            for d in deliveries
        ],
        schema={
            "notification_id": pl.String,
            "status": pl.String,
            "attempts": pl.Int32,
            "last_error": pl.String,
            "next_attempt_at": pl.Datetime("us", "UTC"),
        },
    )
    with transaction(con):
        con.register("delivered", done)
        con.execute(
            f"""
            UPDATE {NOTIFICATIONS.qualified} AS n
            SET status = d.status, attempts = d.attempts, last_error = d.last_error,
                next_attempt_at = d.next_attempt_at, last_attempt_at = $now,
                sent_at = CASE WHEN d.status = 'sent' THEN $now END
            FROM delivered d WHERE n.notification_id = d.notification_id
            """,
            {"now": now},
        )
        con.unregister("delivered")
    for d in deliveries:
        if d.status == "sent":
            result.sent += 1
        elif d.status == "failed":
            result.failed += 1
        else:
            result.deferred += 1


def run_notifications_stage(
    con: duckdb.DuckDBPyConnection,
    *,
    reference_dir: Path,
    outbox: Path,
    run_id: str,
    now: datetime,
    environ: Mapping[str, str] | None = None,
    renderer: Renderer | None = None,
) -> NotificationResult:
    """Due messages rendered into the outbox (exactly once), then delivered if switched on."""
    settings = load_settings(reference_dir)
    result = NotificationResult()
    lap = Laps(result.seconds)

    due = _due(con, settings, now)
    lap("select")
    if not due.is_empty():
        rows = _render_due(con, due, settings, renderer, outbox, run_id, now, result)
        lap("render")
        with transaction(con):
            con.register("new_notifications", NOTIFICATIONS.conform(rows).to_arrow())
            con.execute(
                f"""
                INSERT INTO {NOTIFICATIONS.qualified} BY NAME
                SELECT * FROM new_notifications
                WHERE notification_id NOT IN (SELECT notification_id FROM {NOTIFICATIONS.qualified})
                """
            )
            con.unregister("new_notifications")
        lap("store")
    if settings.smtp.enabled:
        _send(con, settings.smtp, now, os.environ if environ is None else environ, result)
        lap("deliver")
    return result


def outbox_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Messages by status (all statuses, zero included)."""
    counts = dict(
        con.execute(
            f"SELECT status, count(*) FROM {NOTIFICATIONS.qualified} GROUP BY status"
        ).fetchall()
    )
    return {status: counts.get(status, 0) for status in ("queued", "sent", "failed", "skipped")}


__all__ = [
    "KIND_OF_EVENT",
    "MessageSettings",
    "NotificationResult",
    "load_settings",
    "outbox_counts",
    "run_notifications_stage",
]
