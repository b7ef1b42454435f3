"""WooCommerce REST v3 JSON: hand-written orders in the API's shape, one per quirk."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pipelines.lib.channels import UnreadableFile, detect
from pipelines.lib.channels.direct import DirectOrderJson
from pipelines.lib.channels.woocommerce import WooCommerceJson
from tests.unit.channels.support import lines_of, order, read_all, write

ADAPTER = WooCommerceJson()

ORDER = {
    "id": 727,
    "parent_id": 0,
    "number": "727",
    "order_key": "wc_order_58d2d042d1d",
    "status": "processing",
    "currency": "USD",
    "date_created": "2017-03-22T16:28:02",
    "date_created_gmt": "2017-03-22T19:28:02",
    "date_modified_gmt": "2017-03-22T19:30:00",
    "discount_total": "2.00",
    "discount_tax": "0.00",
    "shipping_total": "10.00",
    "total": "27.35",
    "total_tax": "1.35",
    "prices_include_tax": False,
    "customer_note": "Please gift wrap",
    "billing": {
        "first_name": "John",
        "last_name": "Doe",
        "company": "",
        "address_1": "969 Market",
        "address_2": "",
        "city": "San Francisco",
        "state": "CA",
        "postcode": "94103",
        "country": "US",
        "email": "john.doe@example.com",
        "phone": "(555) 555-5555",
    },
    "shipping": {
        "first_name": "Jane",
        "last_name": "Doe",
        "company": "",
        "address_1": "1 Gift Lane",
        "address_2": "",
        "city": "Oakland",
        "state": "",
        "postcode": "",
        "country": "",
    },
    "payment_method": "bacs",
    "payment_method_title": "Direct Bank Transfer",
    "meta_data": [{"id": 1, "key": "anything", "value": {"nested": [1, "two", None]}}],
    "line_items": [
        {
            "id": 315,
            "name": "Woo Single #1",
            "product_id": 93,
            "quantity": 2,
            "subtotal": "6.00",
            "total": "4.00",
            "sku": "",
            "price": 3,
            "meta_data": [],
        },
        {
            "id": 316,
            "name": "Ship Your Idea &ndash; Color: Black &amp; White",
            "quantity": 1,
            "subtotal": "12.00",
            "total": "12.00",
            "sku": "Bar3",
            "price": 12,
        },
    ],
    "tax_lines": [],
    "shipping_lines": [{"id": 317, "method_title": "Flat Rate", "method_id": "flat_rate"}],
    "fee_lines": [],
    "coupon_lines": [{"id": 1, "code": "save2", "discount": "2", "discount_tax": "0"}],
    "refunds": [],
}


def make(**changes) -> dict:
    o = copy.deepcopy(ORDER)
    o.update(changes)
    return o


def parse(tmp_path, content, name="orders.json"):
    text = content if isinstance(content, str) else json.dumps(content, indent=2)
    return read_all(ADAPTER, write(tmp_path, name, text))


def test_single_order_list_and_json_lines_read_the_same(tmp_path):
    second = make(id=728, number="728")
    single_orders, single_lines = parse(tmp_path, ORDER, "one.json")
    list_orders, list_lines = parse(tmp_path, [ORDER, second], "list.json")
    jsonl = "\n".join(json.dumps(o) for o in (ORDER, second)) + "\n"
    lines_orders, lines_lines = parse(tmp_path, jsonl, "orders.jsonl")

    assert single_orders.height == 1
    assert list_orders["order_key"].to_list() == ["woocommerce:727", "woocommerce:728"]
    assert list_orders["source_row"].to_list() == [1, 2]
    assert lines_orders["source_row"].to_list() == [1, 2]
    cols = [c for c in list_orders.columns if c != "source_file"]
    assert lines_orders.select(cols).equals(list_orders.select(cols))
    assert list_orders.head(1).select(cols).equals(single_orders.select(cols))
    line_cols = [c for c in list_lines.columns if c != "source_file"]
    assert lines_lines.select(line_cols).equals(list_lines.select(line_cols))
    assert single_lines.height == 2 and list_lines.height == 4


def test_json_lines_with_blank_lines_number_orders_by_line(tmp_path):
    jsonl = json.dumps(ORDER) + "\n\n" + json.dumps(make(id=9)) + "\n"
    orders, _ = parse(tmp_path, jsonl, "orders.jsonl")
    assert orders["source_row"].to_list() == [1, 3]


def test_airbyte_records_are_unwrapped_and_other_streams_skipped(tmp_path):
    records = [
        {"stream": "customers", "data": {"id": 1, "email": "x@example.com"}, "emitted_at": 1},
        {"stream": "orders", "data": ORDER, "emitted_at": 2},
    ]
    orders, lines = parse(tmp_path, "\n".join(json.dumps(r) for r in records), "airbyte.jsonl")
    assert orders["order_key"].to_list() == ["woocommerce:727"]
    assert orders["source_row"].to_list() == [2]
    assert lines.height == 2


def test_money_is_exact_and_discounts_sit_on_the_lines(tmp_path):
    o_in = make(
        line_items=[
            {
                "id": 1,
                "name": "A",
                "quantity": 3,
                "price": 49.99,
                "subtotal": "149.97",
                "total": "147.97",
                "sku": "A",
            },
            {
                "id": 2,
                "name": "B",
                "quantity": 1,
                "price": 0.1,
                "subtotal": "0.10",
                "total": "0.10",
                "sku": "B",
            },
        ],
        discount_total="2.00",
        shipping_total="0",
        total_tax="0.00",
        total="148.07",
    )
    orders, lines = parse(tmp_path, o_in)
    a, b = lines_of(lines, "woocommerce:727")
    assert (a["unit_price"], a["line_discount"], a["line_total"]) == (
        Decimal("49.99"),
        Decimal("2.00"),
        Decimal("147.97"),
    )
    assert (b["unit_price"], b["line_total"]) == (Decimal("0.10"), Decimal("0.10"))
    o = order(orders, "woocommerce:727")
    assert (o["subtotal"], o["discount_amount"], o["shipping_amount"], o["order_total"]) == (
        Decimal("148.07"),
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("148.07"),
    )


def test_fee_lines_count_in_the_total(tmp_path):
    o_in = make(fee_lines=[{"id": 9, "name": "Gift wrap", "total": "5.00", "total_tax": "0"}])
    o_in["total"] = "32.35"
    orders, lines = parse(tmp_path, o_in)
    fee = lines_of(lines, "woocommerce:727")[-1]
    assert (fee["line_no"], fee["external_line_id"], fee["product_name"]) == (
        3,
        "fee:9",
        "Gift wrap",
    )
    assert (fee["line_total"], fee["requires_shipping"], fee["sku"]) == (
        Decimal("5.00"),
        False,
        None,
    )
    o = order(orders, "woocommerce:727")
    total = sum((ln["line_total"] for ln in lines_of(lines, o["order_key"])), Decimal(0))
    assert total + o["shipping_amount"] + o["tax_amount"] - o["discount_amount"] == Decimal("32.35")


def test_html_entities_in_names_are_decoded(tmp_path):
    _, lines = parse(tmp_path, ORDER)
    assert lines["product_name"].to_list() == [
        "Woo Single #1",
        "Ship Your Idea \u2013 Color: Black & White",
    ]
    assert lines["sku"].to_list() == [None, "Bar3"]


def test_ship_to_falls_back_to_billing_field_by_field(tmp_path):
    orders, _ = parse(tmp_path, ORDER)
    o = order(orders, "woocommerce:727")
    assert (o["customer_name"], o["ship_name"]) == ("John Doe", "Jane Doe")
    assert (o["ship_address1"], o["ship_city"]) == ("1 Gift Lane", "Oakland")
    assert (o["ship_region"], o["ship_postal_code"], o["ship_country"]) == ("CA", "94103", "US")
    assert (o["email"], o["phone"], o["notes"]) == (
        "john.doe@example.com",
        "(555) 555-5555",
        "Please gift wrap",
    )


def test_gmt_date_is_utc_without_an_offset(tmp_path):
    orders, _ = parse(tmp_path, ORDER)
    o = order(orders, "woocommerce:727")
    assert o["ordered_at"] == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert o["ordered_at_offset"] is None


@pytest.mark.parametrize(
    ("status", "canonical", "payment", "cancelled"),
    [
        ("pending", "received", "pending", False),
        ("on-hold", "received", "pending", False),
        ("processing", "received", "paid", False),
        ("completed", "received", "paid", False),
        ("cancelled", "cancelled", "voided", True),
        ("refunded", "cancelled", "refunded", True),
        ("failed", "received", "failed", False),
        ("trash", "cancelled", "unknown", True),
        ("wc-custom-status", "received", "unknown", False),
    ],
)
def test_status_vocabulary(tmp_path, status, canonical, payment, cancelled):
    orders, _ = parse(tmp_path, make(status=status))
    o = order(orders, "woocommerce:727")
    assert (o["channel_status"], o["status"], o["payment_status"]) == (status, canonical, payment)
    expected_at = datetime(2017, 3, 22, 19, 30, tzinfo=UTC) if cancelled else None
    assert o["cancelled_at"] == expected_at


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("completed", True),  # fulfilled and complete: the shop already shipped it
        ("Completed", True),
        ("processing", False),  # paid, awaiting fulfilment
        ("pending", False),
        ("on-hold", False),
        ("checkout-draft", False),
        ("failed", False),
        ("cancelled", False),
        ("refunded", False),
        ("trash", False),
        ("wc-custom-status", False),
        ("", False),
        (None, False),
    ],
)
def test_completed_orders_are_fulfilled_by_the_channel(tmp_path, status, expected):
    orders, _ = parse(tmp_path, make(status=status))
    assert order(orders, "woocommerce:727")["fulfilled_by_channel"] is expected


@pytest.mark.parametrize(
    ("lines", "level"),
    [
        ([{"method_id": "flat_rate", "method_title": "Flat Rate"}], "standard"),
        ([{"method_id": "ups:1:01", "method_title": "UPS Next Day Air"}], "overnight"),
        ([{"method_id": "flexible_shipping", "method_title": "Express Delivery"}], "expedited"),
        (
            [
                {"method_id": "flat_rate", "method_title": "Flat Rate"},
                {"method_id": "fedex", "method_title": "FedEx Priority Overnight"},
            ],
            "overnight",
        ),
        ([], "standard"),
    ],
)
def test_shipping_lines_set_the_service_level(tmp_path, lines, level):
    orders, _ = parse(tmp_path, make(shipping_lines=lines))
    assert orders["service_level"].to_list() == [level]


def test_the_same_order_twice_identical_is_read_once(tmp_path):
    jsonl = json.dumps(make()) + "\n" + json.dumps(make()) + "\n"
    orders, lines = parse(tmp_path, jsonl, "orders.jsonl")
    assert orders.height == 1
    assert lines["line_no"].to_list() == [1, 2]


def test_the_same_order_twice_with_conflicting_data_is_refused(tmp_path):
    jsonl = json.dumps(make(status="pending")) + "\n" + json.dumps(make(status="completed")) + "\n"
    with pytest.raises(UnreadableFile, match="conflicting data: woocommerce:727 at records"):
        parse(tmp_path, jsonl, "orders.jsonl")


def test_unusual_types_are_read_by_the_fallback_parser(tmp_path):
    """PHP sends an empty object as [] (e.g. "shipping": []); numbers where text is usual."""
    o_in = make(shipping=[], total=27.35, id="727")
    orders, lines = parse(tmp_path, [o_in])
    o = order(orders, "woocommerce:727")
    assert (o["ship_name"], o["ship_city"], o["order_total"]) == (
        "John Doe",
        "San Francisco",
        Decimal("27.35"),
    )
    assert lines.height == 2


def test_formula_text_is_kept(tmp_path):
    formula = "=cmd|' /C calc'!A0"
    o_in = make(customer_note=formula)
    o_in["line_items"][0]["name"] = formula
    orders, lines = parse(tmp_path, o_in)
    assert orders["notes"].to_list() == [formula]
    assert lines["product_name"].to_list()[0] == formula


def test_detection_tells_woocommerce_from_direct_json(tmp_path):
    head = json.dumps([ORDER]).encode()
    assert detect(head).format == "woocommerce_json"
    assert not DirectOrderJson().sniff(head)


def test_truncated_json_says_where(tmp_path):
    text = json.dumps([ORDER, make(id=728)], indent=2)
    cut = text[: len(text) // 2]
    path = write(tmp_path, "cut.json", cut)
    with pytest.raises(UnreadableFile, match="truncated JSON") as err:
        read_all(ADAPTER, path)
    assert err.value.line == cut.count("\n") + 1


def test_truncated_json_lines_record_names_its_line(tmp_path):
    text = json.dumps(ORDER) + "\n" + json.dumps(make(id=728))[:200] + "\n"
    path = write(tmp_path, "cut.jsonl", text)
    with pytest.raises(UnreadableFile, match=r"truncated JSON.*line 2") as err:
        read_all(ADAPTER, path)
    assert err.value.line == 2


def test_invalid_json_says_where(tmp_path):
    text = json.dumps([ORDER], indent=2).replace('"currency": "USD",', '"currency": USD,')
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(UnreadableFile, match="invalid JSON at line") as err:
        read_all(ADAPTER, path)
    bad_line = next(i for i, ln in enumerate(text.splitlines(), 1) if "USD," in ln)
    assert err.value.line == bad_line


def test_item_that_is_not_an_order_is_named(tmp_path):
    path = write(tmp_path, "mixed.json", json.dumps([ORDER, {"id": 5, "name": "a product"}]))
    with pytest.raises(UnreadableFile, match="item 2 is not a WooCommerce order"):
        read_all(ADAPTER, path)
    path = write(tmp_path, "scalar.json", json.dumps([ORDER, 42]))
    with pytest.raises(UnreadableFile, match="item 2 is a JSON int"):
        read_all(ADAPTER, path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"   \n", "empty file"), (b"[]", "no WooCommerce orders")],
)
def test_empty_inputs(tmp_path, content, reason):
    with pytest.raises(UnreadableFile, match=reason):
        read_all(ADAPTER, write(tmp_path, "e.json", content))


def test_binary_content_is_refused(tmp_path):
    data = json.dumps([ORDER]).encode()
    data = data[:100] + b"\x00\x01" + data[100:]
    with pytest.raises(UnreadableFile, match="binary content") as err:
        read_all(ADAPTER, write(tmp_path, "bin.json", data))
    assert err.value.byte == 100


def test_other_woocommerce_resources_are_not_taken_for_orders():
    customers = [
        {
            "id": 25,
            "date_created": "2017-03-21T16:09:28",
            "date_created_gmt": "2017-03-21T19:09:28",
            "email": "john.doe@example.com",
            "billing": ORDER["billing"],
            "shipping": ORDER["shipping"],
        }
    ]
    head = json.dumps(customers).encode()
    assert not ADAPTER.sniff(head)
    with pytest.raises(UnreadableFile, match="unknown layout"):
        detect(head)


def test_a_coupon_line_keeps_its_pre_discount_unit_price(tmp_path):
    """WooCommerce's price is total ÷ quantity; the unit price is subtotal ÷ quantity."""
    item = {"id": 1, "name": "Mug", "sku": "SKU-00001", "quantity": 2,
            "subtotal": "50.00", "total": "40.00", "price": 20}  # fmt: skip
    _, lines = parse(tmp_path, make(line_items=[item]))
    line = lines.row(0, named=True)
    assert (line["unit_price"], line["line_discount"], line["line_total"]) == (
        Decimal("25.00"),
        Decimal("10.00"),
        Decimal("40.00"),
    )
    assert line["quantity"] * line["unit_price"] - line["line_discount"] == line["line_total"]
