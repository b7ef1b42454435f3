"""Shopify "Export orders" CSV: hand-written files in the real layout, one per quirk."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pipelines.lib.channels import UnreadableFile, common, detect
from pipelines.lib.channels.shopify import ShopifyOrdersCsv
from pipelines.lib.intake import read_file
from tests.unit.channels.support import (
    SHOPIFY_HEADER,
    lines_of,
    order,
    read_all,
    shopify_csv,
    write,
)

ADAPTER = ShopifyOrdersCsv()


def first_row(name: str, **fields: str) -> dict:
    row = {
        "Name": name,
        "Email": "buyer@example.com",
        "Financial Status": "paid",
        "Accepts Marketing": "no",
        "Currency": "USD",
        "Subtotal": "20.00",
        "Shipping": "5.00",
        "Taxes": "1.00",
        "Total": "26.00",
        "Discount Amount": "0.00",
        "Shipping Method": "Standard",
        "Created at": "2025-12-06 10:37:33 -0500",
        "Lineitem quantity": "2",
        "Lineitem name": "Mug",
        "Lineitem price": "10.00",
        "Lineitem sku": "MUG-1",
        "Lineitem requires shipping": "true",
        "Billing Name": "Ana Ruiz",
        "Shipping Name": "Ana Ruiz",
        "Shipping Address1": "1 Main St",
        "Shipping City": "Ogden",
        "Shipping Zip": "'84403",
        "Shipping Province": "UT",
        "Shipping Country": "US",
        "Id": "5001",
        "Lineitem discount": "0.00",
    }
    row.update(fields)
    return row


def next_row(name: str, **fields: str) -> dict:
    """A further line of an order: Shopify repeats only these columns."""
    row = {
        "Name": name,
        "Email": "buyer@example.com",
        "Created at": "2025-12-06 10:37:33 -0500",
        "Lineitem quantity": "1",
        "Lineitem name": "Spoon",
        "Lineitem price": "3.50",
        "Lineitem sku": "SPOON",
        "Lineitem requires shipping": "true",
        "Lineitem discount": "0.00",
    }
    row.update(fields)
    return row


def parse(tmp_path: Path, content: str | bytes, name: str = "orders_export.csv"):
    path = write(tmp_path, name, content)
    return read_all(ADAPTER, path)


def test_order_level_fields_come_from_the_first_row_and_lines_from_every_row(tmp_path):
    text = shopify_csv(
        [
            first_row("#1002", Subtotal="23.50", Total="29.50", Id="5002"),
            next_row("#1002"),
            first_row("#1001"),
        ]
    )
    orders, lines = parse(tmp_path, text)
    assert orders["order_number"].to_list() == ["#1002", "#1001"]  # file order
    o = order(orders, "shopify:5002")
    assert (o["external_order_id"], o["source_row"]) == ("5002", 1)
    assert (o["subtotal"], o["order_total"]) == (Decimal("23.50"), Decimal("29.50"))
    assert [
        (ln["line_no"], ln["sku"], ln["line_total"], ln["source_row"])
        for ln in lines_of(lines, "shopify:5002")
    ] == [(1, "MUG-1", Decimal("20.00"), 1), (2, "SPOON", Decimal("3.50"), 2)]
    assert order(orders, "shopify:5001")["source_row"] == 3


def test_apostrophe_zip_codes_are_stripped(tmp_path):
    orders, _ = parse(
        tmp_path,
        shopify_csv(
            [
                first_row("#1", Id="1", **{"Shipping Zip": "'0812"}),
                first_row("#2", Id="2", **{"Shipping Zip": "P1H 1L6"}),
            ]
        ),
    )
    assert orders["ship_postal_code"].to_list() == ["0812", "P1H 1L6"]


def test_notes_with_newlines_inside_quotes_survive(tmp_path):
    note = 'Leave at the back door.\nGate code "1234", ring twice.\r\nThanks!'
    orders, lines = parse(
        tmp_path,
        shopify_csv([first_row("#1", Notes=note), next_row("#1"), first_row("#2", Id="2")]),
    )
    assert order(orders, "shopify:5001")["notes"] == note
    assert lines.height == 3
    assert order(orders, "shopify:2")["source_row"] == 3


def test_older_export_with_fewer_columns(tmp_path):
    """Older exports lack the Tax N / Duties / Payment ID columns and have no Id: mapped by name."""
    header = [
        "Name",
        "Email",
        "Financial Status",
        "Currency",
        "Subtotal",
        "Shipping",
        "Taxes",
        "Total",
        "Created at",
        "Lineitem quantity",
        "Lineitem name",
        "Lineitem price",
        "Lineitem sku",
        "Shipping Zip",
        "Shipping City",
        "Shipping Country",
    ]
    row = first_row("#77", Total="26.00")
    orders, lines = parse(tmp_path, shopify_csv([row, next_row("#77")], header=header))
    o = order(orders, "shopify:77")
    assert (o["order_number"], o["ship_postal_code"], o["currency"]) == ("#77", "84403", "USD")
    assert o["payment_status"] == "paid"
    assert [ln["sku"] for ln in lines_of(lines, "shopify:77")] == ["MUG-1", "SPOON"]
    # No "Lineitem requires shipping" column: lines ship.
    assert lines["requires_shipping"].to_list() == [True, True]


def test_columns_in_a_different_order_are_found_by_name(tmp_path):
    header = list(reversed(SHOPIFY_HEADER))
    orders, lines = parse(tmp_path, shopify_csv([first_row("#1"), next_row("#1")], header=header))
    assert order(orders, "shopify:5001")["ship_city"] == "Ogden"
    assert lines["sku"].to_list() == ["MUG-1", "SPOON"]


def test_formula_cells_are_kept_as_plain_text(tmp_path):
    formula = "=cmd|' /C calc'!A0"
    orders, lines = parse(
        tmp_path,
        shopify_csv(
            [
                first_row(
                    "#1",
                    Notes="+SUM(1,2)",
                    **{"Lineitem name": formula, "Billing Name": "@risky", "Shipping Name": "-2+3"},
                )
            ]
        ),
    )
    o = order(orders, "shopify:5001")
    assert (o["notes"], o["customer_name"], o["ship_name"]) == ("+SUM(1,2)", "@risky", "-2+3")
    assert lines["product_name"].to_list() == [formula]


def test_money_and_discounts(tmp_path):
    rows = [
        first_row(
            "#9",
            Subtotal="15.00",  # Shopify's Subtotal is after every discount
            Shipping="0.00",
            Taxes="0.00",
            Total="15.00",
            **{"Discount Amount": "5.00", "Lineitem discount": "3.00"},
        ),
        next_row("#9", **{"Lineitem price": "0.00", "Lineitem quantity": "1"}),
    ]
    orders, lines = parse(tmp_path, shopify_csv(rows))
    mug, spoon = lines_of(lines, "shopify:5001")
    assert (mug["unit_price"], mug["line_discount"], mug["line_total"]) == (
        Decimal("10.00"),
        Decimal("3.00"),
        Decimal("17.00"),  # 2 x 10.00 - 3.00
    )
    assert spoon["line_total"] == Decimal("0.00")
    o = order(orders, "shopify:5001")
    # 3.00 of the 5.00 discount is on the mug line; 2.00 is order-level.
    assert (o["discount_amount"], o["subtotal"], o["order_total"]) == (
        Decimal("2.00"),
        Decimal("17.00"),
        Decimal("15.00"),
    )
    assert (
        o["subtotal"] + o["shipping_amount"] + o["tax_amount"] - o["discount_amount"]
        == (o["order_total"])
    )
    assert orders["order_total"].dtype == pl.Decimal(18, 2)


def test_cancelled_order_and_payment_vocabulary(tmp_path):
    rows = [
        first_row("#1", Id="1", **{"Cancelled at": "2025-12-07 09:00:00 -0500"}),
        first_row("#2", Id="2", **{"Financial Status": "partially_refunded"}),
        first_row("#3", Id="3", **{"Financial Status": "some_new_status"}),
        first_row("#4", Id="4", **{"Financial Status": "authorized"}),
    ]
    orders, _ = parse(tmp_path, shopify_csv(rows))
    got = {
        r["order_number"]: (
            r["status"],
            r["payment_status"],
            r["channel_status"],
            r["cancelled_at"],
        )
        for r in orders.iter_rows(named=True)
    }
    assert got == {
        "#1": ("cancelled", "paid", "paid", datetime(2025, 12, 7, 14, 0, tzinfo=UTC)),
        "#2": ("received", "partially_refunded", "partially_refunded", None),
        "#3": ("received", "unknown", "some_new_status", None),
        "#4": ("received", "authorized", "authorized", None),
    }


@pytest.mark.parametrize(
    ("fulfillment", "expected"),
    [
        ("fulfilled", True),
        ("Fulfilled ", True),
        ("partial", False),  # some items still to ship
        ("unfulfilled", False),
        ("restocked", False),
        ("", False),
        ("some_new_status", False),
    ],
)
def test_fulfillment_status_says_whether_shopify_already_fulfilled_the_order(
    tmp_path, fulfillment, expected
):
    orders, _ = parse(
        tmp_path, shopify_csv([first_row("#1", **{"Fulfillment Status": fulfillment})])
    )
    assert orders["fulfilled_by_channel"].to_list() == [expected]


def test_fulfillment_status_is_read_from_the_order_first_row(tmp_path):
    """Shopify writes order-level columns on an order's first row only: the later rows' blank
    cells (or a stray value there) say nothing about the order."""
    rows = [
        first_row("#1", Id="1", **{"Fulfillment Status": "fulfilled"}),
        next_row("#1"),
        next_row("#1", **{"Lineitem sku": "FORK"}),
        first_row("#2", Id="2", **{"Fulfillment Status": "unfulfilled"}),
        next_row("#2", **{"Fulfillment Status": "fulfilled"}),
        first_row("#3", Id="3", **{"Fulfillment Status": "fulfilled"}),
    ]
    orders, lines = parse(tmp_path, shopify_csv(rows))
    got = dict(zip(orders["order_number"], orders["fulfilled_by_channel"], strict=True))
    assert got == {"#1": True, "#2": False, "#3": True}
    assert lines.height == 6


def test_export_without_a_fulfillment_status_column_says_not_fulfilled(tmp_path):
    header = [h for h in SHOPIFY_HEADER if h != "Fulfillment Status"]
    orders, _ = parse(tmp_path, shopify_csv([first_row("#1")], header=header))
    assert orders["fulfilled_by_channel"].to_list() == [False]


@pytest.mark.parametrize(
    ("method", "level"),
    [
        ("UPS Next Day Air", "overnight"),
        ("FedEx Priority Overnight", "overnight"),
        ("Express", "expedited"),
        ("2-Day Shipping", "expedited"),
        ("Priority Mail", "expedited"),
        ("2-4 Day Delivery (Steadfast)", "standard"),
        ("Free shipping", "standard"),
        ("", "standard"),
    ],
)
def test_shipping_method_sets_the_service_level(tmp_path, method, level):
    orders, _ = parse(tmp_path, shopify_csv([first_row("#1", **{"Shipping Method": method})]))
    assert orders["service_level"].to_list() == [level]


def test_digital_lines_do_not_require_shipping(tmp_path):
    rows = [first_row("#1"), next_row("#1", **{"Lineitem requires shipping": "false"})]
    _, lines = parse(tmp_path, shopify_csv(rows))
    assert lines["requires_shipping"].to_list() == [True, False]


def test_billing_address_is_used_when_no_shipping_address_was_given(tmp_path):
    row = first_row("#1")
    for part in ("Name", "Address1", "City", "Zip", "Province", "Country"):
        row[f"Shipping {part}"] = ""
    row.update({"Billing Address1": "9 Bill St", "Billing City": "Provo", "Billing Zip": "'84601"})
    row.update({"Billing Country": "US", "Billing Province": "UT"})
    orders, _ = parse(tmp_path, shopify_csv([row]))
    o = order(orders, "shopify:5001")
    assert (o["ship_name"], o["ship_address1"], o["ship_city"], o["ship_postal_code"]) == (
        "Ana Ruiz",
        "9 Bill St",
        "Provo",
        "84601",
    )


def test_large_file_is_read_in_several_batches_without_splitting_orders(tmp_path, monkeypatch):
    rows = []
    for n in range(1, 41):
        done = "fulfilled" if n % 5 == 0 else "unfulfilled"
        rows.append(
            first_row(
                f"#{n}",
                Id=str(n),
                Notes="two\nlines" if n % 3 == 0 else "",
                **{"Fulfillment Status": done},
            )
        )
        rows += [next_row(f"#{n}", **{"Lineitem sku": f"S{n}-{k}"}) for k in range(n % 4)]
    path = write(tmp_path, "big.csv", shopify_csv(rows))
    whole_orders, whole_lines = read_all(ADAPTER, path)

    monkeypatch.setattr(common, "CSV_CHUNK_BYTES", 700)
    batches = list(ADAPTER.parse(path, path.name))
    assert len(batches) > 5
    keys = [k for b in batches for k in b.orders["order_key"]]
    assert len(keys) == len(set(keys)) == 40  # every order in exactly one batch
    for batch in batches:  # an order's lines travel with it
        assert set(batch.lines["order_key"]) == set(batch.orders["order_key"])
    chunked_orders = pl.concat([b.orders for b in batches])
    chunked_lines = pl.concat([b.lines for b in batches])
    fulfilled = chunked_orders.filter(pl.col("fulfilled_by_channel"))["order_number"]
    assert fulfilled.to_list() == [f"#{n}" for n in range(5, 41, 5)]
    assert chunked_orders.equals(whole_orders)
    assert chunked_lines.equals(whole_lines)


def test_semicolon_export_is_not_taken_for_shopify(tmp_path):
    text = shopify_csv([first_row("#1")]).replace(",", ";")
    path = write(tmp_path, "semi.csv", text)
    with pytest.raises(UnreadableFile, match="unknown layout"):
        detect(path.read_bytes())
    with pytest.raises(UnreadableFile, match=r"wrong delimiter.*semicolons") as err:
        read_all(ADAPTER, path)
    assert "Name" in err.value.reason and err.value.line == 1


@pytest.mark.parametrize(
    ("content", "reason", "where"),
    [
        (b"", "empty file", {"byte": 0}),
        (b"\n\n  \n", "empty file", {"byte": 0}),
        ((",".join(SHOPIFY_HEADER) + "\n").encode(), "header only", {"line": 2}),
        (
            shopify_csv([first_row("#1")]).encode()[:-40] + b"\x00\x00\x00" + b"x" * 37,
            "binary content",
            {},
        ),
    ],
    ids=["empty", "blank-lines", "header-only", "nul-bytes"],
)
def test_unreadable_files_say_why(tmp_path, content, reason, where):
    path = write(tmp_path, "bad.csv", content)
    with pytest.raises(UnreadableFile, match=reason) as err:
        read_all(ADAPTER, path)
    for attr, value in where.items():
        assert getattr(err.value, attr) == value
    if reason == "binary content":
        assert err.value.byte == content.index(b"\x00")


def test_missing_required_column_is_named(tmp_path):
    header = [h for h in SHOPIFY_HEADER if h != "Created at"]
    path = write(tmp_path, "bad.csv", shopify_csv([first_row("#1")], header=header))
    with pytest.raises(UnreadableFile, match=r"missing required column.*Created at") as err:
        read_all(ADAPTER, path)
    assert err.value.line == 1


def test_bad_timestamp_names_the_record_and_line(tmp_path):
    rows = [
        first_row("#1", Notes="multi\nline"),
        first_row("#2", Id="2", **{"Created at": "06/12/2025 10:37"}),
    ]
    path = write(tmp_path, "bad.csv", shopify_csv(rows))
    with pytest.raises(UnreadableFile, match=r"record 2 \(order #2\): Created at '06/12/2025") as e:
        read_all(ADAPTER, path)
    assert e.value.line == 4  # header, record 1 on lines 2-3


def test_bad_amount_names_the_column(tmp_path):
    path = write(tmp_path, "bad.csv", shopify_csv([first_row("#1", Total="$26.00")]))
    with pytest.raises(UnreadableFile, match=r"Total '\$26\.00' is not an amount") as err:
        read_all(ADAPTER, path)
    assert err.value.line == 2


def test_unclosed_quote_is_reported(tmp_path):
    text = shopify_csv([first_row("#1"), first_row("#2", Id="2")])
    text = text.replace("Ana Ruiz", '"Ana Ruiz', 1)
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(UnreadableFile, match="malformed") as err:
        read_all(ADAPTER, path)
    assert err.value.line == 2


def test_cp1252_export_is_decoded(tmp_path):
    text = shopify_csv([first_row("#1", **{"Lineitem name": "Café crème"})])
    orders, lines = parse(tmp_path, text.encode("cp1252"))
    assert lines["product_name"].to_list() == ["Café crème"]
    assert orders.height == 1


def test_bom_is_ignored(tmp_path):
    text = shopify_csv([first_row("#1")])
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + text.encode())
    assert detect(path.read_bytes()).format == "shopify_csv"
    orders, _ = read_all(ADAPTER, path)
    assert orders["order_number"].to_list() == ["#1"]


def test_a_tax_inclusive_store_is_flagged_and_adds_up_without_its_tax(samples_dir):
    """shopify_2 is an Australian store: GST is inside the prices (Subtotal + Shipping = Total)."""
    orders = read_file(samples_dir / "shopify_2.csv").orders
    taxed = orders.filter(pl.col("tax_amount") > 0)
    assert taxed.height == 13
    assert taxed["prices_include_tax"].all()
    for o in taxed.iter_rows(named=True):
        assert o["subtotal"] + o["shipping_amount"] - o["discount_amount"] == o["order_total"]
    us = read_file(samples_dir / "shopify_1.csv").orders
    assert not us["prices_include_tax"].any()
