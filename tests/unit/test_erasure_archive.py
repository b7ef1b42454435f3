"""Erasure in the archived and rejected input files (pipelines.lib.erasure_archive).

Each test puts real exports in the inbox and runs the real intake, which archives or
rejects them; then one customer is erased from the files and the files are read again with
the real adapters.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import polars as pl
import pytest

from pipelines.lib.erasure_archive import (
    ErasedOrder,
    coarse_location,
    postal_prefix,
    scrub_archives,
)
from pipelines.lib.generator.tracking import (
    shipped_parcels,
    tracking_timelines,
    write_tracking_files,
)
from pipelines.lib.intake import ingest_inbox, read_file
from pipelines.lib.privacy import PERSONAL_ORDER_FIELDS
from pipelines.lib.tracking_events import read_tracking_file
from pipelines.lib.warehouse import connect, migrate, scalar
from tests.orders import T0, good_line, good_order
from tests.unit.channels.support import (
    AMAZON_ALL_ORDERS_HEADER,
    AMAZON_ORDER_REPORT_HEADER,
    REPO_TEMPLATE,
    amazon_tsv,
    shopify_csv,
)
from tests.unit.inventory.conftest import StockPlatform

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
#: What the erased customer (A) wrote; none of it may be left in a scrubbed file.
A_SECRETS = ("ana.ruiz@example.com", "Ana Ruiz", "555-201-7788", "12 Birch Pl", "Springfield")
#: The other customer (B), who must be left exactly as they were.
B_SECRETS = ("bo.lee@example.org", "Bo Lee", "555-303-4411", "9 Elm St", "Portland")


class Platform:
    """A data folder and warehouse that the real intake fills from the inbox."""

    def __init__(self, root: Path):
        self.data = root / "data"
        self.inbox = self.data / "inbox"
        for name in ("inbox", "archive", "rejected"):
            (self.data / name).mkdir(parents=True)
        self.db = self.data / "warehouse" / "oms.duckdb"
        self.db.parent.mkdir()
        with connect(self.db) as con:
            migrate(con)

    def ingest(self, name: str, content: str | bytes) -> Path:
        body = content.encode("utf-8") if isinstance(content, str) else content
        (self.inbox / name).write_bytes(body)
        with connect(self.db) as con:
            result = ingest_inbox(
                con,
                self.inbox,
                archive_dir=self.data / "archive",
                rejected_dir=self.data / "rejected",
                run_id="run-1",
                now=NOW,
            )
        (outcome,) = [f for f in result.files if f.name == name]
        return Path(outcome.stored_path)

    def orders(self, where: str, params: list) -> list[ErasedOrder]:
        with connect(self.db) as con:
            rows = con.execute(
                "SELECT order_key, channel, source_format, external_order_id, order_number "
                f"FROM oms.orders WHERE {where} ORDER BY order_key",
                params,
            ).fetchall()
        assert rows, f"no stored order matches {where} {params}"
        return [ErasedOrder(*row) for row in rows]

    def erase(self, orders: list[ErasedOrder]):
        with connect(self.db) as con:
            return scrub_archives(
                con, data_dir=self.data, orders=orders, erasure_id="er-1", now=NOW
            )


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return Platform(tmp_path)


def facts(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What the real intake reads from a file, the personal order columns left out."""
    parsed = read_file(path)
    personal = [*PERSONAL_ORDER_FIELDS, "ship_postal_code"]
    return parsed.orders.drop(personal), parsed.lines


def stored(platform: Platform, key: str) -> dict:
    """The erased order as the file gives it now (read back with the real adapter)."""
    rows = [r for r in platform_orders(platform) if r["order_key"] == key]
    assert len(rows) == 1
    return rows[0]


def platform_orders(platform: Platform) -> list[dict]:
    return [
        row
        for path in sorted((platform.data / "archive").rglob("*"))
        if path.is_file()
        for row in read_file(path).orders.to_dicts()
    ]


def assert_scrubbed(platform: Platform, path: Path, erased: list[ErasedOrder], b_id: str):
    """Erase ``erased`` and check the file: (a) no trace of A, (b) B byte-identical,
    (c) the same orders, amounts, SKUs and quantities, (d) a second run changes nothing."""
    before = path.read_bytes()
    orders_before, lines_before = facts(path)

    actions = platform.erase(erased)

    assert [(a.path, a.action, a.kind) for a in actions] == [
        (str(path), "rewritten", "channel_export")
    ]
    after = path.read_bytes()
    for secret in A_SECRETS:
        assert secret.encode() not in after, secret
    for secret in B_SECRETS:
        assert after.count(secret.encode()) == before.count(secret.encode()) > 0, secret
    b_before = [line for line in before.splitlines(keepends=True) if b_id.encode() in line]
    b_after = [line for line in after.splitlines(keepends=True) if b_id.encode() in line]
    assert b_after == b_before and b_before
    orders_after, lines_after = facts(path)
    assert orders_after.equals(orders_before)
    assert lines_after.equals(lines_before)
    assert orders_after["order_total"].to_list() == orders_before["order_total"].to_list()
    assert lines_after.select("order_key", "sku", "quantity", "line_total").rows() == (
        lines_before.select("order_key", "sku", "quantity", "line_total").rows()
    )
    mtime = path.stat().st_mtime_ns
    assert platform.erase(erased) == []
    assert path.read_bytes() == after
    assert path.stat().st_mtime_ns == mtime
    return after


# --- the layouts ------------------------------------------------------------------------------


def shopify_row(name: str, who: tuple[str, ...], **extra: str) -> dict:
    email, person, phone, street, city = who
    return {
        "Name": name,
        "Email": email,
        "Financial Status": "paid",
        "Fulfillment Status": "unfulfilled",
        "Accepts Marketing": "no",
        "Currency": "USD",
        "Subtotal": "50.00",
        "Shipping": "5.00",
        "Taxes": "0.00",
        "Total": "55.00",
        "Discount Amount": "0.00",
        "Shipping Method": "Standard",
        "Created at": "2026-11-19 10:00:00 -0500",
        "Lineitem quantity": "2",
        "Lineitem name": "Mug",
        "Lineitem price": "25.00",
        "Lineitem sku": "SKU-00001",
        "Lineitem requires shipping": "true",
        "Billing Name": person,
        "Billing Street": f"{street}, Apt 2",
        "Billing Address1": street,
        "Billing Address2": "Apt 2",
        "Billing City": city,
        "Billing Zip": "'02134",
        "Billing Province": "MA",
        "Billing Country": "US",
        "Billing Phone": phone,
        "Shipping Name": person,
        "Shipping Street": f"{street}, Apt 2",
        "Shipping Address1": street,
        "Shipping Address2": "Apt 2",
        "Shipping City": city,
        "Shipping Zip": "'02134",
        "Shipping Province": "MA",
        "Shipping Country": "US",
        "Shipping Phone": phone,
        "Phone": phone,
        "Id": extra.pop("Id", ""),
        **extra,
    }


def test_shopify_export_keeps_the_other_customer_and_every_amount(platform):
    a = shopify_row("#1001", A_SECRETS, Id="7001", Notes=f"Leave with {A_SECRETS[1]}, thanks")
    a2 = {
        "Name": "#1001",
        "Email": A_SECRETS[0],
        "Created at": a["Created at"],
        "Lineitem quantity": "1",
        "Lineitem name": 'Poster 12" x 18"',
        "Lineitem price": "0.00",
        "Lineitem sku": "SKU-00002",
        "Phone": A_SECRETS[2],
    }
    b = shopify_row("#1002", B_SECRETS, Id="7002", Notes="Ring twice\nthen wait")
    path = platform.ingest("shopify_orders_export.csv", shopify_csv([b, a, a2]))
    erased = platform.orders("order_key = ?", ["shopify:7001"])

    after = assert_scrubbed(platform, path, erased, "#1002")

    assert b"Ring twice\nthen wait" in after
    got = stored(platform, "shopify:7001")
    assert (got["email"], got["customer_name"], got["ship_city"]) == (None, None, None)
    assert got["ship_postal_code"] == "021"  # the prefix, apostrophe stripped as ever


def amazon_row(order_id: str, item: str, who: tuple[str, ...], sku: str) -> dict:
    email, person, phone, street, city = who
    return {
        "order-id": order_id,
        "amazon-order-id": order_id,
        "order-item-id": item,
        "purchase-date": "2026-11-19T10:00:00-08:00",
        "last-updated-date": "2026-11-19T11:00:00-08:00",
        "order-status": "Unshipped",
        "payments-date": "2026-11-19T10:05:00-08:00",
        "buyer-email": email,
        "buyer-name": person,
        "buyer-phone-number": phone,
        "sku": sku,
        "product-name": 'Poster 12" x 18"',
        "quantity-purchased": "2",
        "quantity": "2",
        "currency": "USD",
        "item-price": "40.00",
        "item-tax": "",
        "shipping-price": "0.00",
        "ship-service-level": "Standard",
        "recipient-name": person,
        "ship-address-1": street,
        "ship-city": city,
        "ship-state": "OR",
        "ship-postal-code": "97201-1234",
        "ship-country": "US",
        "ship-phone-number": phone,
        "delivery-Instructions": "Side door",
    }


def test_amazon_order_report_with_crlf_and_bom_is_rewritten_in_place(platform):
    rows = [
        amazon_row("111-0000001-0000001", "1", A_SECRETS, "SKU-00001"),
        amazon_row("111-0000002-0000002", "2", B_SECRETS, "SKU-00002"),
        amazon_row("111-0000001-0000001", "3", A_SECRETS, "SKU-00003"),
    ]
    text = amazon_tsv(AMAZON_ORDER_REPORT_HEADER, rows, newline="\r\n")
    path = platform.ingest("amazon_new_orders.txt", b"\xef\xbb\xbf" + text.encode("utf-8"))
    erased = platform.orders("external_order_id = ?", ["111-0000001-0000001"])

    after = assert_scrubbed(platform, path, erased, "111-0000002-0000002")

    assert after.startswith(b"\xef\xbb\xbforder-id\t")
    assert after.count(b"\r\n") == 4 and after.count(b"\n") == 4
    assert stored(platform, "amazon:111-0000001-0000001")["ship_postal_code"] == "972"


def test_amazon_all_orders_report_in_windows_1252(platform):
    a_city, b_city = "Bogotá", "Portland"
    rows = [
        amazon_row("111-0000001-0000001", "1", (*A_SECRETS[:4], a_city), "SKU-00001"),
        amazon_row("111-0000002-0000002", "2", (*B_SECRETS[:4], b_city), "SKU-00002"),
    ]
    text = amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows)
    path = platform.ingest("amazon_all_orders.txt", text.encode("cp1252"))
    erased = platform.orders("external_order_id = ?", ["111-0000001-0000001"])
    before = path.read_bytes()

    actions = platform.erase(erased)

    assert [a.action for a in actions] == ["rewritten"]
    after = path.read_bytes()
    assert a_city.encode("cp1252") not in after
    assert b"\t972\tUS" in after
    assert [r for r in after.split(b"\n") if b"0000002" in r] == [
        r for r in before.split(b"\n") if b"0000002" in r
    ]
    orders_before, lines_before = facts_of(before, path)
    orders_after, lines_after = facts(path)
    assert orders_after.equals(orders_before) and lines_after.equals(lines_before)
    assert platform.erase(erased) == []


def woo_order(order_id: int, who: tuple[str, ...], note: str = "") -> dict:
    email, person, phone, street, city = who
    first, last = person.split(" ")
    address = {
        "first_name": first,
        "last_name": last,
        "company": "",
        "address_1": street,
        "address_2": "",
        "city": city,
        "state": "OR",
        "postcode": "97201",
        "country": "US",
    }
    return {
        "id": order_id,
        "number": str(order_id),
        "status": "processing",
        "currency": "USD",
        "date_created_gmt": "2026-11-19T15:00:00",
        "discount_total": "0.00",
        "shipping_total": "5.00",
        "total_tax": "0.00",
        "total": "65.00",
        "billing": {**address, "email": email, "phone": phone},
        "shipping": {**address, "phone": phone},
        "customer_ip_address": "203.0.113.7",
        "customer_note": note,
        "line_items": [
            {
                "id": order_id * 10,
                "name": "Skillet",
                "sku": "SKU-00005",
                "quantity": 2,
                "price": 30.0,
                "subtotal": "60.00",
                "total": "60.00",
            }
        ],
        "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat Rate"}],
    }


@pytest.mark.parametrize("lines", [False, True], ids=["json", "jsonl"])
def test_woocommerce_orders_keep_their_json_layout(platform, lines):
    a = woo_order(4714, A_SECRETS, note=f"Call {A_SECRETS[2]}")
    b = woo_order(4715, B_SECRETS, note="Gift wrap")
    if lines:
        content = "\n".join(json.dumps(o) for o in (a, b)) + "\n"
    else:
        content = json.dumps([a, b], indent=2)
    path = platform.ingest(f"woocommerce_orders.{'jsonl' if lines else 'json'}", content)
    erased = platform.orders("order_key = ?", ["woocommerce:4714"])
    before = path.read_bytes()

    actions = platform.erase(erased)

    assert [(a.action, a.kind) for a in actions] == [("rewritten", "channel_export")]
    after = path.read_bytes()
    for secret in (*A_SECRETS, '203.0.113.7", "customer_note": "Call'):
        assert secret.encode() not in after, secret
    documents = [json.loads(x) for x in after.splitlines()] if lines else json.loads(after.decode())
    originals = [a, b]
    assert documents[1] == originals[1]  # the other order, value for value
    erased_doc = documents[0]
    assert erased_doc["billing"]["email"] == "" and erased_doc["shipping"]["postcode"] == "972"
    assert erased_doc["line_items"] == a["line_items"] and erased_doc["total"] == a["total"]
    assert len(after.splitlines()) == len(before.splitlines())  # same layout, line for line
    if lines:
        assert after.splitlines()[1] == before.splitlines()[1]
    else:
        b_start = before.index(b'"id": 4715')
        assert after.endswith(before[b_start:])
    assert all(x.equals(y) for x, y in zip(facts(path), facts_of(before, path), strict=True))
    mtime = path.stat().st_mtime_ns
    assert platform.erase(erased) == []
    assert path.stat().st_mtime_ns == mtime


def facts_of(data: bytes, like: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`facts` of a file's earlier bytes (read under the same name elsewhere)."""
    copy = like.parent.parent / "before" / like.name
    copy.parent.mkdir(exist_ok=True)
    copy.write_bytes(data)
    try:
        return facts(copy)
    finally:
        shutil.rmtree(copy.parent)


def direct_rows(order_id: str, channel: str, who: tuple[str, ...]) -> list[dict]:
    email, person, phone, street, city = who
    order = {
        "order_id": order_id,
        "channel": channel,
        "ordered_at": "2026-11-19T10:00:00-05:00",
        "customer_name": person,
        "email": email,
        "phone": phone,
        "ship_name": person,
        "ship_address1": street,
        "ship_city": city,
        "ship_region": "IL",
        "ship_postal_code": "62701",
        "ship_country": "US",
        "payment_method": "card",
        "payment_status": "paid",
        "shipping_amount": "5.00",
        "tax_amount": "0.00",
        "notes": f"Ask for {person}, please",
    }
    return [
        {**order, "line_no": "1", "sku": "SKU-00001", "quantity": "2", "unit_price": "10.00"},
        {**order, "line_no": "2", "sku": "SKU-00002", "quantity": "1", "unit_price": "7.50"},
    ]


def direct_csv(rows: list[dict]) -> str:
    header = REPO_TEMPLATE.read_text(encoding="utf-8").splitlines()[0].split(",")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return out.getvalue()


def test_direct_csv_matches_the_order_by_channel_and_id(platform):
    # The same order id on the phone and by email: only the erased channel's rows change.
    rows = [
        *direct_rows("D-1", "phone", A_SECRETS),
        *direct_rows("D-1", "email", B_SECRETS),
    ]
    path = platform.ingest("direct_orders.csv", direct_csv(rows))
    erased = platform.orders("order_key = ?", ["phone:D-1"])

    assert_scrubbed(platform, path, erased, B_SECRETS[0])

    assert stored(platform, "email:D-1")["customer_name"] == B_SECRETS[1]


def test_direct_json_orders(platform):
    def as_json(rows: list[dict]) -> dict:
        head = {k: v for k, v in rows[0].items() if k not in ("line_no", "sku", "quantity")}
        head.pop("unit_price")
        return {
            **head,
            "lines": [
                {k: r[k] for k in ("line_no", "sku", "quantity", "unit_price")} for r in rows
            ],
        }

    doc = {
        "orders": [
            as_json(direct_rows("P-1", "phone", A_SECRETS)),
            as_json(direct_rows("P-2", "phone", B_SECRETS)),
        ]
    }
    path = platform.ingest("direct_orders.json", json.dumps(doc))
    erased = platform.orders("order_key = ?", ["phone:P-1"])
    before = path.read_bytes()

    actions = platform.erase(erased)

    assert [a.action for a in actions] == ["rewritten"]
    after = path.read_bytes()
    for secret in A_SECRETS:
        assert secret.encode() not in after
    assert json.loads(after)["orders"][1] == doc["orders"][1]
    assert after.endswith(before[before.index(b'{"order_id": "P-2"') :])
    assert all(x.equals(y) for x, y in zip(facts(path), facts_of(before, path), strict=True))
    assert platform.erase(erased) == []


# --- mail, returns, rejected files --------------------------------------------------------------


def test_an_email_order_mail_is_removed_and_others_are_kept(platform):
    def mail(order_id: str, who: tuple[str, ...]) -> bytes:
        msg = EmailMessage()
        msg["From"] = who[0]
        msg["To"] = "orders@shop.example"
        msg["Subject"] = f"Order from {who[1]}"
        msg["Message-ID"] = f"<{order_id}@mail.example.com>"
        msg.set_content(f"Hello, this is {who[1]}. My order is attached.")
        msg.add_attachment(
            direct_csv(direct_rows(order_id, "email", who)).encode(),
            maintype="text",
            subtype="csv",
            filename="order.csv",
        )
        return bytes(msg)

    a_path = platform.ingest("order-a.eml", mail("E-1", A_SECRETS))
    b_path = platform.ingest("order-b.eml", mail("E-2", B_SECRETS))
    b_bytes = b_path.read_bytes()
    erased = platform.orders("order_key = ?", ["email:E-1"])

    actions = platform.erase(erased)

    assert [(a.path, a.action, a.kind) for a in actions] == [
        (str(a_path), "removed", "email_order")
    ]
    assert "email:E-1" in actions[0].detail
    assert not a_path.exists()
    assert b_path.read_bytes() == b_bytes
    assert platform.erase(erased) == []


def test_returns_notes_of_the_erased_orders_are_blanked(platform):
    platform.ingest("direct_orders.csv", direct_csv(direct_rows("P-1", "phone", A_SECRETS)))
    platform.ingest("direct_orders_2.csv", direct_csv(direct_rows("P-2", "phone", B_SECRETS)))
    returns = (
        "return_id,order_key,order_number,channel,sku,quantity,reason,resolution,"
        "exchange_sku,requested_at,note\n"
        "R-1,phone:P-1,,,SKU-00001,1,DEFECTIVE,refund,,2026-11-20T10:00:00Z,"
        '"Ana here, it broke"\n'
        "R-2,,P-2,phone,SKU-00001,1,DEFECTIVE,refund,,2026-11-20T10:00:00Z,Bo: too small\n"
        "R-3,,P-1,,SKU-00002,1,NOT_WANTED,refund,,2026-11-20T10:00:00Z,Ana again\n"
    )
    folder = platform.data / "archive" / "2026-11-20"
    path = folder / "returns_20261120T130000.csv"
    path.write_text(returns, encoding="utf-8")
    erased = platform.orders("order_key = ?", ["phone:P-1"])

    actions = platform.erase(erased)

    returns_actions = [a for a in actions if a.kind == "returns_file"]
    assert [(a.path, a.action) for a in returns_actions] == [(str(path), "rewritten")]
    lines = path.read_text(encoding="utf-8").splitlines()
    # A quoted note stays a quoted (empty) field: the file's quoting is kept.
    assert lines[1] == 'R-1,phone:P-1,,,SKU-00001,1,DEFECTIVE,refund,,2026-11-20T10:00:00Z,""'
    assert lines[2] == returns.splitlines()[2]  # the other customer's words stay
    assert lines[3].endswith("2026-11-20T10:00:00Z,")
    assert platform.erase(erased) == []


def test_a_rejected_file_that_cannot_be_read_needs_review_and_is_left_alone(platform):
    a = shopify_row("#1001", A_SECRETS, Id="7001")
    platform.ingest("good.csv", shopify_csv([a]))
    broken = shopify_csv([a]).rstrip("\n") + ',"never closed\n'
    rejected = platform.ingest("broken.csv", broken)
    unknown = platform.ingest("note.txt", f"Customer of order #1001: {A_SECRETS[0]}\n")
    assert rejected.parent.name == unknown.parent.name == "rejected"
    kept = {p: p.read_bytes() for p in (rejected, unknown)}
    erased = platform.orders("order_key = ?", ["shopify:7001"])

    actions = platform.erase(erased)

    review = {a.path: a for a in actions if a.action == "needs_review"}
    assert set(review) == {str(rejected), str(unknown)}
    assert all(a.kind == "rejected_file" for a in review.values())
    assert "by hand" in review[str(unknown)].detail
    assert {p: p.read_bytes() for p in kept} == kept
    # Nothing was changed, so a person still has them to look at: reported again.
    assert {a.path for a in platform.erase(erased) if a.action == "needs_review"} == set(review)


def test_a_rejected_export_that_parses_as_records_is_rewritten(platform):
    a = shopify_row("#1001", A_SECRETS, Id="7001")
    b = shopify_row("#1002", B_SECRETS, Id="7002", Total="not money")
    platform.ingest("good.csv", shopify_csv([a]))
    rejected = platform.ingest("bad.csv", shopify_csv([b, a]))
    assert rejected.parent.name == "rejected"
    erased = platform.orders("order_key = ?", ["shopify:7001"])

    actions = platform.erase(erased)

    assert {(a.path, a.action, a.kind) for a in actions} >= {
        (str(rejected), "rewritten", "rejected_file")
    }
    after = rejected.read_bytes()
    assert A_SECRETS[0].encode() not in after and B_SECRETS[0].encode() in after


def test_files_that_do_not_name_the_order_are_not_read(platform, monkeypatch):
    platform.ingest("a.csv", shopify_csv([shopify_row("#1001", A_SECRETS, Id="7001")]))
    other = platform.ingest("b.csv", shopify_csv([shopify_row("#1002", B_SECRETS, Id="7002")]))
    erased = platform.orders("order_key = ?", ["shopify:7001"])
    read: list[str] = []
    real = Path.read_bytes

    def spy(self: Path) -> bytes:
        read.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    platform.erase(erased)
    assert other.name not in read


@pytest.mark.parametrize(
    ("code", "country", "prefix"),
    [
        ("94103-1234", "US", "941"),
        ("'02134", "US", "'021"),
        ("SW1A 1AA", "GB", "SW1A"),
        ("SW1A", "GB", "SW1A"),
        ("M1 1AE", "UK", "M1"),
        ("V5T 7P7", "CA", "V5T"),
        ("941", "US", "941"),
    ],
)
def test_postal_codes_are_cut_to_their_prefix_once(code, country, prefix):
    assert postal_prefix(code, country) == prefix
    assert postal_prefix(prefix, country) == prefix


# --- the played demo ----------------------------------------------------------------------------


def phone_spellings(phone: str) -> set[bytes]:
    """The ways a ten-digit number is written in the channels' files."""
    d = re.sub(r"\D", "", phone)[-10:]
    return {
        s.encode()
        for s in (
            f"{d[:3]}-{d[3:6]}-{d[6:]}",
            f"({d[:3]}) {d[3:6]}-{d[6:]}",
            f"+1{d}",
            f"+1 {d}",
            f"{d[:3]}.{d[3:6]}.{d[6:]}",
        )
    }


def archive_bytes(data: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted((data / "archive").rglob("*")) if p.is_file())


#: Customers of the demo to erase: the one with orders in the most channels (the widest
#: spread of files and phone spellings), an Amazon buyer, and one whose return has a note.
DEMO_CUSTOMERS = {
    "widest": """
        SELECT email FROM oms.orders
        WHERE email IS NOT NULL AND phone IS NOT NULL AND channel <> 'exchange'
        GROUP BY email ORDER BY count(DISTINCT channel) DESC, count(*) DESC, email LIMIT 1
    """,
    "amazon": """
        SELECT email FROM oms.orders WHERE channel = 'amazon' AND phone IS NOT NULL
        GROUP BY email ORDER BY count(*) DESC, email LIMIT 1
    """,
    "returned": """
        SELECT o.email FROM oms.returns r JOIN oms.orders o USING (order_key)
        WHERE r.note IS NOT NULL AND o.email IS NOT NULL AND o.phone IS NOT NULL
        ORDER BY r.rma_number NULLS LAST, o.email LIMIT 1
    """,
}


@pytest.mark.parametrize("who", DEMO_CUSTOMERS)
def test_erasing_a_real_customer_of_the_demo_leaves_no_trace_in_the_archive(
    demo_root, tmp_path, who
):
    shutil.copytree(demo_root / "data", tmp_path / "data", symlinks=True)
    data = tmp_path / "data"
    with connect(data / "warehouse" / "oms.duckdb") as con:
        (email,) = con.execute(DEMO_CUSTOMERS[who]).fetchone()
        # The person's orders: by email, and by phone number too, since Amazon masks the
        # buyer's email (the same person's Amazon orders have another address).
        rows = con.execute(
            """
            WITH person AS (
                SELECT DISTINCT right(regexp_replace(phone, '[^0-9]', '', 'g'), 10) AS digits
                FROM oms.orders WHERE email = $email AND phone IS NOT NULL
            )
            SELECT order_key, channel, source_format, external_order_id, order_number, phone
            FROM oms.orders
            WHERE email = $email OR right(regexp_replace(phone, '[^0-9]', '', 'g'), 10)
                IN (SELECT digits FROM person)
            """,
            {"email": email},
        ).fetchall()
        assert len(rows) >= 2 or who == "amazon"
        orders = [ErasedOrder(*row[:5]) for row in rows]
        spellings = {s for row in rows for s in phone_spellings(row[5])}
        before = archive_bytes(data)
        assert email.encode() in before and any(s in before for s in spellings)

        actions = scrub_archives(con, data_dir=data, orders=orders, erasure_id="e", now=NOW)

        assert actions and all(a.action == "rewritten" for a in actions), actions
        after = archive_bytes(data)
        left = [s for s in (email.encode(), *spellings) if s in after]
        assert left == [], left
        if who == "returned":
            assert "returns_file" in {a.kind for a in actions}
        assert scrub_archives(con, data_dir=data, orders=orders, erasure_id="e", now=NOW) == []
    # Every rewritten export still reads, with the same orders and lines as before.
    for action in actions:
        if action.kind == "channel_export":
            original = demo_root / "data" / Path(action.path).relative_to(data)
            old, new = read_file(original), read_file(Path(action.path))
            assert new.lines.equals(old.lines)
            assert new.orders["order_key"].to_list() == old.orders["order_key"].to_list()


# --- carrier tracking files ---------------------------------------------------------------------

#: Where the erased customer's (A) and the other customer's (B) parcels go.
TUSTIN = {"ship_city": "Tustin", "ship_region": "CA", "ship_postal_code": "92780"}
DALLAS = {"ship_city": "Dallas", "ship_region": "TX", "ship_postal_code": "75201"}
A_KEY, B_KEY = "shopify:1001", "shopify:1002"
LATER = timedelta(days=10)


@pytest.fixture(scope="module")
def shipped_root(tmp_path_factory) -> Path:
    """A warehouse whose two orders (A to Tustin, B to Dallas) went through allocation,
    fulfilment and shipping, and whose carrier tracking files (the demo generator's, one
    tracker JSON and one flat CSV, both naming both parcels) the shipping stage read and
    archived. Built once: each test works on a copy."""
    root = tmp_path_factory.mktemp("shipped")
    stock = StockPlatform(root)
    try:
        stock.count({("WH-NJ", "SKU-00001"): 20}, T0 - timedelta(days=1))
        stock.book(T0 - timedelta(hours=12))
        for key, where, who in ((A_KEY, TUSTIN, "Ana Ruiz"), (B_KEY, DALLAS, "Bo Lee")):
            order = good_order(key, status="ready", customer_name=who, ship_name=who, **where)
            stock.add(order, [good_line(key)])
        stock.allocate(T0)
        stock.fulfil(T0 + timedelta(minutes=1))
        stock.ship(T0 + timedelta(minutes=2))
        after = scalar(stock.con, "SELECT max(cutoff_at) FROM oms.waves") + timedelta(minutes=5)
        stock.ship(after)
        parcels = shipped_parcels(stock.con, stock.reference)
        events = tracking_timelines(parcels, now=after + LATER, seed=1)
        write_tracking_files(
            events, stock.inbox, seed=1, files=2, duplicate_share=0.2, unknown=0, stamp="t"
        )
        result = stock.ship(after + LATER)
        assert [o.status for o in result.tracking_files] == ["processed", "processed"]
    finally:
        stock.close()
    return root


@pytest.fixture
def shipped(shipped_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "shipped"
    shutil.copytree(shipped_root, root)
    return root


def tracking_numbers(root: Path) -> dict[str, str]:
    with connect(root / "oms.duckdb") as con:
        rows = con.execute(
            "SELECT s.order_key, p.tracking_number FROM oms.parcels p "
            "JOIN oms.shipments s USING (shipment_id) WHERE p.tracking_number IS NOT NULL"
        ).fetchall()
    return dict(rows)


def erase_parcels(root: Path, key: str = A_KEY) -> list:
    with connect(root / "oms.duckdb") as con:
        rows = con.execute(
            "SELECT order_key, channel, source_format, external_order_id, order_number "
            "FROM oms.orders WHERE order_key = ?",
            [key],
        ).fetchall()
        return scrub_archives(
            con,
            data_dir=root,
            orders=[ErasedOrder(*row) for row in rows],
            erasure_id="er-1",
            now=NOW,
        )


def tracking_file(root: Path, suffix: str) -> Path:
    (path,) = (root / "archive").rglob(f"tracking_*{suffix}")
    return path


def tracker_chunks(data: bytes, number: str) -> list[bytes]:
    """The bytes of each tracker object of ``number`` in the generator's compact JSON list."""
    return [
        chunk for chunk in data.split(b'{"object":"Tracker"') if f'"{number}"'.encode() in chunk
    ]


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_a_tracking_file_loses_the_erased_customers_delivery_places_only(shipped, suffix):
    numbers = tracking_numbers(shipped)
    a, b = numbers[A_KEY], numbers[B_KEY]
    path = tracking_file(shipped, suffix)
    before = path.read_bytes()
    assert a.encode() in before and b.encode() in before
    assert b"Tustin" in before and b"92780" in before and b"Dallas" in before
    events_before = read_tracking_file(path)

    actions = erase_parcels(shipped)

    assert sorted((a_.path, a_.action, a_.kind) for a_ in actions) == sorted(
        (str(tracking_file(shipped, s)), "rewritten", "tracking_file") for s in (".json", ".csv")
    )
    assert all(A_KEY in a_.detail for a_ in actions)
    after = path.read_bytes()
    assert b"Tustin" not in after and b"92780" not in after
    # B's records, byte for byte.
    if suffix == ".csv":
        b_rows = [line for line in before.splitlines(keepends=True) if b.encode() in line]
        assert [line for line in after.splitlines(keepends=True) if b.encode() in line] == b_rows
        assert after.splitlines()[0] == before.splitlines()[0]
    else:
        assert tracker_chunks(after, b) == tracker_chunks(before, b) != []
    # Read with the real reader: the same events, A's places cut to state and country.
    events_after = read_tracking_file(path)
    facts = ["tracking_number", "carrier", "status", "raw_status", "occurred_at", "message"]
    assert events_after.select(facts).equals(events_before.select(facts))
    assert events_after.filter(pl.col("tracking_number") == b).equals(
        events_before.filter(pl.col("tracking_number") == b)
    )
    a_after = events_after.filter(pl.col("tracking_number") == a)
    assert a_after.height > 0
    places = dict(zip(a_after["status"], a_after["location"], strict=True))
    assert places.get("delivered", places.get("out_for_delivery")) == "CA, US"
    assert set(a_after["location"]) <= {"CA, US", "NJ, US"}  # Tustin, or the warehouse's
    # A second run finds nothing left to do.
    mtime = path.stat().st_mtime_ns
    assert erase_parcels(shipped) == []
    assert path.read_bytes() == after and path.stat().st_mtime_ns == mtime


def test_scan_messages_and_signatures_that_name_someone_are_blanked(shipped):
    numbers = tracking_numbers(shipped)
    a, b = numbers[A_KEY], numbers[B_KEY]
    folder = shipped / "archive" / "2026-12-01"
    folder.mkdir()
    csv_path = folder / "tracking_carrier.csv"
    csv_path.write_text(
        "tracking_number,carrier,status,occurred_at,location,message,signed_by\n"
        f'{a},UPS,delivered,2026-11-27T18:00:00Z,"TUSTIN, CA, 92780, US",'
        '"Delivered, left with ANA RUIZ",A RUIZ\n'
        f'{a},UPS,out_for_delivery,2026-11-27T13:00:00Z,"TUSTIN CA 92780",'
        "Out For Delivery Today,\n"
        f'{b},UPS,delivered,2026-11-27T19:00:00Z,"DALLAS, TX 75201, US",'
        '"Delivered, left with BO LEE",B LEE\n',
        encoding="utf-8",
    )

    def tracker(number: str, city: str, zip_code: str, who: str) -> dict:
        place = {"object": "TrackingLocation", "city": city, "state": "CA", "zip": zip_code}
        return {
            "object": "Tracker",
            "tracking_code": number,
            "carrier": "UPS",
            "status": "delivered",
            "signed_by": who,
            "carrier_detail": {
                "destination_location": f"{city.upper()} CA, {zip_code}",
                "destination_tracking_location": {**place, "country": "US"},
            },
            "tracking_details": [
                {
                    "datetime": "2026-11-27T18:00:00Z",
                    "status": "delivered",
                    "message": f"Delivered, signed for by {who}",
                    "description": "Left at front door",
                    "tracking_location": {**place, "country": "US"},
                },
                {
                    "datetime": "2026-11-27T13:00:00Z",
                    "status": "out_for_delivery",
                    "message": "Out For Delivery Today",
                    "tracking_location": place,
                },
            ],
        }

    json_path = folder / "tracking_carrier.json"
    b_tracker = tracker(b, "Dallas", "75201", "BO LEE")
    json_path.write_text(
        json.dumps([tracker(a, "Tustin", "92780", "ANA RUIZ"), b_tracker], indent=2),
        encoding="utf-8",
    )
    before = {p: read_tracking_file(p) for p in (csv_path, json_path)}

    actions = erase_parcels(shipped)

    assert {(a_.path, a_.action) for a_ in actions} >= {
        (str(csv_path), "rewritten"),
        (str(json_path), "rewritten"),
    }
    rows = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    assert rows[1][4:] == ["CA, US", "", ""]  # the reader's four-part form, cut
    assert rows[2][4:] == ["", "Out For Delivery Today", ""]  # no form to cut: blanked
    assert rows[3][4:] == ["DALLAS, TX 75201, US", "Delivered, left with BO LEE", "B LEE"]
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc[1] == b_tracker
    erased = doc[0]
    assert erased["signed_by"] is None
    assert erased["carrier_detail"]["destination_location"] is None
    assert erased["carrier_detail"]["destination_tracking_location"] == {
        "object": "TrackingLocation",
        "city": None,
        "state": "CA",
        "zip": None,
        "country": "US",
    }
    delivered, out = erased["tracking_details"]
    assert delivered["message"] is None and delivered["description"] == "Left at front door"
    assert out["message"] == "Out For Delivery Today"
    assert [d["tracking_location"] for d in erased["tracking_details"]] == [
        {"object": "TrackingLocation", "city": None, "state": "CA", "zip": None, "country": "US"},
        {"object": "TrackingLocation", "city": None, "state": "CA", "zip": None},
    ]
    for path in (csv_path, json_path):
        assert b"RUIZ" not in path.read_bytes() and b"92780" not in path.read_bytes()
        facts = ["tracking_number", "carrier", "status", "occurred_at"]
        assert read_tracking_file(path).select(facts).equals(before[path].select(facts))
    assert erase_parcels(shipped) == []


@pytest.mark.parametrize(
    ("location", "coarse"),
    [
        ("Tustin, CA 92780, US", "CA, US"),
        ("TUSTIN, CA, 92780-1234, US", "CA, US"),
        ("12 Birch Pl, Springfield, MA 02134, US", "MA, US"),
        ("Toronto, ON M5V 2T6, CA", "ON, CA"),
        ("London, SW1A 1AA, GB", "GB"),
        ("Tustin CA 92780", ""),
        ("Tustin, CA 92780, United States", ""),
        ("CA, US", "CA, US"),
        ("US", "US"),
    ],
)
def test_scan_locations_are_cut_to_region_and_country_once(location, coarse):
    assert coarse_location(location) == coarse
    assert coarse_location(coarse) == coarse
