"""Amazon Seller Central flat files: hand-written reports in the real layouts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pipelines.lib.channels import UnreadableFile, detect
from pipelines.lib.channels.amazon import AmazonFlatFile
from tests.unit.channels.support import (
    AMAZON_ALL_ORDERS_HEADER,
    AMAZON_ORDER_REPORT_HEADER,
    amazon_tsv,
    lines_of,
    order,
    read_all,
    write,
)

ADAPTER = AmazonFlatFile()
PILLOW = 'Trendy Home 12" x 18" Pillow Insert, "Standard" White'


def item(order_id: str, **fields) -> dict:
    row = {
        "amazon-order-id": order_id,
        "merchant-order-id": order_id,
        "purchase-date": "2020-02-18T05:05:21+00:00",
        "last-updated-date": "2020-02-18T17:23:22+00:00",
        "order-status": "Unshipped",
        "fulfillment-channel": "Merchant",
        "sales-channel": "Amazon.com",
        "ship-service-level": "Standard",
        "product-name": PILLOW,
        "sku": "th1218",
        "asin": "B07K1FNN7M",
        "item-status": "Unshipped",
        "quantity": "1",
        "currency": "USD",
        "item-price": "7.49",
        "item-tax": "",
        "shipping-price": "",
        "ship-city": "MEMPHIS",
        "ship-state": "TN",
        "ship-postal-code": "38117-3311",
        "ship-country": "US",
        "is-business-order": "false",
    }
    row.update(fields)
    return row


def parse(tmp_path, content, name="report.txt"):
    return read_all(ADAPTER, write(tmp_path, name, content))


def test_all_orders_report_groups_items_and_adds_up(tmp_path):
    rows = [
        item(
            "111-1",
            **{
                "quantity": "3",
                "item-price": "10.00",
                "item-tax": "0.80",
                "shipping-price": "4.99",
                "shipping-tax": "0.40",
                "gift-wrap-price": "2.00",
                "gift-wrap-tax": "0.16",
                "item-promotion-discount": "-1.00",
                "ship-promotion-discount": "-4.99",
            },
        ),
        item("111-1", **{"sku": "th1620", "item-price": "12.50", "item-tax": "1.00"}),
        item("222-2"),
    ]
    orders, lines = parse(tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows))
    assert orders["order_key"].to_list() == ["amazon:111-1", "amazon:222-2"]
    first, second = lines_of(lines, "amazon:111-1")
    # item-price is for the whole quantity: 10.00 / 3 = 3.33 a unit, the line keeps 10.00.
    assert (first["quantity"], first["unit_price"], first["line_total"]) == (
        3,
        Decimal("3.33"),
        Decimal("10.00"),
    )
    assert (second["line_no"], second["sku"], second["line_total"]) == (
        2,
        "th1620",
        Decimal("12.50"),
    )
    o = order(orders, "amazon:111-1")
    assert (o["subtotal"], o["shipping_amount"], o["tax_amount"], o["discount_amount"]) == (
        Decimal("22.50"),
        Decimal("6.99"),  # shipping 4.99 + gift wrap 2.00
        Decimal("2.36"),  # 0.80 + 1.00 + 0.40 + 0.16
        Decimal("5.99"),
    )
    assert o["order_total"] == Decimal("25.86")
    blank_tax = order(orders, "amazon:222-2")
    assert (blank_tax["tax_amount"], blank_tax["order_total"]) == (Decimal("0.00"), Decimal("7.49"))


def test_unit_price_rounds_half_up_to_the_cent(tmp_path):
    rows = [
        item("1", **{"quantity": "2", "item-price": "1.35"}),
        item("2", **{"quantity": "8", "item-price": "0.20"}),
    ]
    _, lines = parse(tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows))
    assert lines["unit_price"].to_list() == [Decimal("0.68"), Decimal("0.03")]
    assert lines["line_total"].to_list() == [Decimal("1.35"), Decimal("0.20")]


def test_raw_quotes_in_product_names_are_plain_text(tmp_path):
    rows = [item("1"), item("1", **{"product-name": '"Quoted at start', "sku": "q"})]
    _, lines = parse(tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows))
    assert lines["product_name"].to_list() == [PILLOW, '"Quoted at start']


def test_report_without_cpf_and_the_older_fba_layout_with_url(tmp_path):
    without_cpf = [h for h in AMAZON_ALL_ORDERS_HEADER if h != "cpf"]
    fba = [h for h in without_cpf if h != "order-channel"]
    fba.insert(fba.index("ship-service-level"), "order-channel")
    fba.insert(fba.index("ship-service-level"), "url")
    assert len(fba) == 32
    row = item("1", **{"fulfillment-channel": "Amazon", "order-status": "Shipped"})
    for header in (without_cpf, fba):
        orders, lines = parse(tmp_path, amazon_tsv(header, [row]))
        o = order(orders, "amazon:1")
        assert (o["channel_status"], o["payment_status"], o["order_total"]) == (
            "Shipped",
            "paid",
            Decimal("7.49"),
        )
        # Amazon ships FBA orders itself: nothing for our warehouses to pick.
        assert lines["requires_shipping"].to_list() == [False]


def test_new_orders_report_layout(tmp_path):
    row = {
        "order-id": "123-4567890-1234567",
        "order-item-id": "11111111111111",
        "purchase-date": "2009-01-01T10:50:49-08:00",
        "payments-date": "2009-01-05T10:50:49-08:00",
        "buyer-email": "bob@example.net",
        "buyer-name": "Bob Smith",
        "buyer-phone-number": "555-123-4567",
        "sku": "SKU-1",
        "product-name": "item one",
        "quantity-purchased": "2",
        "currency": "USD",
        "item-price": "2.58",
        "item-tax": "0.00",
        "shipping-price": "1.99",
        "shipping-tax": "0.00",
        "ship-service-level": "NextDay",
        "recipient-name": "Bobby Smith",
        "ship-address-1": "123 Main St",
        "ship-address-2": "Apt 4",
        "ship-address-3": "Rear entrance",
        "ship-city": "Nowhere",
        "ship-state": "FL",
        "ship-postal-code": "55443-3221",
        "ship-country": "us",
        "delivery-Instructions": "Leave with neighbour",
    }
    content = amazon_tsv(AMAZON_ORDER_REPORT_HEADER, [row])
    assert detect(content.encode()).format == "amazon_tsv"
    orders, lines = parse(tmp_path, content)
    o = order(orders, "amazon:123-4567890-1234567")
    assert (o["ordered_at"], o["ordered_at_offset"]) == (
        datetime(2009, 1, 1, 18, 50, 49, tzinfo=UTC),
        "-08:00",
    )
    assert (o["customer_name"], o["ship_name"], o["email"], o["phone"]) == (
        "Bob Smith",
        "Bobby Smith",
        "bob@example.net",
        "555-123-4567",
    )
    assert (o["ship_address1"], o["ship_address2"], o["ship_country"]) == (
        "123 Main St",
        "Apt 4, Rear entrance",
        "US",
    )
    assert (o["service_level"], o["payment_status"], o["notes"]) == (
        "overnight",
        "paid",
        "Leave with neighbour",
    )
    (line,) = lines.to_dicts()
    assert (line["external_line_id"], line["quantity"], line["unit_price"]) == (
        "11111111111111",
        2,
        Decimal("1.29"),
    )
    assert line["requires_shipping"] is True


def test_unshipped_orders_report_without_prices(tmp_path):
    header = [
        "order-id",
        "order-item-id",
        "purchase-date",
        "payments-date",
        "reporting-date",
        "promise-date",
        "days-past-promise",
        "buyer-email",
        "buyer-phone-number",
        "sku",
        "product-name",
        "quantity-purchased",
        "quantity-shipped",
        "quantity-to-ship",
        "ship-service-level",
        "recipient-name",
        "ship-address-1",
        "ship-address-2",
        "ship-address-3",
        "ship-city",
        "ship-state",
        "ship-postal-code",
        "ship-country",
        "is-business-order",
        "purchase-order-number",
        "price-designation",
        "is-prime",
    ]
    row = {
        "order-id": "902-1",
        "order-item-id": "5",
        "purchase-date": "2024-05-01T08:00:00Z",
        "payments-date": "2024-05-01T08:05:00Z",
        "promise-date": "2024-05-03T23:59:59+02:00",
        "sku": "A",
        "quantity-purchased": "1",
        "quantity-to-ship": "1",
        "ship-service-level": "Expedited",
        "recipient-name": "Z",
        "ship-country": "DE",
    }
    orders, lines = parse(tmp_path, amazon_tsv(header, [row]))
    o = order(orders, "amazon:902-1")
    assert o["ship_by"] == datetime(2024, 5, 3, 21, 59, 59, tzinfo=UTC)
    assert (o["subtotal"], o["order_total"], o["currency"]) == (None, None, None)
    assert o["service_level"] == "expedited"
    assert lines["unit_price"].to_list() == [None]


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("Standard", "standard"),
        ("Expedited", "expedited"),
        ("SecondDay", "expedited"),
        ("Priority", "expedited"),
        ("NextDay", "overnight"),
        ("SameDay", "overnight"),
        ("Scheduled", "standard"),
        ("FreeEconomy", "standard"),
        ("Std US D2D Dom", "standard"),
        ("Exp UK Dom", "expedited"),
        ("Warp Speed", "standard"),
    ],
)
def test_ship_service_level_vocabulary(tmp_path, level, expected):
    orders, _ = parse(
        tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, [item("1", **{"ship-service-level": level})])
    )
    assert orders["service_level"].to_list() == [expected]


def test_cancelled_orders(tmp_path):
    rows = [
        item(
            "1",
            **{
                "order-status": "Cancelled",
                "item-status": "Cancelled",
                "quantity": "0",
                "item-price": "",
            },
        ),
        item("2", **{"order-status": "Pending", "item-price": ""}),
        item("3", **{"order-status": "Shipped", "item-status": "Cancelled"}),
        item("4", **{"order-status": "Shipped"}),
    ]
    orders, lines = parse(tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows))
    got = {r["external_order_id"]: (r["status"], r["payment_status"]) for r in orders.to_dicts()}
    assert got == {
        "1": ("cancelled", "voided"),
        "2": ("received", "pending"),
        "3": ("cancelled", "paid"),
        "4": ("received", "paid"),
    }
    assert order(orders, "amazon:1")["cancelled_at"] == datetime(
        2020, 2, 18, 17, 23, 22, tzinfo=UTC
    )
    # A pending order without item-price has no known total; a cancelled zero-quantity item is 0.
    assert order(orders, "amazon:2")["order_total"] is None
    assert order(orders, "amazon:1")["order_total"] == Decimal("0.00")
    assert lines_of(lines, "amazon:2")[0]["line_total"] is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Shipped", True),  # every item has shipped
        ("shipped", True),
        ("InvoiceUnconfirmed", True),  # every item has shipped, invoice not yet confirmed
        ("PartiallyShipped", False),  # some items still to ship
        ("Unshipped", False),
        ("Pending", False),
        ("PendingAvailability", False),
        ("Shipping", False),
        ("Canceled", False),
        ("Cancelled", False),
        ("Unfulfillable", False),
        ("", False),
        ("SomethingNew", False),
    ],
)
def test_order_status_says_whether_amazon_already_shipped_the_order(tmp_path, status, expected):
    rows = [item("1", **{"order-status": status, "item-status": ""})]
    orders, _ = parse(tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows))
    assert orders["fulfilled_by_channel"].to_list() == [expected]


@pytest.mark.parametrize(
    ("item_statuses", "expected"),
    [
        (["Shipped"], True),
        (["Shipped", "Shipped"], True),
        (["Shipped", "Cancelled"], True),  # what was not cancelled has shipped
        (["Shipped", ""], True),  # a blank item-status follows the order
        (["Shipped", " "], True),
        (["Cancelled"], False),  # nothing shipped: the order is cancelled
        (["Canceled", "Cancelled"], False),
        (["Shipped", "Unshipped"], False),  # the items do not say the whole order left
        (["Shipped", "Pending"], False),
    ],
)
def test_item_statuses_must_agree_with_a_shipped_order(tmp_path, item_statuses, expected):
    rows = [
        item("1", **{"order-status": "Shipped", "item-status": status, "sku": f"S{n}"})
        for n, status in enumerate(item_statuses)
    ]
    orders, lines = parse(tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows))
    assert orders["fulfilled_by_channel"].to_list() == [expected]  # one value for the order
    assert lines.height == len(item_statuses)


def test_fba_orders_follow_the_same_order_status_rule(tmp_path):
    rows = [
        item("fba-shipped", **{"fulfillment-channel": "Amazon", "order-status": "Shipped"}),
        item("fba-pending", **{"fulfillment-channel": "Amazon", "order-status": "Pending"}),
        item("fba-shipping", **{"fulfillment-channel": "AFN", "order-status": "Shipping"}),
        item("mfn-shipped", **{"fulfillment-channel": "Merchant", "order-status": "Shipped"}),
        item("mfn-partial", **{"order-status": "PartiallyShipped"}),
    ]
    for row in rows:
        row["item-status"] = ""
    orders, lines = parse(tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows))
    got = dict(zip(orders["external_order_id"], orders["fulfilled_by_channel"], strict=True))
    assert got == {
        "fba-shipped": True,
        "fba-pending": False,
        "fba-shipping": False,
        "mfn-shipped": True,
        "mfn-partial": False,
    }
    ships = dict(zip(lines["order_key"], lines["requires_shipping"], strict=True))
    assert ships["amazon:fba-pending"] is False  # Amazon ships FBA lines whatever the status
    assert ships["amazon:mfn-partial"] is True


def test_all_orders_layout_without_item_status_follows_the_order_status(tmp_path):
    header = [h for h in AMAZON_ALL_ORDERS_HEADER if h != "item-status"]
    rows = [item("1", **{"order-status": "Shipped"}), item("2", **{"order-status": "Unshipped"})]
    orders, _ = parse(tmp_path, amazon_tsv(header, rows))
    assert orders["fulfilled_by_channel"].to_list() == [True, False]


def test_layouts_without_order_status_are_not_fulfilled_by_amazon(tmp_path):
    """The Order ("New Orders") and Unshipped reports list orders still to ship."""
    row = {
        "order-id": "123-1",
        "order-item-id": "1",
        "purchase-date": "2024-05-01T08:00:00Z",
        "payments-date": "2024-05-01T08:05:00Z",
        "sku": "A",
        "quantity-purchased": "1",
        "item-price": "5.00",
    }
    orders, _ = parse(tmp_path, amazon_tsv(AMAZON_ORDER_REPORT_HEADER, [row]))
    assert orders["fulfilled_by_channel"].to_list() == [False]
    unshipped_header = ["order-id", "order-item-id", "purchase-date", "sku", "quantity-purchased"]
    orders, _ = parse(tmp_path, amazon_tsv(unshipped_header, [row]), name="unshipped.txt")
    assert orders["fulfilled_by_channel"].to_list() == [False]


def test_missing_currency_comes_from_the_marketplace(tmp_path):
    rows = [item("1", **{"currency": "", "item-price": "", "sales-channel": "Amazon.co.uk"})]
    orders, _ = parse(tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows))
    assert orders["currency"].to_list() == ["GBP"]


def test_bom_crlf_and_cp1252_files(tmp_path):
    rows = [
        item("1", **{"product-name": "Caf\u00e9 cr\u00e8me \u2013 50 cl", "ship-city": "K\u00f6ln"})
    ]
    text = amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows, newline="\r\n")
    for name, data in [
        ("bom.txt", b"\xef\xbb\xbf" + text.encode("utf-8")),
        ("cp1252.txt", text.encode("cp1252")),
        ("plain.txt", text.encode("utf-8")),
    ]:
        assert detect(data).format == "amazon_tsv", name
        orders, lines = parse(tmp_path, data, name)
        assert lines["product_name"].to_list() == ["Caf\u00e9 cr\u00e8me \u2013 50 cl"], name
        assert orders["ship_city"].to_list() == ["K\u00f6ln"], name
        assert orders["order_key"].to_list() == ["amazon:1"], name


def test_decimal_comma_amounts(tmp_path):
    rows = [item("1", **{"item-price": "12,99", "item-tax": "2,47", "currency": "EUR"})]
    orders, _ = parse(tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows))
    assert orders["order_total"].to_list() == [Decimal("15.46")]


def test_formula_cells_survive(tmp_path):
    formula = "=cmd|' /C calc'!A0"
    rows = [item("1", **{"product-name": formula, "ship-city": "@SUM(A1)"})]
    orders, lines = parse(tmp_path, amazon_tsv(AMAZON_ALL_ORDERS_HEADER, rows))
    assert lines["product_name"].to_list() == [formula]
    assert orders["ship_city"].to_list() == ["@SUM(A1)"]


def test_trailing_blank_lines_are_ignored(tmp_path):
    content = amazon_tsv(AMAZON_ALL_ORDERS_HEADER, [item("1"), item("2")]) + "\n\n"
    orders, lines = parse(tmp_path, content)
    assert (orders.height, lines.height) == (2, 2)
    assert lines["source_row"].to_list() == [1, 2]


def test_wrong_number_of_fields_names_the_line(tmp_path):
    good = amazon_tsv(AMAZON_ALL_ORDERS_HEADER, [item("1"), item("2"), item("3")])
    lines = good.split("\n")
    lines[2] = lines[2].rsplit("\t", 2)[0]  # line 3 lost two fields
    with pytest.raises(UnreadableFile, match=r"line 3 has 30 tab-separated fields.*32") as err:
        parse(tmp_path, "\n".join(lines))
    assert err.value.line == 3
    lines = good.split("\n")
    lines[3] = lines[3] + "\textra"
    with pytest.raises(UnreadableFile, match="line 4 has 33 tab-separated fields") as err:
        parse(tmp_path, "\n".join(lines))
    assert err.value.line == 4


def test_comma_separated_copy_is_not_taken_for_amazon(tmp_path):
    content = amazon_tsv(AMAZON_ALL_ORDERS_HEADER, [item("1")]).replace("\t", ",")
    assert not ADAPTER.sniff(content.encode())
    with pytest.raises(UnreadableFile, match="unknown layout"):
        detect(content.encode())


@pytest.mark.parametrize(
    ("content", "reason", "line"),
    [
        (b"", "empty file", None),
        ("\t".join(AMAZON_ALL_ORDERS_HEADER).encode() + b"\r\n", "header only", 2),
        (b"amazon-order-id\tsku\tquantity\n1\ta\t1\n", "missing required column.*purchase-date", 1),
        (
            amazon_tsv(AMAZON_ALL_ORDERS_HEADER, [item("1", quantity="two")]).encode(),
            "line 2 \\(order 1\\): quantity 'two' is not a whole number",
            2,
        ),
        (
            amazon_tsv(
                AMAZON_ALL_ORDERS_HEADER, [item("1"), item("2", **{"purchase-date": "yesterday"})]
            ).encode(),
            "line 3 \\(order 2\\): purchase-date 'yesterday' is not an ISO 8601 timestamp",
            3,
        ),
    ],
    ids=["empty", "header-only", "missing-column", "bad-quantity", "bad-date"],
)
def test_unreadable_reports_say_why(tmp_path, content, reason, line):
    with pytest.raises(UnreadableFile, match=reason) as err:
        parse(tmp_path, content)
    assert err.value.line == line


def test_binary_content_is_refused(tmp_path):
    data = amazon_tsv(AMAZON_ALL_ORDERS_HEADER, [item("1")]).encode()
    data = data[:-10] + b"\x00" + data[-9:]
    with pytest.raises(UnreadableFile, match="binary content") as err:
        parse(tmp_path, data)
    assert err.value.byte == len(data) - 10
