"""Intake behaviour: idempotency, updates, cancellations, lineage, and bad files set aside."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.lib.intake import IntakeResult, ingest_inbox, read_file
from pipelines.lib.warehouse import connect, frame, migrate, scalar

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)

DIRECT_HEADER = [
    "order_id", "channel", "ordered_at", "customer_name", "email", "phone", "ship_name",
    "ship_address1", "ship_city", "ship_region", "ship_postal_code", "ship_country", "currency",
    "service_level", "payment_method", "payment_status", "shipping_amount", "tax_amount",
    "discount_amount", "order_total", "notes", "line_no", "sku", "product_name", "quantity",
    "unit_price", "line_discount",
]  # fmt: skip


def direct_csv(orders: list[dict]) -> str:
    """A direct-order CSV (docs/direct-orders.md) for orders given as dicts with 'lines'."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=DIRECT_HEADER, lineterminator="\n")
    writer.writeheader()
    for order in orders:
        head = {k: v for k, v in order.items() if k != "lines"}
        for line in order["lines"]:
            writer.writerow({**head, **line})
    return out.getvalue()


def order(order_id: str, *, payment_status: str = "paid", lines=None, **extra) -> dict:
    lines = lines or [{"line_no": 1, "sku": "SKU-00001", "quantity": 2, "unit_price": "10.00"}]
    subtotal = sum(int(ln["quantity"]) * float(ln["unit_price"]) for ln in lines)
    return {
        "order_id": order_id,
        "channel": "phone",
        "ordered_at": "2026-11-20T09:30:00-05:00",
        "customer_name": "Ana Ruiz",
        "email": "ana@example.com",
        "ship_name": "Ana Ruiz",
        "ship_address1": "12 Main St",
        "ship_city": "Newark",
        "ship_region": "NJ",
        "ship_postal_code": "07102",
        "ship_country": "US",
        "currency": "USD",
        "service_level": "standard",
        "payment_method": "card",
        "payment_status": payment_status,
        "shipping_amount": "5.00",
        "tax_amount": "0.00",
        "discount_amount": "0.00",
        "order_total": f"{subtotal + 5:.2f}",
        "lines": lines,
        **extra,
    }


@pytest.fixture
def wh(tmp_path: Path):
    folders = {name: tmp_path / name for name in ("inbox", "archive", "rejected")}
    for folder in folders.values():
        folder.mkdir()
    path = tmp_path / "oms.duckdb"
    with connect(path) as con:
        migrate(con)

    def run(now: datetime = NOW, run_id: str = "run-1") -> IntakeResult:
        with connect(path) as con:
            return ingest_inbox(
                con,
                folders["inbox"],
                archive_dir=folders["archive"],
                rejected_dir=folders["rejected"],
                run_id=run_id,
                now=now,
            )

    def query(sql: str):
        with connect(path, read_only=True) as con:
            return frame(con, sql)

    def one(sql: str):
        with connect(path, read_only=True) as con:
            return scalar(con, sql)

    class W:
        pass

    w = W()
    w.inbox, w.archive, w.rejected = folders["inbox"], folders["archive"], folders["rejected"]
    w.run, w.query, w.one = run, query, one
    return w


def drop(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_the_same_file_twice_ingests_once(wh):
    content = direct_csv([order("P-1"), order("P-2")])
    drop(wh.inbox, "phone_orders.csv", content)
    first = wh.run()
    drop(wh.inbox, "phone_orders_copy.csv", content)
    second = wh.run(LATER, "run-2")
    assert (first.new_orders, first.lines) == (2, 2)
    assert [f.status for f in second.files] == ["duplicate"]
    assert (second.new_orders, second.updated_orders, second.lines) == (0, 0, 0)
    assert wh.one("SELECT count(*) FROM oms.orders") == 2
    assert wh.one("SELECT count(*) FROM oms.order_events") == 2
    assert not list(wh.inbox.iterdir())
    assert len(list(wh.archive.rglob("*.csv"))) == 2


def test_a_re_export_with_changes_updates_the_order_and_never_duplicates_lines(wh):
    drop(wh.inbox, "a.csv", direct_csv([order("P-1", payment_status="pending")]))
    wh.run()
    two_lines = [
        {"line_no": 1, "sku": "SKU-00001", "quantity": 2, "unit_price": "10.00"},
        {"line_no": 2, "sku": "SKU-00002", "quantity": 1, "unit_price": "3.50"},
    ]
    drop(wh.inbox, "b.csv", direct_csv([order("P-1", payment_status="paid", lines=two_lines)]))
    result = wh.run(LATER, "run-2")
    assert (result.new_orders, result.updated_orders) == (0, 1)
    got = wh.query("SELECT payment_status, order_total, source_file, run_id FROM oms.orders")
    assert got.row(0) == ("paid", pytest.approx(28.50), "b.csv", "run-2")
    lines = wh.query("SELECT line_no, sku, quantity FROM oms.order_lines ORDER BY line_no")
    assert lines.rows() == [(1, "SKU-00001", 2), (2, "SKU-00002", 1)]
    events = wh.query('SELECT event, detail FROM oms.order_events ORDER BY "at"')
    assert events["event"].to_list() == ["received", "updated"]
    assert "payment pending -> paid" in events["detail"][1]


def test_unchanged_re_export_in_a_new_file_changes_nothing(wh):
    drop(wh.inbox, "a.csv", direct_csv([order("P-1")]))
    wh.run()
    before = wh.query("SELECT * FROM oms.orders")
    # Same orders, different bytes (a note on another order): P-1 itself is unchanged.
    drop(wh.inbox, "b.csv", direct_csv([order("P-1"), order("P-9", notes="new")]))
    result = wh.run(LATER, "run-2")
    assert (result.new_orders, result.updated_orders, result.unchanged_orders) == (1, 0, 1)
    after = wh.query("SELECT * FROM oms.orders WHERE order_key = 'phone:P-1'")
    assert after.rows() == before.rows()


def test_a_cancellation_in_a_later_export_cancels_the_order_with_an_event(wh, tmp_path):
    shopify = (
        "Name,Email,Financial Status,Currency,Subtotal,Shipping,Taxes,Total,Created at,"
        "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Cancelled at,Id\n"
        "#1001,a@example.com,paid,USD,20.00,5.00,0.00,25.00,2026-11-20 10:00:00 -0500,"
        "2,Mug,10.00,SKU-00003,{cancelled},555\n"
    )
    drop(wh.inbox, "orders_export.csv", shopify.format(cancelled=""))
    wh.run()
    assert wh.one("SELECT status FROM oms.orders") == "received"
    drop(wh.inbox, "orders_export_2.csv", shopify.format(cancelled="2026-11-21 08:00:00 -0500"))
    result = wh.run(LATER, "run-2")
    assert result.cancelled_orders == 1
    assert wh.one("SELECT status FROM oms.orders") == "cancelled"
    events = wh.query('SELECT event FROM oms.order_events ORDER BY "at", event')
    assert events["event"].to_list() == ["received", "cancelled", "updated"]


def test_every_row_keeps_its_lineage(wh):
    drop(wh.inbox, "calls.csv", direct_csv([order("P-1"), order("P-2")]))
    wh.run(run_id="run-7")
    orders = wh.query("SELECT order_key, source_file, source_row, run_id FROM oms.orders")
    assert set(orders["source_file"]) == {"calls.csv"}
    assert set(orders["run_id"]) == {"run-7"}
    assert orders.sort("order_key")["source_row"].to_list() == [1, 2]
    lines = wh.query("SELECT DISTINCT source_file, run_id FROM oms.order_lines")
    assert lines.rows() == [("calls.csv", "run-7")]


BAD_FILES = {
    "empty.csv": (b"", "empty file"),
    "header_only.csv": (",".join(DIRECT_HEADER).encode() + b"\n", "no data rows"),
    "unknown.csv": (b"foo,bar,baz\n1,2,3\n", "unknown layout"),
    "semicolons.csv": (";".join(DIRECT_HEADER).encode() + b"\nP-1;phone\n", "unknown layout"),
    "binary.csv": (b"Name,Email\x00\x01\x02\xff", "NUL"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_is_set_aside_with_its_reason_and_the_batch_goes_on(wh, name):
    content, expected = BAD_FILES[name]
    drop(wh.inbox, name, content)
    drop(wh.inbox, "good.csv", direct_csv([order("P-1")]))
    result = wh.run()
    statuses = {f.name: f.status for f in result.files}
    assert statuses == {name: "rejected", "good.csv": "processed"}
    reason = (wh.rejected / f"{name}.reason.txt").read_text()
    assert expected.lower() in reason.lower()
    assert (wh.rejected / name).read_bytes() == content
    assert wh.one("SELECT count(*) FROM oms.orders") == 1
    registry = wh.query("SELECT status, reason FROM raw.files WHERE file_name = '" + name + "'")
    assert registry["status"].to_list() == ["rejected"]
    assert expected.lower() in registry["reason"][0].lower()


def test_truncated_json_says_where_it_broke(wh):
    text = json.dumps({"orders": [order("P-1")]})
    drop(wh.inbox, "direct.json", text[: len(text) // 2])
    result = wh.run()
    assert result.files[0].status == "rejected"
    reason = (wh.rejected / "direct.json.reason.txt").read_text()
    assert "line" in reason or "byte" in reason


def test_conflicting_duplicate_order_ids_in_one_file_reject_the_file(wh):
    a = order("P-1")
    b = order("P-1", lines=[{"line_no": 1, "sku": "SKU-00009", "quantity": 1, "unit_price": "1"}])
    drop(wh.inbox, "dup.json", json.dumps({"orders": [a, b]}))
    result = wh.run()
    assert result.files[0].status == "rejected"
    assert "phone:P-1" in result.files[0].reason
    assert "conflicting" in result.files[0].reason
    assert wh.one("SELECT count(*) FROM oms.orders") == 0


def test_identical_duplicate_order_ids_in_one_file_ingest_once(wh):
    drop(wh.inbox, "dup.json", json.dumps({"orders": [order("P-1"), order("P-1")]}))
    result = wh.run()
    assert result.files[0].status == "processed"
    assert wh.one("SELECT count(*) FROM oms.order_lines") == 1


def test_formula_cells_are_kept_as_plain_data(wh):
    evil = "=cmd|' /C calc'!A0"
    drop(wh.inbox, "a.csv", direct_csv([order("P-1", customer_name=evil)]))
    wh.run()
    assert wh.one("SELECT customer_name FROM oms.orders") == evil


def test_a_huge_single_line_is_rejected_or_read_without_hanging(wh):
    drop(wh.inbox, "huge.csv", b"x" * (8 * 1024 * 1024))
    result = wh.run()
    assert result.files[0].status == "rejected"
    assert "unknown layout" in result.files[0].reason


def test_email_attachments_are_ingested_as_email_orders_with_the_message_id(wh):
    msg = EmailMessage()
    msg["From"] = "buyer@example.com"
    msg["To"] = "orders@shop.example"
    msg["Subject"] = "Order"
    msg["Message-ID"] = "<abc123@mail.example.com>"
    msg.set_content("Please find my order attached.")
    msg.add_attachment(
        direct_csv([order("E-77", channel="email")]).encode(),
        maintype="text",
        subtype="csv",
        filename="order.csv",
    )
    drop(wh.inbox, "order.eml", bytes(msg))
    wh.run()
    got = wh.query("SELECT order_key, channel, source_message_id, source_file FROM oms.orders")
    assert got.rows() == [
        ("email:E-77", "email", "<abc123@mail.example.com>", "order.eml/order.csv")
    ]
    assert wh.one("SELECT order_key FROM oms.order_lines") == "email:E-77"


def test_read_file_is_a_dry_run(tmp_path):
    path = drop(tmp_path, "a.csv", direct_csv([order("P-1")]))
    parsed = read_file(path)
    assert parsed.format == "direct_csv"
    assert parsed.orders["order_key"].to_list() == ["phone:P-1"]
    assert path.exists()


def test_cli_dry_run_prints_one_json_object_per_order_and_exit_2_for_a_bad_file(tmp_path):
    good = drop(tmp_path, "a.csv", direct_csv([order("P-1"), order("P-2")]))
    bad = drop(tmp_path, "bad.csv", b"")
    runner = CliRunner()
    ok = runner.invoke(app, ["ingest", str(good), "--dry-run", "--json"])
    assert ok.exit_code == 0, ok.output
    objects = [json.loads(line) for line in ok.stdout.splitlines()]
    assert [o["order_key"] for o in objects] == ["phone:P-1", "phone:P-2"]
    assert objects[0]["order_total"] == "25.00"
    assert objects[0]["lines"][0]["sku"] == "SKU-00001"
    failed = runner.invoke(app, ["ingest", str(bad), "--dry-run", "--json"])
    assert failed.exit_code == 2
    assert "empty file" in failed.stderr
    assert failed.stdout == ""


def test_an_unexpected_adapter_error_rejects_only_that_file(wh, monkeypatch):
    from pipelines.lib.channels.direct import DirectOrderCsv

    def broken(self, path, source_file):
        raise ZeroDivisionError("adapter bug")
        yield

    drop(wh.inbox, "a.csv", direct_csv([order("P-1")]))
    monkeypatch.setattr(DirectOrderCsv, "parse", broken)
    result = wh.run()
    assert result.files[0].status == "rejected"
    assert "ZeroDivisionError: adapter bug" in result.files[0].reason
    assert (wh.rejected / "a.csv").exists()


def test_a_streamed_big_file_is_all_or_nothing_and_restores_the_memory_limit(tmp_path, monkeypatch):
    import pipelines.lib.intake as intake

    monkeypatch.setattr(intake, "READ_AHEAD_BYTES", 0)  # every file takes the streamed path
    inbox, archive, rejected = (tmp_path / n for n in ("inbox", "archive", "rejected"))
    inbox.mkdir()
    drop(inbox, "good.csv", direct_csv([order("P-1"), order("P-2")]))
    drop(inbox, "bad.csv", direct_csv([order("P-3"), order("P-4", ordered_at="")]))
    with connect(tmp_path / "oms.duckdb") as con:
        migrate(con)
        limit = scalar(con, "SELECT current_setting('memory_limit')")
        result = ingest_inbox(
            con, inbox, archive_dir=archive, rejected_dir=rejected, run_id="r", now=NOW
        )
        assert scalar(con, "SELECT current_setting('memory_limit')") == limit
        keys = frame(con, "SELECT order_key FROM oms.orders ORDER BY 1")["order_key"].to_list()
    assert {f.name: f.status for f in result.files} == {
        "good.csv": "processed",
        "bad.csv": "rejected",
    }
    assert keys == ["phone:P-1", "phone:P-2"]


def test_the_same_lines_in_another_row_order_are_no_update(wh):
    lines = [
        {"line_no": n, "sku": f"SKU-{n:05d}", "quantity": 1, "unit_price": f"{n}.00"}
        for n in range(1, 9)
    ]
    drop(wh.inbox, "a.csv", direct_csv([order("P-1", lines=lines)]))
    wh.run()
    for k, shuffled in enumerate((lines[::-1], lines[3:] + lines[:3], lines[1::2] + lines[::2])):
        extra = order(f"X-{k}")  # different bytes, so the file is not a duplicate
        drop(wh.inbox, f"b{k}.csv", direct_csv([order("P-1", lines=shuffled), extra]))
        result = wh.run(LATER, f"run-{k}")
        assert (result.updated_orders, result.unchanged_orders) == (0, 1)


def test_every_real_change_is_an_event_even_back_and_forth(wh):
    for k, city in enumerate(["Newark", "Boston", "Newark", "Boston"]):
        drop(wh.inbox, f"f{k}.csv", direct_csv([order("P-1", ship_city=city), order(f"X-{k}")]))
        wh.run(LATER, f"run-{k}")
    events = wh.query(
        "SELECT event FROM oms.order_events WHERE order_key = 'phone:P-1' ORDER BY run_id"
    )
    assert events["event"].to_list() == ["received", "updated", "updated", "updated"]
    assert wh.one("SELECT ship_city FROM oms.orders WHERE order_key = 'phone:P-1'") == "Boston"


def _woo(order_id: int, status: str) -> dict:
    """A one-line WooCommerce REST order (a list of them is an export)."""
    return {
        "id": order_id,
        "number": str(order_id),
        "status": status,
        "currency": "USD",
        "date_created_gmt": "2026-11-20T10:00:00",
        "total": "12.00",
        "shipping_total": "2.00",
        "total_tax": "0.00",
        "discount_total": "0.00",
        "billing": {"first_name": "Jo", "last_name": "Li", "email": "jo@example.com"},
        "shipping": {"country": "US", "postcode": "07102", "city": "Newark"},
        "line_items": [
            {"id": 1, "sku": "SKU-00001", "name": "Mug", "quantity": 1,
             "subtotal": "10.00", "total": "10.00", "price": 10}
        ],
    }  # fmt: skip


def test_a_channel_that_takes_back_its_cancellation_reopens_the_order(wh):
    def woo(status: str) -> str:
        return json.dumps([_woo(90, status)])

    drop(wh.inbox, "w1.json", woo("cancelled"))
    wh.run()
    assert wh.one("SELECT status FROM oms.orders") == "cancelled"
    drop(wh.inbox, "w2.json", woo("processing"))
    wh.run(LATER, "run-2")
    assert wh.one("SELECT status FROM oms.orders") == "received"
    events = wh.query('SELECT event FROM oms.order_events ORDER BY "at", event')["event"]
    assert events.to_list() == ["cancelled", "received", "reopened", "updated"]


def test_an_order_later_stages_moved_on_is_unchanged_by_the_same_export(wh, tmp_path):
    drop(wh.inbox, "a.csv", direct_csv([order("P-1")]))
    wh.run()
    with connect(tmp_path / "oms.duckdb") as con:  # as validation would
        con.execute("UPDATE oms.orders SET status = 'ready'")
    drop(wh.inbox, "b.csv", direct_csv([order("P-1"), order("X-1")]))
    result = wh.run(LATER, "run-2")
    assert (result.updated_orders, result.unchanged_orders) == (0, 1)
    assert wh.one("SELECT status FROM oms.orders WHERE order_key = 'phone:P-1'") == "ready"


def test_a_report_without_address_columns_keeps_the_address_an_earlier_one_gave(wh):
    from tests.unit.channels.support import (
        AMAZON_ALL_ORDERS_HEADER,
        AMAZON_ORDER_REPORT_HEADER,
        amazon_tsv,
    )

    new_orders = {
        "order-id": "111-0000000-0000001", "order-item-id": "1",
        "purchase-date": "2026-11-20T10:00:00+00:00",
        "payments-date": "2026-11-20T10:05:00+00:00", "buyer-email": "bo@example.com",
        "buyer-name": "Bo Li", "sku": "SKU-00001", "quantity-purchased": "1",
        "currency": "USD", "item-price": "14.99", "ship-service-level": "Standard",
        "recipient-name": "Bo Li", "ship-address-1": "1 Market St",
        "ship-city": "San Francisco", "ship-state": "CA", "ship-postal-code": "94103",
        "ship-country": "US",
    }  # fmt: skip
    all_orders = {
        "amazon-order-id": "111-0000000-0000001", "merchant-order-id": "",
        "purchase-date": "2026-11-20T10:00:00+00:00",
        "last-updated-date": "2026-11-21T08:00:00+00:00", "order-status": "Shipped",
        "fulfillment-channel": "Merchant", "sales-channel": "Amazon.com",
        "ship-service-level": "Standard", "sku": "SKU-00001", "item-status": "Shipped",
        "quantity": "1", "currency": "USD", "item-price": "14.99",
        "ship-city": "San Francisco", "ship-state": "CA", "ship-postal-code": "94103",
        "ship-country": "US",
    }  # fmt: skip
    drop(wh.inbox, "a.txt", amazon_tsv(AMAZON_ORDER_REPORT_HEADER, [new_orders]))
    wh.run()
    drop(wh.inbox, "b.txt", amazon_tsv(AMAZON_ALL_ORDERS_HEADER, [all_orders]))
    result = wh.run(LATER, "run-2")
    assert result.updated_orders == 1  # the status moved on
    row = wh.query(
        "SELECT channel_status, ship_name, ship_address1, customer_name, email FROM oms.orders"
    ).row(0)
    assert row == ("Shipped", "Bo Li", "1 Market St", "Bo Li", "bo@example.com")


def test_our_own_shipment_echoed_back_as_completed_is_not_fulfilled_by_the_channel(wh, tmp_path):
    woo = _woo
    drop(wh.inbox, "w1.json", json.dumps([woo(91, "processing"), woo(92, "processing")]))
    wh.run()
    with connect(tmp_path / "oms.duckdb") as con:  # we shipped 91 and confirmed it (feeds)
        con.execute("UPDATE oms.orders SET status = 'shipped' WHERE order_key = 'woocommerce:91'")
    # The shop marks 91 completed because we told it so; 92 was completed in the shop itself.
    drop(wh.inbox, "w2.json", json.dumps([woo(91, "completed"), woo(92, "completed")]))
    wh.run(LATER, "run-2")
    flags = dict(wh.query("SELECT order_key, fulfilled_by_channel FROM oms.orders").iter_rows())
    assert flags == {"woocommerce:91": False, "woocommerce:92": True}
