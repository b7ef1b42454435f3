"""Direct (phone/email) orders in the platform's template, docs/direct-orders.md."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pipelines.lib.channels import UnreadableFile, detect
from pipelines.lib.channels.direct import DirectOrderCsv, DirectOrderJson
from pipelines.lib.channels.woocommerce import WooCommerceJson
from tests.unit.channels.support import REPO_TEMPLATE, lines_of, order, read_all, write

CSV = DirectOrderCsv()
JSON = DirectOrderJson()


def template_header() -> list[str]:
    return REPO_TEMPLATE.read_text(encoding="utf-8").splitlines()[0].split(",")


def direct_csv(rows: list[dict], header: list[str] | None = None) -> str:
    header = header or template_header()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return out.getvalue()


P1001 = {
    "order_id": "P-1001",
    "channel": "phone",
    "ordered_at": "2026-11-20T14:05:00-05:00",
    "customer_name": "Ana Ruiz",
    "email": "ana@example.com",
    "phone": "+1 555 0100",
    "accepts_marketing": "true",
    "ship_name": "Ana Ruiz",
    "ship_address1": "1 Main St",
    "ship_city": "Springfield",
    "ship_region": "IL",
    "ship_postal_code": "62701",
    "ship_country": "us",
    "service_level": "overnight",
    "ship_by": "2026-11-21T17:00:00-05:00",
    "ship_complete": "true",
    "payment_method": "card",
    "payment_status": "paid",
    "shipping_amount": "9.95",
    "tax_amount": "1.60",
    "notes": "Call before\ndelivery",
}


def line(no: int, sku: str, qty: int, price: str, **extra) -> dict:
    return {
        "line_no": str(no),
        "sku": sku,
        "product_name": f"Item {sku}",
        "quantity": str(qty),
        "unit_price": price,
        **extra,
    }


def test_template_file_is_recognised(tmp_path):
    path = write(tmp_path, "orders.csv", direct_csv([{**P1001, **line(1, "SKU-1", 1, "1.00")}]))
    assert detect(path.read_bytes()).format == "direct_csv"


def test_csv_order_with_lines(tmp_path):
    rows = [
        {**P1001, **line(1, "SKU-00017", 2, "19.99")},
        {**P1001, **line(2, "SKU-00018", 1, "5.00", line_discount="1.00")},
        {
            "order_id": "E-7",
            "channel": "email",
            "ordered_at": "2026-11-21T09:00:00Z",
            "currency": "gbp",
            "payment_status": "on_account",
            **line(1, "SKU-1", 3, "2.50"),
        },
    ]
    orders, lines = read_all(CSV, write(tmp_path, "orders.csv", direct_csv(rows)))
    o = order(orders, "phone:P-1001")
    assert (o["channel"], o["source_format"], o["external_order_id"]) == (
        "phone",
        "direct_csv",
        "P-1001",
    )
    assert (o["ordered_at"], o["ordered_at_offset"]) == (
        datetime(2026, 11, 20, 19, 5, tzinfo=UTC),
        "-05:00",
    )
    assert o["ship_by"] == datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
    assert (o["service_level"], o["ship_complete"], o["payment_status"]) == (
        "overnight",
        True,
        "paid",
    )
    assert (o["ship_country"], o["currency"], o["accepts_marketing"]) == ("US", "USD", True)
    assert o["notes"] == "Call before\ndelivery"
    assert (o["subtotal"], o["order_total"]) == (Decimal("43.98"), Decimal("55.53"))
    assert [(ln["line_no"], ln["line_total"]) for ln in lines_of(lines, "phone:P-1001")] == [
        (1, Decimal("39.98")),
        (2, Decimal("4.00")),
    ]
    e = order(orders, "email:E-7")
    assert (e["currency"], e["payment_status"], e["service_level"], e["ship_complete"]) == (
        "GBP",
        "on_account",
        "standard",
        False,
    )
    assert e["source_row"] == 3


def test_channel_defaults_to_phone_and_is_part_of_the_identity(tmp_path):
    rows = [
        {**P1001, "channel": "", **line(1, "A", 1, "1.00")},
        {**P1001, "channel": "email", **line(1, "B", 1, "2.00")},
    ]
    orders, lines = read_all(CSV, write(tmp_path, "o.csv", direct_csv(rows)))
    assert sorted(orders["order_key"]) == ["email:P-1001", "phone:P-1001"]
    assert lines_of(lines, "email:P-1001")[0]["sku"] == "B"


def test_first_row_of_an_order_wins_and_line_no_may_be_left_out(tmp_path):
    header = [h for h in template_header() if h != "line_no"]
    rows = [
        {**P1001, **line(0, "A", 1, "1.00")},
        {**P1001, "customer_name": "Someone Else", **line(0, "B", 2, "2.00")},
    ]
    orders, lines = read_all(CSV, write(tmp_path, "o.csv", direct_csv(rows, header)))
    assert orders["customer_name"].to_list() == ["Ana Ruiz"]
    assert [(ln["line_no"], ln["sku"]) for ln in lines.to_dicts()] == [(1, "A"), (2, "B")]


def test_given_order_total_is_kept(tmp_path):
    rows = [{**P1001, "order_total": "50.00", **line(1, "A", 1, "10.00")}]
    orders, _ = read_all(CSV, write(tmp_path, "o.csv", direct_csv(rows)))
    assert orders["order_total"].to_list() == [Decimal("50.00")]


def test_formula_cells_are_kept(tmp_path):
    formula = "=cmd|' /C calc'!A0"
    rows = [{**P1001, "notes": formula, **line(1, "A", 1, "1.00", product_name=formula)}]
    orders, lines = read_all(CSV, write(tmp_path, "o.csv", direct_csv(rows)))
    assert orders["notes"].to_list() == [formula]
    assert lines["product_name"].to_list() == [formula]


def test_unknown_vocabulary_falls_back_safely(tmp_path):
    rows = [
        {
            **P1001,
            "service_level": "by carrier pigeon",
            "payment_status": "maybe",
            **line(1, "A", 1, "1.00"),
        }
    ]
    orders, _ = read_all(CSV, write(tmp_path, "o.csv", direct_csv(rows)))
    assert (orders["service_level"][0], orders["payment_status"][0]) == ("standard", "unknown")


@pytest.mark.parametrize(
    ("change", "reason", "line"),
    [
        ({"channel": "fax"}, "record 1 \\(order P-1001\\): channel 'fax' is not phone or email", 2),
        (
            {"ordered_at": "2026-11-20T14:05:00"},
            "ordered_at '2026-11-20T14:05:00' has no UTC offset",
            2,
        ),
        ({"ordered_at": "20/11/2026"}, "ordered_at '20/11/2026' is not an ISO 8601 time", 2),
        ({"quantity": "1.5"}, "quantity '1.5' is not a whole number", 2),
        ({"unit_price": "USD 3"}, "unit_price 'USD 3' is not an amount", 2),
        ({"sku": ""}, "sku is blank", 2),
        ({"order_id": ""}, "order_id is blank", 2),
    ],
)
def test_bad_values_say_which_record(tmp_path, change, reason, line):
    rows = [{**P1001, **line_row(), **change}]
    with pytest.raises(UnreadableFile, match=reason) as err:
        read_all(CSV, write(tmp_path, "o.csv", direct_csv(rows)))
    assert err.value.line == line


def line_row() -> dict:
    return line(1, "A", 1, "1.00")


def test_duplicate_line_numbers_are_refused(tmp_path):
    rows = [{**P1001, **line(1, "A", 1, "1.00")}, {**P1001, **line(1, "B", 1, "1.00")}]
    with pytest.raises(UnreadableFile, match="line_no 1 appears twice in order P-1001"):
        read_all(CSV, write(tmp_path, "o.csv", direct_csv(rows)))


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        (["order_id", "ordered_at", "sku"], "quantity"),
        (["order_id", "ordered_at", "quantity"], "sku"),
    ],
)
def test_missing_required_column(tmp_path, header, missing):
    path = write(tmp_path, "o.csv", ",".join(header) + "\nP-1,2026-01-01T00:00:00Z,x\n")
    with pytest.raises(UnreadableFile, match=f"missing required column.*{missing}"):
        read_all(CSV, path)


def test_header_only_and_empty_csv(tmp_path):
    with pytest.raises(UnreadableFile, match="header only") as err:
        read_all(CSV, write(tmp_path, "h.csv", ",".join(template_header()) + "\n"))
    assert err.value.line == 2
    with pytest.raises(UnreadableFile, match="empty file"):
        read_all(CSV, write(tmp_path, "e.csv", b""))


# --- JSON --------------------------------------------------------------------------------------

JSON_ORDER = {
    "order_id": "P-1001",
    "channel": "phone",
    "ordered_at": "2026-11-20T14:05:00-05:00",
    "customer_name": "Ana Ruiz",
    "ship_country": "US",
    "shipping_amount": 5,
    "lines": [
        {"line_no": 1, "sku": "SKU-00017", "quantity": 2, "unit_price": "19.99"},
        {"line_no": 2, "sku": "SKU-2", "quantity": 1, "unit_price": 0.1, "line_discount": 0},
    ],
}


@pytest.mark.parametrize(
    "document",
    [{"orders": [JSON_ORDER]}, JSON_ORDER, [JSON_ORDER]],
    ids=["orders-object", "single-order", "list"],
)
def test_json_shapes(tmp_path, document):
    path = write(tmp_path, "o.json", json.dumps(document, indent=1))
    assert detect(path.read_bytes()).format == "direct_json"
    assert not WooCommerceJson().sniff(path.read_bytes())
    orders, lines = read_all(JSON, path)
    o = order(orders, "phone:P-1001")
    assert (o["source_format"], o["source_row"], o["ordered_at_offset"]) == (
        "direct_json",
        1,
        "-05:00",
    )
    assert (o["subtotal"], o["shipping_amount"], o["order_total"]) == (
        Decimal("40.08"),
        Decimal("5.00"),
        Decimal("45.08"),
    )
    assert [(ln["sku"], ln["unit_price"], ln["line_total"]) for ln in lines.to_dicts()] == [
        ("SKU-00017", Decimal("19.99"), Decimal("39.98")),
        ("SKU-2", Decimal("0.10"), Decimal("0.10")),
    ]


def test_direct_orders_are_never_fulfilled_by_the_channel(tmp_path):
    """The template has no status column: we ship every phone/email order. A stray status
    column someone adds is not part of the template and is ignored."""
    rows = [
        {**P1001, "status": "shipped", **line(1, "SKU-1", 1, "1.00")},
        {"order_id": "E-7", "channel": "email", "ordered_at": "2026-11-21T09:00:00Z"}
        | line(1, "SKU-2", 1, "2.00"),
    ]
    header = [*template_header(), "status"]
    orders, _ = read_all(CSV, write(tmp_path, "orders.csv", direct_csv(rows, header=header)))
    assert orders["fulfilled_by_channel"].to_list() == [False, False]
    document = {"orders": [{**JSON_ORDER, "status": "shipped", "fulfilled_by_channel": True}]}
    orders, _ = read_all(JSON, write(tmp_path, "orders.json", json.dumps(document)))
    assert orders["fulfilled_by_channel"].to_list() == [False]


def test_json_orders_are_numbered_by_position(tmp_path):
    second = {**JSON_ORDER, "order_id": "P-1002", "channel": "email"}
    path = write(tmp_path, "o.json", json.dumps({"orders": [JSON_ORDER, second]}))
    orders, lines = read_all(JSON, path)
    assert dict(zip(orders["order_key"], orders["source_row"], strict=True)) == {
        "phone:P-1001": 1,
        "email:P-1002": 2,
    }
    assert lines.filter(lines["order_key"] == "email:P-1002")["source_row"].to_list() == [2, 2]


def test_json_problems_say_which_order(tmp_path):
    twice = {"orders": [JSON_ORDER, {**JSON_ORDER, "notes": "changed"}]}
    with pytest.raises(UnreadableFile, match="conflicting data: phone:P-1001 at records"):
        read_all(JSON, write(tmp_path, "a.json", json.dumps(twice)))
    no_lines = {"orders": [{k: v for k, v in JSON_ORDER.items() if k != "lines"}]}
    with pytest.raises(UnreadableFile, match="order 1: 'lines' is missing"):
        read_all(JSON, write(tmp_path, "b.json", json.dumps(no_lines)))
    bad_time = {"orders": [JSON_ORDER, {**JSON_ORDER, "order_id": "X", "ordered_at": "soon"}]}
    with pytest.raises(UnreadableFile, match="order 2 \\(X\\): ordered_at 'soon'"):
        read_all(JSON, write(tmp_path, "c.json", json.dumps(bad_time)))
    text = json.dumps({"orders": [JSON_ORDER]}, indent=2)
    with pytest.raises(UnreadableFile, match="truncated JSON") as err:
        read_all(JSON, write(tmp_path, "d.json", text[:-30]))
    assert err.value.line == text[:-30].count("\n") + 1


def test_direct_json_is_not_taken_for_a_tracker_or_woocommerce(tmp_path):
    tracker = b'{"object": "Tracker", "tracking_code": "EZ1", "tracking_details": []}'
    assert not JSON.sniff(tracker)
    woo = json.dumps({"id": 1, "line_items": [], "order_key": "wc_x", "billing": {}}).encode()
    assert not JSON.sniff(woo)
    assert WooCommerceJson().sniff(woo)


def test_a_date_only_ship_by_means_the_end_of_that_day_utc(tmp_path):
    text = (
        "order_id,ordered_at,sku,quantity,unit_price,ship_by\n"
        "P-1,2026-11-20T14:05:00-05:00,SKU-00001,2,19.99,2026-11-25\n"
    )
    orders, _ = read_all(CSV, write(tmp_path, "a.csv", text))
    assert orders["ship_by"].to_list() == [datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC)]
