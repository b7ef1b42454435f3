"""Conformance over every real public sample in shared/samples/channels.

Counts and totals are worked out here independently of the adapters (csv/json modules and
Decimal), and compared with what the adapter that ``detect`` picks makes of each file.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pipelines.lib.channels import UnreadableFile, _adapters, detect
from pipelines.lib.schema import PAYMENT_STATUSES, SERVICE_LEVELS
from tests.unit.channels.support import lines_of, order, read_detected

ORDER_SAMPLES = {
    "shopify_1.csv": "shopify_csv",
    "shopify_2.csv": "shopify_csv",
    "shopify_3.csv": "shopify_csv",
    "shopify_4.csv": "shopify_csv",
    "woocommerce_1.jsonl": "woocommerce_json",
    "woocommerce_2.json": "woocommerce_json",
    "woocommerce_3.json": "woocommerce_json",
    "woocommerce_4.json": "woocommerce_json",
    "woocommerce_5.json": "woocommerce_json",
    "amazon_1.txt": "amazon_tsv",
    "amazon_2.txt": "amazon_tsv",
    "amazon_3.txt": "amazon_tsv",
}
NOT_ORDERS = {"easypost_1.json"}


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _d(text: str | None) -> Decimal:
    return Decimal(text) if text not in (None, "") else Decimal(0)


# --- independent readings of the files ---------------------------------------------------------


def _shopify_rows(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _woo_orders(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        return [r["data"] for r in records if r.get("stream") == "orders"]
    doc = json.loads(text)
    return doc if isinstance(doc, list) else [doc]


def _amazon_rows(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [h.lower() for h in next(reader)]
        return [dict(zip(header, row, strict=True)) for row in reader if any(row)]


def _expected_counts(path: Path) -> tuple[int, int]:
    """(orders, lines) as the file itself says."""
    if path.name.startswith("shopify"):
        header, rows = _shopify_rows(path)
        has_lines = any(h.startswith("Lineitem") for h in header)
        return len({r["Name"] for r in rows}), len(rows) if has_lines else 0
    if path.name.startswith("woocommerce"):
        orders = _woo_orders(path)
        lines = sum(len(o["line_items"]) + len(o.get("fee_lines") or []) for o in orders)
        return len({o["id"] for o in orders}), lines
    rows = _amazon_rows(path)
    ids = {r.get("amazon-order-id") or r.get("order-id") for r in rows}
    return len(ids), len(rows)


# --- every sample ------------------------------------------------------------------------------


def test_every_sample_is_covered(samples_dir: Path) -> None:
    """A new sample file must be added here, so that none goes unchecked."""
    present = {p.name for p in samples_dir.iterdir() if p.name != "README.md"}
    assert present == set(ORDER_SAMPLES) | NOT_ORDERS


@pytest.mark.parametrize("name", sorted(ORDER_SAMPLES))
def test_sample_is_claimed_by_exactly_its_adapter(samples_dir: Path, name: str) -> None:
    head = (samples_dir / name).read_bytes()[: 64 * 1024]
    claimed = [a.format for a in _adapters() if a.sniff(head)]
    assert claimed == [ORDER_SAMPLES[name]]
    assert detect(head).format == ORDER_SAMPLES[name]


def test_carrier_tracker_is_refused(samples_dir: Path) -> None:
    head = (samples_dir / "easypost_1.json").read_bytes()[: 64 * 1024]
    assert not [a.format for a in _adapters() if a.sniff(head)]
    with pytest.raises(UnreadableFile, match="unknown layout"):
        detect(head)


@pytest.mark.parametrize("name", sorted(ORDER_SAMPLES))
def test_sample_counts_and_canonical_shape(samples_dir: Path, name: str) -> None:
    path = samples_dir / name
    fmt, orders, lines = read_detected(path)
    n_orders, n_lines = _expected_counts(path)

    assert fmt == ORDER_SAMPLES[name]
    assert orders.height == n_orders
    assert orders["order_key"].n_unique() == n_orders
    assert lines.height == n_lines
    # Every line belongs to an order of the file, numbered 1..n within it.
    assert set(lines["order_key"]) <= set(orders["order_key"])
    numbering = lines.group_by("order_key").agg(
        (pl.col("line_no").sort() == pl.int_range(1, pl.len() + 1)).all().alias("ok")
    )
    assert numbering["ok"].all()
    # Keys, vocabularies and lineage.
    assert (orders["order_key"] == orders["channel"] + ":" + orders["external_order_id"]).all()
    assert orders["ordered_at"].null_count() == 0
    assert set(orders["status"]) <= {"received", "cancelled"}
    assert set(orders["service_level"]) <= set(SERVICE_LEVELS)
    assert set(orders["payment_status"]) <= set(PAYMENT_STATUSES)
    assert orders["fulfilled_by_channel"].dtype == pl.Boolean
    assert orders["fulfilled_by_channel"].null_count() == 0
    assert (orders["source_file"] == name).all()
    assert orders["source_row"].min() >= 1
    assert orders["subtotal"].dtype == pl.Decimal(18, 2)
    assert lines["line_total"].dtype == pl.Decimal(18, 2)


# --- totals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["shopify_1.csv", "shopify_3.csv", "shopify_4.csv"])
def test_shopify_totals_add_up(samples_dir: Path, name: str) -> None:
    path = samples_dir / name
    _, orders, lines = read_detected(path)
    _, rows = _shopify_rows(path)
    first_rows = {}
    for row in rows:
        first_rows.setdefault(row["Name"], row)
    line_sums = lines.group_by("order_key").agg(pl.col("line_total").sum())
    by_key = dict(zip(line_sums["order_key"], line_sums["line_total"], strict=True))

    unbalanced = set()
    for o in orders.iter_rows(named=True):
        raw = first_rows[o["order_number"]]
        # Money is kept exactly as exported ...
        assert o["order_total"] == _d(raw["Total"])
        assert o["shipping_amount"] == _d(raw["Shipping"])
        assert o["tax_amount"] == _d(raw["Taxes"])
        # ... the subtotal is the sum of the line totals ...
        assert by_key[o["order_key"]] == o["subtotal"]
        # ... and lines + shipping + tax - order discount = total, where the export adds up.
        if (
            o["subtotal"] + o["shipping_amount"] + o["tax_amount"] - o["discount_amount"]
            != o["order_total"]
        ):
            unbalanced.add(o["order_number"])
    # #1058 was edited after checkout: its own export says 184.76 + 25.31 tax = 220.06.
    assert unbalanced == ({"#1058"} if name == "shopify_3.csv" else set())


def test_shopify_order_level_discount_is_kept(samples_dir: Path) -> None:
    _, orders, lines = read_detected(samples_dir / "shopify_4.csv")
    o = order(orders, "shopify:16718821261681")  # #71737: 600 + 1400, UPSELL DISCOUNT 400
    assert [ln["line_total"] for ln in lines_of(lines, o["order_key"])] == [
        Decimal("600.00"),
        Decimal("1400.00"),
    ]
    assert o["subtotal"] == Decimal("2000.00")
    assert o["discount_amount"] == Decimal("400.00")
    assert o["order_total"] == Decimal("1700.00")


def test_shopify_line_discount_is_on_the_line_not_the_order(samples_dir: Path) -> None:
    _, orders, lines = read_detected(samples_dir / "shopify_3.csv")
    o = next(r for r in orders.iter_rows(named=True) if r["order_number"] == "#1087")
    shrimp = lines_of(lines, o["order_key"])[-1]  # 12 x 7.49 with an 8.88 line discount
    assert (shrimp["quantity"], shrimp["unit_price"]) == (12, Decimal("7.49"))
    assert shrimp["line_discount"] == Decimal("8.88")
    assert shrimp["line_total"] == Decimal("81.00")
    assert o["discount_amount"] == Decimal("0.00")
    assert o["subtotal"] == Decimal("152.94")
    assert o["order_total"] == Decimal("172.82")


def test_shopify_tax_inclusive_export_keeps_its_figures(samples_dir: Path) -> None:
    """shopify_2 is an Australian store: prices include GST, so Subtotal + Shipping = Total."""
    _, orders, _ = read_detected(samples_dir / "shopify_2.csv")
    _, rows = _shopify_rows(samples_dir / "shopify_2.csv")
    for o, raw in zip(orders.iter_rows(named=True), rows, strict=True):
        assert o["order_number"] == raw["Name"]
        assert (o["subtotal"], o["shipping_amount"], o["tax_amount"], o["order_total"]) == (
            _d(raw["Subtotal"]),
            _d(raw["Shipping"]),
            _d(raw["Taxes"]),
            _d(raw["Total"]),
        )
        assert o["subtotal"] + o["shipping_amount"] - o["discount_amount"] == o["order_total"]


@pytest.mark.parametrize("name", sorted(n for n in ORDER_SAMPLES if n.startswith("woo")))
def test_woocommerce_totals_add_up(samples_dir: Path, name: str) -> None:
    path = samples_dir / name
    _, orders, lines = read_detected(path)
    raw = {str(o["id"]): o for o in _woo_orders(path)}
    for o in orders.iter_rows(named=True):
        source = raw[o["external_order_id"]]
        line_total = sum((ln["line_total"] for ln in lines_of(lines, o["order_key"])), Decimal(0))
        assert o["order_total"] == Decimal(source["total"])
        assert o["shipping_amount"] == Decimal(source["shipping_total"])
        assert o["tax_amount"] == Decimal(source["total_tax"])
        assert line_total == o["subtotal"]
        assert (
            line_total + o["shipping_amount"] + o["tax_amount"] - o["discount_amount"]
            == (o["order_total"])
        )


@pytest.mark.parametrize("name", sorted(n for n in ORDER_SAMPLES if n.startswith("amazon")))
def test_amazon_totals_are_the_sum_of_the_item_rows(samples_dir: Path, name: str) -> None:
    path = samples_dir / name
    _, orders, lines = read_detected(path)
    expected: Counter = Counter()
    for row in _amazon_rows(path):
        oid = row.get("amazon-order-id") or row.get("order-id")
        expected[oid] += sum(
            (_d(row.get(c)) for c in ("item-price", "item-tax", "shipping-price", "shipping-tax")),
            Decimal(0),
        )
    assert {o["external_order_id"]: o["order_total"] for o in orders.iter_rows(named=True)} == dict(
        expected
    )
    for o in orders.iter_rows(named=True):
        got = sum((ln["line_total"] for ln in lines_of(lines, o["order_key"])), Decimal(0))
        assert got == o["subtotal"]
        assert (
            o["subtotal"] + o["shipping_amount"] + o["tax_amount"] - o["discount_amount"]
            == (o["order_total"])
        )


# --- values read off the files by hand --------------------------------------------------------


def test_shopify_times_become_utc_and_keep_their_offset(samples_dir: Path) -> None:
    cases = [
        ("shopify_1.csv", "#1051", _utc(2025, 12, 6, 15, 37, 33), "-05:00"),  # 10:37:33 -0500
        ("shopify_2.csv", "#1030", _utc(2014, 11, 25, 3, 45, 53), "+11:00"),  # 14:45:53 +1100
        ("shopify_2.csv", "#2104", _utc(2017, 4, 24, 10, 43, 35), "+10:00"),  # 20:43:35 +1000
        ("shopify_3.csv", "#1058", _utc(2025, 3, 20, 12, 20, 57), "-07:00"),  # 05:20:57 -0700
        ("shopify_4.csv", "#71733", _utc(2026, 4, 5, 17, 6, 21), "+04:00"),  # 21:06:21 +0400
    ]
    for name, number, instant, offset in cases:
        _, orders, _ = read_detected(samples_dir / name)
        o = orders.filter(pl.col("order_number") == number).row(0, named=True)
        assert (o["ordered_at"], o["ordered_at_offset"]) == (instant, offset), (name, number)


def test_shopify_sample_values(samples_dir: Path) -> None:
    _, orders, lines = read_detected(samples_dir / "shopify_1.csv")
    o = order(orders, "shopify:6798481490219")  # #1050: Id from its first row
    assert o["order_number"] == "#1050"
    assert (o["currency"], o["payment_status"], o["accepts_marketing"]) == ("INR", "paid", True)
    assert [(ln["sku"], ln["quantity"]) for ln in lines_of(lines, o["order_key"])] == [
        ("LW-MIN-BRN", 1),
        ("YM-ECO-001", 2),
        ("SC-LAV-VAN", 2),
        ("CB-ETH-500", 1),
    ]

    _, orders, _ = read_detected(samples_dir / "shopify_2.csv")
    o = orders.filter(pl.col("order_number") == "#1030").row(0, named=True)
    assert o["order_key"] == "shopify:1030"  # no Id column: the Name without '#'
    assert (o["ship_postal_code"], o["ship_city"], o["ship_country"]) == ("0812", "Darwin", "AU")

    _, orders, _ = read_detected(samples_dir / "shopify_3.csv")
    o = orders.filter(pl.col("order_number") == "#1087").row(0, named=True)
    assert o["ship_city"] == "North Bay"  # shipping address, not the Utah billing one
    assert o["ship_postal_code"] == "P1B 6E9"
    assert o["service_level"] == "expedited"  # Shipping Method "Express"
    assert o["payment_method"] == "Clover Payments"

    _, orders, _ = read_detected(samples_dir / "shopify_4.csv")
    o = order(orders, "shopify:16718484078961")
    assert o["notes"].startswith("First name: Buyer\nPhone number: 01700000000\n")
    assert o["notes"].endswith("IP address: 203.0.113.10")
    assert (o["payment_status"], o["service_level"]) == ("pending", "standard")


def test_woocommerce_sample_values(samples_dir: Path) -> None:
    _, orders, lines = read_detected(samples_dir / "woocommerce_3.json")
    o = order(orders, "woocommerce:727")
    # date_created_gmt (19:28:02), not the site-local date_created (16:28:02); no offset given.
    assert (o["ordered_at"], o["ordered_at_offset"]) == (_utc(2017, 3, 22, 19, 28, 2), None)
    assert (o["payment_status"], o["payment_method"]) == ("paid", "Direct Bank Transfer")
    names = [ln["product_name"] for ln in lines_of(lines, "woocommerce:727")]
    assert names == ["Woo Single #1", "Ship Your Idea \u2013 Color: Black, Size: M Test"]
    first = lines_of(lines, "woocommerce:727")[0]
    assert (first["quantity"], first["unit_price"], first["line_total"]) == (
        2,
        Decimal("3.00"),
        Decimal("6.00"),
    )

    _, orders, _ = read_detected(samples_dir / "woocommerce_2.json")
    o = order(orders, "woocommerce:15")  # no date_created_gmt in this export
    assert o["ordered_at"] == _utc(2023, 8, 16, 7, 45, 56)
    assert (o["ship_city"], o["ship_country"]) == ("Test", "VN")  # shipping{} blank: billing

    _, orders, lines = read_detected(samples_dir / "woocommerce_1.jsonl")
    o = order(orders, "woocommerce:45")
    assert (o["payment_status"], o["status"], o["email"]) == (
        "pending",
        "received",
        "integration-test@airbyte.io",
    )
    assert lines_of(lines, "woocommerce:45")[0]["unit_price"] == Decimal("90.00")


def test_amazon_sample_values(samples_dir: Path) -> None:
    _, orders, lines = read_detected(samples_dir / "amazon_1.txt")
    o = order(orders, "amazon:234-5678901-2345678")
    assert (o["ordered_at"], o["ordered_at_offset"]) == (_utc(2009, 1, 1, 18, 50, 49), "-08:00")
    assert [ln["external_line_id"] for ln in lines_of(lines, o["order_key"])] == [
        "22222222222222",
        "33333333333333",
    ]
    assert (o["ship_name"], o["ship_postal_code"], o["email"]) == (
        "Bob Jones",
        "11111-2222",
        "example2@example.net",
    )
    assert order(orders, "amazon:111-2222222-3333333")["service_level"] == "expedited"

    _, orders, lines = read_detected(samples_dir / "amazon_2.txt")
    o = order(orders, "amazon:112-4197184-1505047")  # quantity 4, item-price 103.96
    (line,) = lines_of(lines, o["order_key"])
    assert (line["quantity"], line["unit_price"], line["line_total"]) == (
        4,
        Decimal("25.99"),
        Decimal("103.96"),
    )
    assert line["product_name"].startswith('Trendy Home 20" x 20" Premium')
    assert line["requires_shipping"] is False  # fulfilled by Amazon
    assert o["tax_amount"] == Decimal("8.56")
    assert o["ordered_at"] == _utc(2020, 2, 18, 4, 38, 23)
    blank_tax = order(orders, "amazon:114-4892924-3377867")
    assert (blank_tax["tax_amount"], blank_tax["order_total"]) == (Decimal("0.00"), Decimal("7.49"))

    _, orders, _ = read_detected(samples_dir / "amazon_3.txt")
    o = orders.row(0, named=True)
    assert (o["currency"], o["service_level"]) == ("EUR", "expedited")  # SecondDay
    assert o["status"] == "cancelled"  # its only item is Cancelled
    assert o["cancelled_at"] == _utc(2017, 6, 18, 22, 7, 59)


# --- fulfilled by the channel -----------------------------------------------------------------

#: Orders each sample says the channel already fulfilled; every other order of the file is not.
FULFILLED_BY_CHANNEL: dict[str, set[str]] = {
    # Shopify: every sample order is "unfulfilled" (shopify_2 has no Fulfillment Status).
    "shopify_1.csv": set(),
    "shopify_2.csv": set(),
    "shopify_3.csv": set(),
    "shopify_4.csv": set(),
    # WooCommerce: only the "completed" orders.
    "woocommerce_1.jsonl": set(),  # #45 pending
    "woocommerce_2.json": {"woocommerce:15"},
    "woocommerce_3.json": set(),  # #727 processing
    "woocommerce_4.json": set(),  # #727 processing
    "woocommerce_5.json": {"woocommerce:723"},  # #727 beside it is processing
    # Amazon: the Order Report (amazon_1) has no order-status; amazon_2's 13 FBA orders are
    # all Shipped with Shipped items; amazon_3 says Shipped over its one Cancelled item.
    "amazon_1.txt": set(),
    "amazon_2.txt": {
        "amazon:114-4892924-3377867",
        "amazon:113-9925451-0581038",
        "amazon:111-3357289-8092261",
        "amazon:112-4197184-1505047",
        "amazon:112-6474735-6981805",
        "amazon:114-1842682-5713050",
        "amazon:111-7668629-1498608",
        "amazon:114-3698762-8109021",
        "amazon:111-4219154-4775464",
        "amazon:114-0514444-5702662",
        "amazon:111-1357150-2051438",
        "amazon:114-9172604-4691450",
        "amazon:113-6888348-8537012",
    },
    "amazon_3.txt": set(),
}


def _fulfilled_per_file(path: Path) -> set[str]:
    """The orders the file itself says were fulfilled, read independently of the adapters."""
    if path.name.startswith("shopify"):
        _, rows = _shopify_rows(path)
        first_rows: dict[str, dict] = {}
        for row in rows:
            first_rows.setdefault(row["Name"], row)
        return {
            f"shopify:{row.get('Id') or name.lstrip('#')}"
            for name, row in first_rows.items()
            if (row.get("Fulfillment Status") or "").strip().lower() == "fulfilled"
        }
    if path.name.startswith("woocommerce"):
        return {f"woocommerce:{o['id']}" for o in _woo_orders(path) if o["status"] == "completed"}
    items: dict[str, list[dict]] = {}
    for row in _amazon_rows(path):
        items.setdefault(row.get("amazon-order-id") or row.get("order-id"), []).append(row)
    return {
        f"amazon:{oid}"
        for oid, rows in items.items()
        if rows[0].get("order-status") == "Shipped"
        and all(r.get("item-status") in ("Shipped", "Cancelled", "") for r in rows)
        and any(r.get("item-status") != "Cancelled" for r in rows)
    }


def test_fulfilled_by_channel_table_covers_every_order_sample() -> None:
    assert set(FULFILLED_BY_CHANNEL) == set(ORDER_SAMPLES)


@pytest.mark.parametrize("name", sorted(ORDER_SAMPLES))
def test_sample_orders_fulfilled_by_the_channel(samples_dir: Path, name: str) -> None:
    path = samples_dir / name
    _, orders, _ = read_detected(path)
    fulfilled = set(orders.filter(pl.col("fulfilled_by_channel"))["order_key"])
    assert fulfilled == FULFILLED_BY_CHANNEL[name] == _fulfilled_per_file(path)


def test_sample_fulfilled_orders_read_by_hand(samples_dir: Path) -> None:
    _, orders, _ = read_detected(samples_dir / "woocommerce_2.json")
    o = order(orders, "woocommerce:15")
    assert (o["channel_status"], o["status"], o["fulfilled_by_channel"]) == (
        "completed",
        "received",
        True,
    )

    _, orders, _ = read_detected(samples_dir / "woocommerce_5.json")
    assert order(orders, "woocommerce:723")["fulfilled_by_channel"] is True  # completed
    assert order(orders, "woocommerce:727")["fulfilled_by_channel"] is False  # processing

    _, orders, lines = read_detected(samples_dir / "amazon_2.txt")
    o = order(orders, "amazon:112-4197184-1505047")  # FBA, Shipped, its item Shipped
    assert (o["channel_status"], o["fulfilled_by_channel"]) == ("Shipped", True)
    assert [ln["requires_shipping"] for ln in lines_of(lines, o["order_key"])] == [False]

    _, orders, _ = read_detected(samples_dir / "amazon_3.txt")
    o = orders.row(0, named=True)  # order-status Shipped, its only item Cancelled
    assert (o["channel_status"], o["status"], o["fulfilled_by_channel"]) == (
        "Shipped",
        "cancelled",
        False,
    )

    _, orders, _ = read_detected(samples_dir / "shopify_1.csv")
    o = order(orders, "shopify:6798481490219")  # #1050: unfulfilled on its first row only
    assert o["fulfilled_by_channel"] is False
