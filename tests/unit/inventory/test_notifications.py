"""The notifications stage on a real warehouse: order events → outbox rows and .eml files,
exactly once, with skip reasons; delivery to a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipelines.lib.notifications import load_settings, run_notifications_stage
from pipelines.lib.warehouse import frame
from tests.orders import T0, good_line, good_order
from tests.unit.inventory.conftest import NYC

AFTER_CUTOFF = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
BERLIN = {
    "ship_city": "Berlin",
    "ship_region": "BE",
    "ship_postal_code": "10115",
    "ship_country": "DE",
    "currency": "EUR",
}


def notify(stock, at: datetime, reference: Path | None = None):
    stock.runs += 1
    return run_notifications_stage(
        stock.con,
        reference_dir=reference or stock.reference,
        outbox=stock.outbox,
        run_id=f"run{stock.runs}",
        now=at,
        environ={},
    )


def outbox(stock) -> list[dict]:
    return frame(
        stock.con, "SELECT * FROM oms.notifications ORDER BY order_key, kind, channel"
    ).to_dicts()


def _read(path: str) -> email.message.EmailMessage:
    return email.message_from_bytes(Path(path).read_bytes(), policy=email.policy.default)


def _body(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def _shipped_orders(stock, orders):
    stock.count({(w, s): 50 for w in ("WH-NJ",) for s in ("SKU-00001", "SKU-00002")}, T0)
    stock.book(T0 + timedelta(minutes=1))
    for key, where, extra in orders:
        stock.add(
            good_order(key, status="ready", **where, **extra),
            [good_line(key, 1, quantity=1)],
        )
    stock.con.execute(
        "INSERT INTO oms.order_events SELECT md5(order_key || 'ready'), order_key, 'ready', "
        "? , 'passed validation', 'load' FROM oms.orders",
        [T0],
    )
    stock.allocate(T0 + timedelta(minutes=2))
    stock.fulfil(T0 + timedelta(minutes=3))
    stock.ship(T0 + timedelta(minutes=4))
    stock.ship(AFTER_CUTOFF)


def test_events_become_one_message_each_exactly_once(stock):
    _shipped_orders(
        stock,
        [
            ("shopify:1", NYC, {"order_number": "#1001", "customer_name": "Ana Ruiz"}),
            ("shopify:2", NYC, {"order_number": "#1002", "email": None}),
        ],
    )
    first = notify(stock, AFTER_CUTOFF + timedelta(minutes=1))
    rows = outbox(stock)
    kinds = {(r["order_key"], r["kind"], r["channel"]): r for r in rows}
    assert set(kinds) == {
        ("shopify:1", "order_confirmed", "email"),
        ("shopify:1", "shipped", "email"),
        ("shopify:2", "order_confirmed", "email"),
        ("shopify:2", "shipped", "email"),
    }
    assert kinds[("shopify:1", "shipped", "email")]["status"] == "queued"
    assert kinds[("shopify:2", "shipped", "email")]["status"] == "skipped"
    assert kinds[("shopify:2", "shipped", "email")]["skip_reason"] == "no email address"
    assert (first.queued, first.skipped) == (2, 2)

    shipped = kinds[("shopify:1", "shipped", "email")]
    message = _read(shipped["file_path"])
    number = stock.con.execute("SELECT tracking_number FROM oms.parcels").fetchall()[0][0]
    assert message["To"] == "ana.ruiz@example.com" and "#1001" in message["Subject"]
    body = _body(message)
    assert number in body and "Ana" in body
    assert shipped["recipient"] == "ana.ruiz@example.com" and shipped["language"] == "en"

    # A re-run, and the same event again, make nothing new.
    stock.con.execute(
        "INSERT INTO oms.order_events SELECT md5(event_id || 'again'), order_key, event, "
        "\"at\" + INTERVAL 1 HOUR, detail, run_id FROM oms.order_events WHERE event = 'shipped'"
    )
    again = notify(stock, AFTER_CUTOFF + timedelta(hours=2))
    assert (again.queued, again.skipped) == (0, 0)
    assert outbox(stock) == rows


def test_the_country_picks_the_language_and_the_locale_formats(stock):
    _shipped_orders(stock, [("shopify:7", BERLIN, {"order_number": "#7007"})])
    notify(stock, AFTER_CUTOFF + timedelta(minutes=1))
    shipped = next(r for r in outbox(stock) if r["kind"] == "shipped")
    assert shipped["language"] == "de" and shipped["locale"].startswith("de")
    message = _read(shipped["file_path"])
    assert "#7007" in message["Subject"]
    body = _body(message)
    assert "Bestellung" in body


def test_consent_cancellation_and_holds_decide_what_is_skipped(stock):
    _shipped_orders(
        stock,
        [
            ("shopify:1", NYC, {"accepts_marketing": True}),
            ("shopify:2", NYC, {"accepts_marketing": False}),
        ],
    )
    parcels = dict(
        stock.con.execute(
            "SELECT s.order_key, p.tracking_number FROM oms.parcels p "
            "JOIN oms.shipments s USING (shipment_id)"
        ).fetchall()
    )
    day = datetime(2026, 11, 23, 18, tzinfo=UTC)
    path = stock.inbox / "t.csv"
    path.write_text(
        "tracking_number,carrier,status,occurred_at,location,message\n"
        + "".join(f"{n},UPS,delivered,{day.isoformat()},,Delivered\n" for n in parcels.values()),
        encoding="utf-8",
    )
    stock.ship(day + timedelta(hours=1))
    # An order on hold for something only we can fix: no "action needed" message.
    stock.add(good_order("shopify:3", status="on_hold"), [good_line("shopify:3", 1)])
    stock.con.execute(
        "INSERT INTO oms.order_holds (hold_id, order_key, rule, reason, severity, detail, "
        "opened_at, opened_run_id) VALUES ('h3', 'shopify:3', 'sku_known', 'UNKNOWN_SKU', "
        "'hold', 'SKU-X unknown', ?, 'load')",
        [day],
    )
    stock.con.execute(
        "INSERT INTO oms.order_events VALUES ('e3', 'shopify:3', 'on_hold', ?, 'on hold', 'x')",
        [day],
    )
    notify(stock, day + timedelta(hours=2))
    rows = {(r["order_key"], r["kind"]): r for r in outbox(stock)}
    assert rows[("shopify:1", "review_request")]["status"] == "queued"
    assert rows[("shopify:2", "review_request")]["status"] == "skipped"
    assert "consent" in rows[("shopify:2", "review_request")]["skip_reason"]
    assert rows[("shopify:1", "delivered")]["status"] == "queued"  # transactional: always
    assert rows[("shopify:2", "delivered")]["status"] == "queued"
    assert rows[("shopify:3", "action_needed")]["status"] == "skipped"
    assert rows[("shopify:3", "action_needed")]["skip_reason"].startswith("no hold the customer")
    review = _read(rows[("shopify:1", "review_request")]["file_path"])
    assert review["List-Unsubscribe"]


def test_an_actionable_hold_tells_the_customer_what_to_do(stock):
    stock.add(
        good_order("shopify:9", status="on_hold", order_number="#9009"), [good_line("shopify:9")]
    )
    stock.con.execute(
        "INSERT INTO oms.order_holds (hold_id, order_key, rule, reason, severity, detail, "
        "opened_at, opened_run_id) VALUES ('h9', 'shopify:9', 'paid', 'AWAITING_PAYMENT', "
        "'hold', 'payment is \"pending\"', ?, 'load')",
        [T0],
    )
    stock.con.execute(
        "INSERT INTO oms.order_events VALUES ('e9', 'shopify:9', 'on_hold', ?, 'on hold', 'x')",
        [T0],
    )
    notify(stock, T0 + timedelta(minutes=5))
    (row,) = outbox(stock)
    assert (row["kind"], row["status"]) == ("action_needed", "queued")
    body = _body(_read(row["file_path"]))
    assert "#9009" in body and "pay" in body.lower()


def test_old_events_are_not_messaged(stock):
    stock.add(good_order("shopify:5", status="ready"), [good_line("shopify:5")])
    stock.con.execute(
        "INSERT INTO oms.order_events VALUES ('e5', 'shopify:5', 'ready', ?, 'passed', 'x')",
        [T0 - timedelta(days=30)],
    )
    result = notify(stock, T0)
    assert (result.queued, result.skipped) == (0, 0) and outbox(stock) == []


class _Recorder:
    """An SMTP handler that answers RCPT with the next scripted reply and records mail."""

    def __init__(self, replies: list[str]):
        self.replies = replies
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.replies.pop(0) if self.replies else "250 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"


def _smtp_reference(stock, port: int) -> Path:
    text = (stock.reference / "notifications.toml").read_text(encoding="utf-8")
    text = text.replace("enabled = false\nhost", "enabled = true\nhost", 1)
    text = text.replace('host = "localhost"', 'host = "127.0.0.1"').replace(
        "port = 25", f"port = {port}"
    )
    text = text.replace("backoff_seconds = 60.0", "backoff_seconds = 0.01")
    text = text.replace("retries_per_run = 2", "retries_per_run = 1")
    (stock.reference / "notifications.toml").write_text(text, encoding="utf-8")
    assert load_settings(stock.reference).smtp.enabled
    return stock.reference


def test_messages_are_sent_to_a_real_smtp_server_with_retry_and_permanent_failure(
    stock, smtp_server
):
    _shipped_orders(
        stock,
        [
            ("shopify:1", NYC, {"order_number": "#1001"}),
            ("shopify:2", NYC, {"order_number": "#1002", "email": "nobody@example.com"}),
        ],
    )
    # First RCPT: try later; the retry is accepted. Then: permanent for nobody@.
    handler = _Recorder(["451 4.3.0 Try again later", "250 OK", "250 OK", "250 OK"])
    port = smtp_server(handler)
    reference = _smtp_reference(stock, port)

    original = handler.handle_RCPT

    async def rcpt(server, session, envelope, address, options):
        if address.startswith("nobody@"):
            return "550 5.1.1 User unknown"
        return await original(server, session, envelope, address, options)

    handler.handle_RCPT = rcpt
    result = notify(stock, AFTER_CUTOFF + timedelta(minutes=1), reference)
    rows = {(r["order_key"], r["kind"]): r for r in outbox(stock)}
    ana = [r for k, r in rows.items() if k[0] == "shopify:1"]
    assert {r["status"] for r in ana} == {"sent"}
    assert sorted(r["attempts"] for r in ana) == [1, 2]  # one needed a retry after the 451
    nobody = [r for k, r in rows.items() if k[0] == "shopify:2"]
    assert {r["status"] for r in nobody} == {"failed"}
    assert all("550" in r["last_error"] and r["attempts"] == 1 for r in nobody)
    assert (result.sent, result.failed) == (2, 2)
    delivered = [_read_bytes(content) for _, _, content in handler.received]
    assert sorted(m["Subject"] for m in delivered) == sorted(r["subject"] for r in ana)

    # Nothing goes out twice, and failed messages are not tried again.
    again = notify(stock, AFTER_CUTOFF + timedelta(hours=1), reference)
    assert (again.sent, again.failed, again.deferred) == (0, 0, 0)
    assert len(handler.received) == 2


def _read_bytes(content: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(content, policy=email.policy.default)


def test_worker_processes_render_exactly_what_one_process_renders(stock, tmp_path, monkeypatch):
    import pipelines.lib.notifications as notifications

    _shipped_orders(
        stock,
        [
            ("shopify:1", NYC, {"order_number": "#1001"}),
            ("shopify:2", BERLIN, {"order_number": "#1002"}),
            ("shopify:3", NYC, {"order_number": "#1003", "email": None}),
        ],
    )
    at = AFTER_CUTOFF + timedelta(minutes=1)
    serial = notify(stock, at)
    files = {
        Path(r["file_path"]).name: Path(r["file_path"]).read_bytes()
        for r in outbox(stock)
        if r["file_path"]
    }
    rows = [{k: v for k, v in r.items() if k not in ("run_id",)} for r in outbox(stock)]
    stock.con.execute("DELETE FROM oms.notifications")
    monkeypatch.setattr(notifications, "PARALLEL_FROM", 1)
    monkeypatch.setattr(notifications.os, "cpu_count", lambda: 2)
    parallel = notify(stock, at)
    assert (parallel.queued, parallel.skipped) == (serial.queued, serial.skipped) == (4, 2)
    again = [{k: v for k, v in r.items() if k not in ("run_id",)} for r in outbox(stock)]
    assert again == rows
    assert {
        Path(r["file_path"]).name: Path(r["file_path"]).read_bytes()
        for r in outbox(stock)
        if r["file_path"]
    } == files


def test_an_unusable_address_is_skipped_and_the_others_still_go(stock):
    for key, address in (("shopify:1", "none"), ("shopify:2", "josé@example.com")):
        stock.add(good_order(key, status="ready", email=address), [good_line(key)])
    stock.add(good_order("shopify:3", status="ready"), [good_line("shopify:3")])
    stock.con.execute(
        "INSERT INTO oms.order_events SELECT md5(order_key), order_key, 'ready', ?, 'ok', 'x' "
        "FROM oms.orders",
        [T0],
    )
    result = notify(stock, T0 + timedelta(minutes=5))
    rows = {r["order_key"]: r for r in outbox(stock)}
    assert (result.queued, result.skipped) == (1, 2)
    assert rows["shopify:3"]["status"] == "queued"
    for key in ("shopify:1", "shopify:2"):
        assert rows[key]["status"] == "skipped"
        assert rows[key]["skip_reason"].startswith("unusable email address")
    again = notify(stock, T0 + timedelta(minutes=10))  # nothing stuck, nothing repeated
    assert (again.queued, again.skipped) == (0, 0)


def test_a_message_file_removed_before_sending_fails_alone(stock, smtp_server):
    _shipped_orders(stock, [(f"shopify:{n}", NYC, {"order_number": f"#{n}"}) for n in (1, 2)])
    handler = _Recorder([])
    reference = _smtp_reference(stock, smtp_server(handler))
    text = (reference / "notifications.toml").read_text(encoding="utf-8")
    (reference / "notifications.toml").write_text(
        text.replace("enabled = true\nhost", "enabled = false\nhost"), encoding="utf-8"
    )
    notify(stock, AFTER_CUTOFF + timedelta(minutes=1), reference)  # outbox only
    gone = outbox(stock)[0]
    Path(gone["file_path"]).unlink()
    (reference / "notifications.toml").write_text(text, encoding="utf-8")
    sent = notify(stock, AFTER_CUTOFF + timedelta(minutes=2), reference)
    rows = {r["notification_id"]: r for r in outbox(stock)}
    assert rows[gone["notification_id"]]["status"] == "failed"
    assert "message file unreadable" in rows[gone["notification_id"]]["last_error"]
    assert sent.sent == len(rows) - 1 == len(handler.received)
