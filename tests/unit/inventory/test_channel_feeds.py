"""Channel feeds: shipment confirmations and available-stock feeds in the channels' own import
formats, on a real warehouse file through the real stages (allocation, fulfilment, shipping)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.lib import channel_feeds
from pipelines.lib.channel_feeds import MANIFEST, load_settings, resend
from pipelines.lib.warehouse import frame, scalar
from pipelines.project import get_settings
from tests.orders import T0, good_line, good_order
from tests.unit.inventory.conftest import NYC

AMAZON_CONFIRMATION = [
    "order-id",
    "order-item-id",
    "quantity",
    "ship-date",
    "carrier-code",
    "carrier-name",
    "tracking-number",
    "ship-method",
]
SHOPIFY_FULFILMENT = [
    "Order Name",
    "SKU",
    "Quantity",
    "Tracking Company",
    "Tracking Number",
    "Notify Customer",
]
SKUS = ("SKU-00001", "SKU-00002", "SKU-00003", "SKU-00004")


def _order(stock, key: str, lines: list[tuple[str, int]], item_ids: bool = True, **extra):
    """An order to New York (nearest WH-NJ) of (sku, quantity) lines at 10.00 a unit."""
    total = Decimal(10 * sum(q for _, q in lines))
    order = good_order(
        key,
        status="ready",
        order_number=extra.pop("order_number", key.split(":")[1]),
        **NYC,
        subtotal=total,
        shipping_amount=Decimal(0),
        tax_amount=Decimal(0),
        order_total=total,
        **extra,
    )
    rows = [
        good_line(
            key,
            n,
            sku=sku,
            quantity=q,
            unit_price=Decimal(10),
            line_total=Decimal(10 * q),
            external_line_id=f"{key.split(':')[1]}-{n}" if item_ids else None,
        )
        for n, (sku, q) in enumerate(lines, start=1)
    ]
    stock.add(order, rows)


def _ship_all(stock, at: datetime) -> datetime:
    """Allocate, release, label and close the manifests at the wave's cutoff; returns the
    moment after it."""
    stock.allocate(at)
    stock.fulfil(at + timedelta(minutes=1))
    stock.ship(at + timedelta(minutes=2))
    cutoff = scalar(stock.con, "SELECT max(cutoff_at) FROM oms.waves")
    after = cutoff + timedelta(minutes=5)
    stock.ship(after)
    return after


def _read(stock, feed: dict, name: str) -> str:
    return (stock.outbox / feed["folder"] / name).read_text(encoding="utf-8")


def _feed(result, channel: str, kind: str) -> dict:
    (found,) = [f for f in result.feeds if f["channel"] == channel and f["kind"] == kind]
    return found


def _resend(stock, feed_id: str, at: datetime) -> dict:
    return resend(
        stock.con,
        feed_id,
        reference_dir=stock.reference,
        outbox=stock.outbox,
        run_id=f"resend-{at:%H%M%S}",
        now=at,
    )


def _tsv(text: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    return list(reader.fieldnames), list(reader)


def _csv(text: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames), list(reader)


def _parcels(stock, key: str) -> list[dict]:
    return frame(
        stock.con,
        """
        SELECT p.* FROM oms.parcels p JOIN oms.shipments s USING (shipment_id)
        WHERE s.order_key = ? AND p.manifest_id IS NOT NULL ORDER BY p.parcel_id
        """,
        [key],
    ).to_dicts()


def _stocked(stock, units: int = 20) -> None:
    stock.count({("WH-NJ", s): units for s in SKUS}, T0 - timedelta(days=1))
    stock.book(T0 - timedelta(hours=12))


# --- shipment confirmations -------------------------------------------------------------------


def test_each_channel_gets_its_confirmation_layout_with_what_shipped(stock):
    _stocked(stock)
    _order(stock, "amazon:114-1", [("SKU-00001", 2), ("SKU-00002", 1)])
    _order(stock, "shopify:5501", [("SKU-00003", 3)], order_number="#1050")
    _order(stock, "woocommerce:727", [("SKU-00001", 1), ("SKU-00004", 2)])
    _order(stock, "phone:P-9", [("SKU-00002", 1)])  # no channel to tell
    after = _ship_all(stock, T0)
    result = stock.feeds(after)

    confirmations = [f for f in result.feeds if f["kind"] == "shipment_confirmation"]
    assert {f["channel"] for f in confirmations} == {"amazon", "shopify", "woocommerce"}
    assert result.units_confirmed == 9 and result.orders_confirmed == 3

    # Amazon: the shipping-confirmation flat file, one row per order item.
    (parcel,) = _parcels(stock, "amazon:114-1")
    amazon = _feed(result, "amazon", "shipment_confirmation")
    header, rows = _tsv(_read(stock, amazon, "shipping-confirmation.txt"))
    assert header == AMAZON_CONFIRMATION
    assert [(r["order-id"], r["order-item-id"], r["quantity"]) for r in rows] == [
        ("114-1", "114-1-1", "2"),
        ("114-1", "114-1-2", "1"),
    ]
    for row in rows:
        # The warehouse's local date of the cutoff the parcel left at (Amazon: yyyy-mm-dd).
        assert row["ship-date"] == parcel["ship_date"].isoformat() == "2026-11-20"
        assert row["carrier-code"] == parcel["carrier"] and row["carrier-name"] == ""
        assert row["tracking-number"] == parcel["tracking_number"]
        assert row["ship-method"] == parcel["service"]

    # Shopify: the bulk-fulfilment CSV and the same for the API.
    (parcel,) = _parcels(stock, "shopify:5501")
    shopify = _feed(result, "shopify", "shipment_confirmation")
    header, rows = _csv(_read(stock, shopify, "fulfillments.csv"))
    assert header == SHOPIFY_FULFILMENT
    assert rows == [
        {
            "Order Name": "#1050",
            "SKU": "SKU-00003",
            "Quantity": "3",
            "Tracking Company": parcel["carrier"],
            "Tracking Number": parcel["tracking_number"],
            "Notify Customer": "false",
        }
    ]
    (api,) = json.loads(_read(stock, shopify, "fulfillments.json"))
    assert api["order_id"] == 5501 and api["order_name"] == "#1050"  # ids are numbers
    assert api["fulfillment"]["tracking_info"]["number"] == parcel["tracking_number"]
    assert parcel["tracking_number"] in api["fulfillment"]["tracking_info"]["url"]
    assert api["fulfillment"]["line_items"] == [{"sku": "SKU-00003", "quantity": 3, "line_no": 1}]

    # WooCommerce: one order-update body per order, completed, tracking in meta_data.
    (parcel,) = _parcels(stock, "woocommerce:727")
    woo = _feed(result, "woocommerce", "shipment_confirmation")
    (body,) = json.loads(_read(stock, woo, "orders.json"))
    assert body["id"] == 727 and body["status"] == "completed"
    meta = {m["key"]: m["value"] for m in body["meta_data"]}
    (tracking,) = meta["_wc_shipment_tracking_items"]
    assert tracking["tracking_number"] == parcel["tracking_number"]
    assert int(tracking["date_shipped"]) == int(parcel["shipped_at"].timestamp())
    assert [(i["line_item_id"], i["sku"], i["quantity"]) for i in meta["_oms_shipped_items"]] == [
        ("727-1", "SKU-00001", 1),
        ("727-2", "SKU-00004", 2),
    ]

    # Each folder's manifest says what each feed covers, with the file's checksum.
    manifest = json.loads(_read(stock, amazon, MANIFEST))
    listed = {f["feed_id"]: f for f in manifest["feeds"]}
    assert listed[amazon["feed_id"]]["manifests"] == [parcel_manifest(stock, "amazon:114-1")]
    assert listed[amazon["feed_id"]]["units"] == 3
    assert {f["kind"] for f in manifest["feeds"]} == {"shipment_confirmation", "stock"}


def parcel_manifest(stock, key: str) -> str:
    return _parcels(stock, key)[0]["manifest_id"]


def test_a_partial_shipment_confirms_what_shipped_then_the_rest(stock):
    stock.count({("WH-NJ", "SKU-00001"): 20}, T0 - timedelta(days=1))
    stock.book(T0 - timedelta(hours=12))
    _order(stock, "woocommerce:800", [("SKU-00001", 2), ("SKU-00002", 3)])
    after = _ship_all(stock, T0)
    first = stock.feeds(after)
    woo = _feed(first, "woocommerce", "shipment_confirmation")
    (body,) = json.loads(_read(stock, woo, "orders.json"))
    assert "status" not in body  # not completed: SKU-00002 is backordered
    meta = {m["key"]: m["value"] for m in body["meta_data"]}
    assert [(i["sku"], i["quantity"]) for i in meta["_oms_shipped_items"]] == [("SKU-00001", 2)]
    assert len(meta["_wc_shipment_tracking_items"]) == 1

    # SKU-00002 arrives; the rest ships at the next cutoff and only it is confirmed.
    stock.receive({("WH-NJ", "SKU-00002"): 10}, after + timedelta(hours=1))
    stock.book(after + timedelta(hours=1))
    later = _ship_all(stock, after + timedelta(hours=2))
    second = stock.feeds(later)
    woo2 = _feed(second, "woocommerce", "shipment_confirmation")
    assert (woo2["records"], woo2["units"]) == (1, 3)
    (body,) = json.loads(_read(stock, woo2, "orders.json"))
    assert body["status"] == "completed"
    meta = {m["key"]: m["value"] for m in body["meta_data"]}
    # A PUT replaces a meta value: it carries both parcels and every item shipped so far.
    numbers = {p["tracking_number"] for p in _parcels(stock, "woocommerce:800")}
    assert {t["tracking_number"] for t in meta["_wc_shipment_tracking_items"]} == numbers
    assert len(numbers) == 2
    assert sorted((i["sku"], i["quantity"]) for i in meta["_oms_shipped_items"]) == [
        ("SKU-00001", 2),
        ("SKU-00002", 3),
    ]
    confirmed = stock.con.execute(
        "SELECT line_no, sum(quantity), count(DISTINCT feed_id) FROM oms.channel_confirmations "
        "GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert confirmed == [(1, 2, 1), (2, 3, 1)]


def test_no_item_is_confirmed_twice_across_reruns(stock):
    _stocked(stock)
    _order(stock, "amazon:114-2", [("SKU-00001", 2)])
    after = _ship_all(stock, T0)
    first = stock.feeds(after)
    assert first.items_confirmed == 1
    folders = sorted(p for p in (stock.outbox / "channels").rglob("*") if p.is_dir())

    # The batch again (shipping, feeds) with nothing new: nothing is sent, no folder made.
    stock.ship(after + timedelta(minutes=10))
    again = stock.feeds(after + timedelta(minutes=11))
    assert again.feeds == [] and again.items_confirmed == 0
    assert sorted(p for p in (stock.outbox / "channels").rglob("*") if p.is_dir()) == folders
    # A resend repeats the file but not the confirmation; the next run still sends nothing.
    _resend(
        stock,
        _feed(first, "amazon", "shipment_confirmation")["feed_id"],
        after + timedelta(minutes=12),
    )
    assert stock.feeds(after + timedelta(minutes=13)).feeds == []
    assert scalar(stock.con, "SELECT sum(quantity) FROM oms.channel_confirmations") == 2


def test_amazon_orders_without_item_ids_are_confirmed_whole_once_they_have_shipped(stock):
    stock.count({("WH-NJ", "SKU-00001"): 20}, T0 - timedelta(days=1))
    stock.book(T0 - timedelta(hours=12))
    # Read from an All Orders report: no order-item-id to confirm a part by.
    _order(stock, "amazon:114-3", [("SKU-00001", 1), ("SKU-00002", 1)], item_ids=False)
    after = _ship_all(stock, T0)
    first = stock.feeds(after)
    assert first.items_waiting == 1
    assert [f for f in first.feeds if f["kind"] == "shipment_confirmation"] == []

    stock.receive({("WH-NJ", "SKU-00002"): 5}, after + timedelta(hours=1))
    stock.book(after + timedelta(hours=1))
    later = _ship_all(stock, after + timedelta(hours=2))
    second = stock.feeds(later)
    assert second.items_waiting == 0
    amazon = _feed(second, "amazon", "shipment_confirmation")
    _, rows = _tsv(_read(stock, amazon, "shipping-confirmation.txt"))
    first = min(_parcels(stock, "amazon:114-3"), key=lambda p: (p["shipped_at"], p["parcel_id"]))
    assert len(_parcels(stock, "amazon:114-3")) == 2
    # The whole order, once (a blank item id confirms the whole order: a second row would
    # confirm it again), with its first parcel's tracking number.
    assert [
        (r["order-id"], r["order-item-id"], r["quantity"], r["tracking-number"]) for r in rows
    ] == [("114-3", "", "", first["tracking_number"])]
    assert stock.feeds(later + timedelta(minutes=1)).feeds == []


def test_an_amazon_order_without_item_ids_cancelled_after_a_part_shipped_is_confirmed(stock):
    stock.count({("WH-NJ", "SKU-00001"): 20}, T0 - timedelta(days=1))
    stock.book(T0 - timedelta(hours=12))
    _order(stock, "amazon:114-4", [("SKU-00001", 1), ("SKU-00002", 1)], item_ids=False)
    after = _ship_all(stock, T0)
    assert stock.feeds(after).items_waiting == 1
    stock.con.execute("UPDATE oms.orders SET status = 'cancelled' WHERE order_key = 'amazon:114-4'")
    settled = stock.feeds(after + timedelta(minutes=1))
    assert settled.items_waiting == 0 and settled.items_confirmed == 1


def test_units_of_a_line_the_channel_changed_after_picking_are_never_sent_with_a_wrong_id(stock):
    _stocked(stock)
    _order(stock, "amazon:114-7", [("SKU-00001", 1), ("SKU-00002", 2)])
    _order(stock, "shopify:7001", [("SKU-00001", 1), ("SKU-00002", 2)])
    stock.allocate(T0)
    stock.fulfil(T0 + timedelta(minutes=1))
    stock.ship(T0 + timedelta(minutes=2))
    # The channels drop line 1 while the units are picked: intake stores the new lines
    # numbered by position, so SKU-00002 (item 114-7-2) is now line 1.
    for key in ("amazon:114-7", "shopify:7001"):
        stock.con.execute("DELETE FROM oms.order_lines WHERE order_key = ?", [key])
        stock.con.execute(
            "INSERT INTO oms.order_lines BY NAME SELECT ? AS order_key, 1 AS line_no, "
            "'SKU-00002' AS sku, 2 AS quantity, ? AS external_line_id, true AS requires_shipping,"
            " 'test.csv' AS source_file, 1 AS source_row, 'load' AS run_id",
            [key, "114-7-2" if key.startswith("amazon") else None],
        )
    cutoff = scalar(stock.con, "SELECT max(cutoff_at) FROM oms.waves")
    stock.ship(cutoff + timedelta(minutes=5))
    result = stock.feeds(cutoff + timedelta(minutes=6))
    # SKU-00001 is no longer on either order: its unit is never confirmed (for review).
    assert result.items_unmatched == 2
    # SKU-00002 left as line 2 and is line 1 now: confirmed under its own item id.
    amazon = _feed(result, "amazon", "shipment_confirmation")
    _, rows = _tsv(_read(stock, amazon, "shipping-confirmation.txt"))
    assert [(r["order-item-id"], r["quantity"]) for r in rows] == [("114-7-2", "2")]
    shopify = _feed(result, "shopify", "shipment_confirmation")
    _, rows = _csv(_read(stock, shopify, "fulfillments.csv"))
    assert [(r["SKU"], r["Quantity"]) for r in rows] == [("SKU-00002", "2")]


# --- stock --------------------------------------------------------------------------------------

CHANNELS_TOML = """
[amazon]
safety_margin = 2
reserve_percent = 10
fulfillment_latency = 3

[shopify]
warehouses = ["WH-NJ"]
safety_margin = 0
reserve_percent = 0
location = "Edison"

[woocommerce]
warehouses = ["WH-NJ", "WH-GA"]
safety_margin = 1
reserve_percent = 20
"""


def _stock_setup(stock) -> None:
    """SKU-00001: NJ 10, GA 7, CA 50. SKU-00002: NJ 2. SKU-00003: NJ 10 with 4 of safety
    stock. SKU-00004: NJ 10 but discontinued."""
    stock.policy({("WH-NJ", "SKU-00003"): (4, 2, 20)})  # (rewrites the reference folder)
    (stock.reference / "channels.toml").write_text(CHANNELS_TOML, encoding="utf-8")
    products = pl.read_csv(stock.reference / "products.csv", infer_schema=False)
    products.with_columns(
        active=pl.when(pl.col("sku") == "SKU-00004").then(pl.lit("false")).otherwise("active")
    ).write_csv(stock.reference / "products.csv")
    stock.count(
        {
            ("WH-NJ", "SKU-00001"): 10,
            ("WH-GA", "SKU-00001"): 7,
            ("WH-CA", "SKU-00001"): 50,
            ("WH-NJ", "SKU-00002"): 2,
            ("WH-NJ", "SKU-00003"): 10,
            ("WH-NJ", "SKU-00004"): 10,
        },
        T0 - timedelta(days=1),
    )
    stock.book(T0 - timedelta(hours=12))


def _levels(stock, result) -> dict[str, dict[str, int]]:
    """What each channel's stock file says, read back with its own layout."""
    out = {}
    amazon = _feed(result, "amazon", "stock")
    header, rows = _tsv(_read(stock, amazon, "inventory-loader.txt"))
    assert header == ["sku", "quantity", "leadtime-to-ship"]
    assert {r["leadtime-to-ship"] for r in rows} == {"3"}
    out["amazon"] = {r["sku"]: int(r["quantity"]) for r in rows}
    shopify = _feed(result, "shopify", "stock")
    header, rows = _csv(_read(stock, shopify, "inventory.csv"))
    assert header == [
        "Handle",
        "Title",
        "Option1 Name",
        "Option1 Value",
        "Option2 Name",
        "Option2 Value",
        "Option3 Name",
        "Option3 Value",
        "SKU",
        "Location",
        "Available",
    ]
    assert {r["Location"] for r in rows} == {"Edison"}
    assert {(r["Option1 Name"], r["Option1 Value"]) for r in rows} == {("Title", "Default Title")}
    out["shopify"] = {r["SKU"]: int(r["Available"]) for r in rows}
    woo = _feed(result, "woocommerce", "stock")
    batches = json.loads(_read(stock, woo, "products-stock.json"))
    assert all(len(b["update"]) <= 100 for b in batches)
    updates = [u for b in batches for u in b["update"]]
    assert all(
        u["manage_stock"]
        and u["stock_status"] == ("instock" if u["stock_quantity"] else "outofstock")
        for u in updates
    )
    out["woocommerce"] = {u["sku"]: u["stock_quantity"] for u in updates}
    return out


def test_stock_feeds_offer_atp_over_the_channels_warehouses_less_buffers_never_below_zero(stock):
    _stock_setup(stock)
    result = stock.feeds(T0)
    levels = _levels(stock, result)
    mine = {channel: {s: got[s] for s in SKUS} for channel, got in levels.items()}
    assert mine == {
        # all warehouses; buffer 2 + ceil(10% of ATP): 67 - (2 + 7) = 58; 2 - 3 -> 0;
        # NJ 10 less 4 safety stock = 6 - (2 + 1) = 3; discontinued -> 0
        "amazon": {"SKU-00001": 58, "SKU-00002": 0, "SKU-00003": 3, "SKU-00004": 0},
        # NJ only, no buffer
        "shopify": {"SKU-00001": 10, "SKU-00002": 2, "SKU-00003": 6, "SKU-00004": 0},
        # NJ + GA = 17 - (1 + ceil(3.4) = 4) = 12; 2 - (1 + 1) = 0; 6 - (1 + 2) = 3
        "woocommerce": {"SKU-00001": 12, "SKU-00002": 0, "SKU-00003": 3, "SKU-00004": 0},
    }
    # The first feed tells each channel every physical catalogue product; no digital goods.
    products = pl.read_csv(stock.reference / "products.csv", infer_schema=False)
    physical = set(products.filter(pl.col("requires_shipping") == "true")["sku"])
    assert all(set(got) == physical for got in levels.values())
    # Committed stock is not for sale: an order of 4 x SKU-00001 from NJ lowers every channel.
    _order(stock, "shopify:9001", [("SKU-00001", 4)])
    stock.allocate(T0 + timedelta(minutes=30))
    after = stock.feeds(T0 + timedelta(minutes=31))
    changed = {f["channel"]: f for f in after.feeds if f["kind"] == "stock"}
    assert _stored(stock, changed["shopify"]) == {"SKU-00001": 6}
    assert _stored(stock, changed["amazon"]) == {"SKU-00001": 63 - 9}  # 63 - (2 + ceil(6.3))
    assert _stored(stock, changed["woocommerce"]) == {"SKU-00001": 13 - 4}  # 13 - (1 + 3)


def _stored(stock, feed: dict) -> dict[str, int]:
    return dict(
        stock.con.execute(
            "SELECT sku, quantity FROM oms.channel_stock WHERE feed_id = ?", [feed["feed_id"]]
        ).fetchall()
    )


def test_an_incremental_stock_feed_after_a_receipt_holds_only_the_changed_skus(stock):
    _stock_setup(stock)
    stock.feeds(T0)
    stock.receive({("WH-NJ", "SKU-00001"): 5, ("WH-CA", "SKU-00003"): 10}, T0 + timedelta(hours=1))
    stock.book(T0 + timedelta(hours=1))
    result = stock.feeds(T0 + timedelta(hours=2))
    sent = {f["channel"]: _stored(stock, f) for f in result.feeds}
    assert sent == {
        # 72 - (2 + ceil(7.2)); CA serves Amazon: 16 - (2 + 2)
        "amazon": {"SKU-00001": 62, "SKU-00003": 12},
        "shopify": {"SKU-00001": 15},  # NJ only: the CA receipt changes nothing here
        "woocommerce": {"SKU-00001": 16},  # 22 - (1 + ceil(4.4))
    }
    assert {f["mode"] for f in result.feeds} == {"incremental"}
    levels = _levels(stock, result)
    assert levels == sent  # the files hold only the changed SKUs
    # Nothing changed since: nothing is sent. A full feed on demand sends every SKU.
    assert stock.feeds(T0 + timedelta(hours=3)).feeds == []
    full = stock.feeds(T0 + timedelta(hours=4), full=True, confirmations=False)
    assert {f["mode"] for f in full.feeds} == {"full"}
    catalogue = _catalogue(stock)
    assert [f["records"] for f in full.feeds] == [len(catalogue)] * 3
    assert _levels(stock, full)["shopify"]["SKU-00001"] == 15


def test_a_sku_taken_out_of_the_catalogue_is_told_zero_once(stock):
    _stock_setup(stock)
    stock.feeds(T0)
    products = pl.read_csv(stock.reference / "products.csv", infer_schema=False)
    products.filter(pl.col("sku") != "SKU-00003").with_columns(
        requires_shipping=pl.when(pl.col("sku") == "SKU-00001")
        .then(pl.lit("false"))
        .otherwise("requires_shipping")
    ).write_csv(stock.reference / "products.csv")
    result = stock.feeds(T0 + timedelta(hours=1))
    # Both were on sale everywhere; no channel may go on selling them at the old figure.
    assert {f["channel"]: _stored(stock, f) for f in result.feeds} == {
        channel: {"SKU-00001": 0, "SKU-00003": 0}
        for channel in ("amazon", "shopify", "woocommerce")
    }
    assert _levels(stock, result)["shopify"] == {"SKU-00001": 0, "SKU-00003": 0}
    assert stock.feeds(T0 + timedelta(hours=2)).feeds == []


def _catalogue(stock) -> set[str]:
    products = pl.read_csv(stock.reference / "products.csv", infer_schema=False)
    return set(products.filter(pl.col("requires_shipping") == "true")["sku"])


# --- failures, resends, settings ----------------------------------------------------------------


def test_feeds_recorded_before_a_crash_are_written_by_the_next_run(stock, monkeypatch):
    _stocked(stock)
    _order(stock, "shopify:77", [("SKU-00001", 1)])
    after = _ship_all(stock, T0)

    def disk_full(path, write):
        raise OSError("No space left on device")

    monkeypatch.setattr(channel_feeds, "write_atomically", disk_full)
    with pytest.raises(OSError, match="No space left"):
        stock.feeds(after)
    pending = frame(stock.con, "SELECT * FROM oms.channel_feeds WHERE written_at IS NULL")
    assert pending.height == 4  # shopify confirmation, and stock for the three channels
    assert not list((stock.outbox / "channels").rglob(MANIFEST))

    monkeypatch.undo()
    retry = stock.feeds(after + timedelta(minutes=1))
    assert retry.feeds == [] and retry.folders_written == 3
    # The same feeds, in the folders recorded for them, each once.
    assert scalar(stock.con, "SELECT count(*) FROM oms.channel_feeds") == 4
    assert scalar(stock.con, "SELECT count(*) FROM oms.channel_feeds WHERE written_at IS NULL") == 0
    for folder in pending["folder"].unique():
        manifest = json.loads((stock.outbox / folder / MANIFEST).read_text())
        assert {f["feed_id"] for f in manifest["feeds"]} == set(
            pending.filter(pl.col("folder") == folder)["feed_id"]
        )
    assert scalar(stock.con, "SELECT sum(quantity) FROM oms.channel_confirmations") == 1


def test_a_resend_writes_the_same_records_into_a_new_folder(stock):
    _stocked(stock)
    _order(stock, "shopify:78", [("SKU-00002", 2)])
    after = _ship_all(stock, T0)
    first = stock.feeds(after)
    original = _feed(first, "shopify", "shipment_confirmation")
    again = _resend(stock, original["feed_id"], after + timedelta(hours=1))
    assert again["mode"] == "resend" and again["resend_of"] == original["feed_id"]
    assert again["folder"] != original["folder"]
    for name in ("fulfillments.csv", "fulfillments.json"):
        assert _read(stock, again, name) == _read(stock, original, name)
    manifest = json.loads(_read(stock, again, MANIFEST))
    assert [(f["feed_id"], f["resend_of"]) for f in manifest["feeds"]] == [
        (again["feed_id"], original["feed_id"])
    ]
    # A resend of the resend repeats the original's records.
    third = _resend(stock, again["feed_id"], after + timedelta(hours=1))
    assert third["resend_of"] == original["feed_id"] and third["folder"] != again["folder"]
    with pytest.raises(LookupError, match="FD-999999"):
        _resend(stock, "FD-999999", after)


def _cli_env(stock, monkeypatch) -> None:
    monkeypatch.setenv("OMS_DATA_DIR", str(stock.root))
    monkeypatch.setenv("OMS_WAREHOUSE", str(stock.root / "oms.duckdb"))
    monkeypatch.setenv("OMS_REFERENCE_DIR", str(stock.reference))
    monkeypatch.setenv("DAGSTER_HOME", str(stock.root / "dagster_home"))
    get_settings.cache_clear()


def test_oms_feeds_lists_resends_and_sends_a_full_stock_feed(stock, monkeypatch):
    _stocked(stock)
    _order(stock, "amazon:114-9", [("SKU-00003", 1)])
    after = _ship_all(stock, T0)
    first = stock.feeds(after)
    amazon = _feed(first, "amazon", "shipment_confirmation")
    stock.close()
    _cli_env(stock, monkeypatch)
    runner = CliRunner()
    try:
        listed = runner.invoke(app, ["feeds", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        assert {f["feed_id"] for f in json.loads(listed.output)} == {
            f["feed_id"] for f in first.feeds
        }
        done = runner.invoke(app, ["feeds", "resend", amazon["feed_id"].lower()])
        assert done.exit_code == 0, done.output
        next_id = f"FD-{len(first.feeds) + 1:06d}"
        assert f"{next_id} amazon shipment_confirmation (resend)" in done.output
        unknown = runner.invoke(app, ["feeds", "resend", "FD-000099"])
        assert unknown.exit_code == 2 and "no feed 'FD-000099'" in unknown.output

        full = runner.invoke(app, ["feeds", "stock", "--channel", "shopify"])
        assert full.exit_code == 0, full.output
        assert "shopify stock (full)" in full.output and "amazon" not in full.output
        wrong = runner.invoke(app, ["feeds", "stock", "--channel", "ebay"])
        assert wrong.exit_code == 2 and "no feeds for channel(s) ebay" in wrong.output

        # While a batch holds the warehouse, the command says so and changes nothing.
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time; from pipelines.lib.warehouse import connect\n"
                "with connect(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
                str(stock.root / "oms.duckdb"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "held"
            busy = runner.invoke(app, ["feeds", "resend", amazon["feed_id"]])
            assert busy.exit_code == 3 and "busy" in busy.output
        finally:
            holder.kill()
            holder.wait()
        time.sleep(0.1)
        listed = json.loads(runner.invoke(app, ["feeds", "list", "--json"]).output)
        assert [f["mode"] for f in listed[:2]] == ["full", "resend"]
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[woocommerce]\nwarehouses = ["WH-XX"]\n', "unknown warehouse(s) WH-XX"),
        ("[amazon]\nreserve_percent = 150\n", "amazon.reserve_percent must be a whole number"),
        ("[shopify]\nsafety_margin = -1\n", "shopify.safety_margin must be a whole number"),
        ("[shopify]\nstok = false\n", "unknown setting(s) shopify.stok"),
        ("[ebay]\nstock = true\n", "unknown setting(s) ebay"),
        ("[amazon]\nstock = 'no'\n", "amazon.stock must be true or false"),
    ],
)
def test_channel_settings_with_a_mistake_are_refused_with_the_file_named(
    tmp_path: Path, toml: str, message: str
):
    reference = tmp_path / "reference"
    reference.mkdir()
    source = Path(channel_feeds.__file__).parents[2] / "data" / "reference" / "warehouses.csv"
    (reference / "warehouses.csv").write_bytes(source.read_bytes())
    (reference / "channels.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ValueError, match=r"channels\.toml") as raised:
        load_settings(reference)
    assert message in str(raised.value)


def test_a_warehouse_that_shipped_before_it_had_feeds_does_not_confirm_those_again(stock):
    from pipelines.lib.warehouse import migrate

    _stocked(stock)
    _order(stock, "woocommerce:300", [("SKU-00001", 2)])
    after = _ship_all(stock, T0)
    # The warehouse as it was before channel feeds (schema version 7).
    for table in ("channel_feeds", "channel_confirmations", "channel_stock"):
        stock.con.execute(f"DROP TABLE oms.{table}")
    stock.con.execute("DELETE FROM raw.schema_version")
    stock.con.execute("INSERT INTO raw.schema_version VALUES (7, now(), 'before feeds')")
    changes = migrate(stock.con)
    assert "1 shipped item(s) recorded as confirmed to their channels" in changes
    (baseline,) = frame(stock.con, "SELECT * FROM oms.channel_feeds").to_dicts()
    assert (baseline["mode"], baseline["units"], baseline["folder"]) == ("baseline", 2, "")
    result = stock.feeds(after)
    assert [f["kind"] for f in result.feeds] == ["stock"] * 3
    assert list((stock.outbox / "channels").rglob("orders.json")) == []


def test_a_resend_writes_the_same_bytes_after_the_settings_changed(stock):
    _stock_setup(stock)
    first = stock.feeds(T0)
    original = _feed(first, "shopify", "stock")
    (stock.reference / "channels.toml").write_text(
        CHANNELS_TOML.replace('location = "Edison"', 'location = "Newark"'), encoding="utf-8"
    )
    again = _resend(stock, original["feed_id"], T0 + timedelta(hours=1))
    assert _read(stock, again, "inventory.csv") == _read(stock, original, "inventory.csv")
    assert "Edison" in _read(stock, again, "inventory.csv")
    # New feeds use the new settings.
    full = stock.feeds(T0 + timedelta(hours=2), full=True, channels=("shopify",))
    assert {r["Location"] for r in _csv(_read(stock, full.feeds[0], "inventory.csv"))[1]} == {
        "Newark"
    }
