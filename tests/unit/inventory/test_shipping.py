"""Rating, labels, manifests (ship confirmation), tracking events and delays, on a real
warehouse file through the real stages."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pypdf
import pytest

from pipelines.defs.inventory import UNACCOUNTED_SQL
from pipelines.lib.shipping import load_settings
from pipelines.lib.tracking_numbers import is_valid
from pipelines.lib.warehouse import frame
from tests.orders import T0, good_line, good_order
from tests.unit.inventory.conftest import NYC, SF

#: The NJ and CA cutoffs of T0's day (17:00 New York, 14:00 Los Angeles) have passed.
AFTER_CUTOFF = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
SKUS = ("SKU-00001", "SKU-00002", "SKU-00003")


def _orders(stock, orders, stocked=("WH-CA", "WH-NJ"), units: int = 50) -> None:
    """Stock ``units`` of SKUS in the ``stocked`` warehouses; add and allocate ``orders``
    [(key, ship-to, [(sku, quantity)], extra order fields)]."""
    stock.count({(w, s): units for w in stocked for s in SKUS}, T0 - timedelta(days=1))
    stock.book()
    for key, where, lines, extra in orders:
        stock.add(
            good_order(key, status="ready", **where, **extra),
            [good_line(key, n, sku=sku, quantity=q) for n, (sku, q) in enumerate(lines, 1)],
        )
    stock.allocate()


def _parcels(stock) -> list[dict]:
    return frame(stock.con, "SELECT * FROM oms.parcels ORDER BY parcel_id").to_dicts()


def _tracking_csv(stock, name: str, rows: list[tuple]) -> Path:
    """A flat tracking CSV in the inbox: (tracking_number, status, occurred_at, message)."""
    path = stock.inbox / name
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            ["tracking_number", "carrier", "status", "occurred_at", "location", "message"]
        )
        for number, status, at, message in rows:
            writer.writerow(
                [number, "UPS", status, at.isoformat(), "Newark, NJ 07102, US", message]
            )
    return path


def _unaccounted(stock) -> int:
    return stock.con.execute(UNACCOUNTED_SQL).fetchall()[0][0]


def test_parcels_are_rated_numbered_and_labelled_per_wave(stock):
    _orders(
        stock,
        [
            ("shopify:1", NYC, [("SKU-00001", 2), ("SKU-00003", 1)], {"order_number": "#1001"}),
            ("shopify:2", NYC, [("SKU-00002", 1)], {"service_level": "overnight"}),
            ("shopify:3", SF, [("SKU-00001", 1)], {"order_number": "#1003"}),
        ],
    )
    stock.fulfil()
    result = stock.ship()
    parcels = _parcels(stock)
    assert result.rated == result.labelled == len(parcels) == 3
    assert result.unlabelled == 0 and result.manifests == 0  # the cutoff is hours away
    for p in parcels:
        assert is_valid(p["tracking_number"]), p["tracking_number"]
        assert p["status"] == "released" and p["label_path"].endswith("_labels.pdf")
        assert p["meets_sla"] and p["transit_days"] <= p["promised_days"]
    assert len({p["tracking_number"] for p in parcels}) == 3
    overnight = next(
        p for p in parcels if p["shipment_id"].endswith("T01") and "NJ" in p["parcel_id"]
    )
    assert overnight["promised_days"] == 1 and overnight["transit_days"] == 1

    # The chosen service is the quote ranked 1, the cheapest of those meeting the promise;
    # every other quote says why it lost.
    quotes = frame(stock.con, "SELECT * FROM oms.rate_quotes")
    for p in parcels:
        mine = quotes.filter(pl.col("parcel_id") == p["parcel_id"])
        winner = mine.filter(pl.col("rank") == 1).row(0, named=True)
        assert (winner["carrier"], winner["service"], winner["price"]) == (
            p["carrier"],
            p["service"],
            p["rate"],
        )
        meeting = mine.filter(pl.col("meets_sla"))
        assert winner["price"] == meeting["price"].min()
        assert mine.filter(pl.col("rank") != 1)["why_not"].null_count() == 0
        assert mine.height >= 6

    # One 4x6 PDF page and one ZPL label per parcel, beside each wave's pick list.
    folder = stock.outbox / "WH-NJ" / "2026-11-20"
    for wave, expected in (("W-NJ-20261120-001", 1), ("W-NJ-20261120-002", 1)):
        pdf = pypdf.PdfReader(folder / f"{wave}_labels.pdf")
        assert len(pdf.pages) == expected
        assert (
            float(pdf.pages[0].mediabox.width) == 288 and float(pdf.pages[0].mediabox.height) == 432
        )
        zpl = (folder / f"{wave}_labels.zpl").read_text("utf-8")
        assert zpl.count("^XA") == zpl.count("^XZ") == expected
        numbers = [p["tracking_number"] for p in parcels if p["shipment_id"].startswith(wave)]
        text = pdf.pages[0].extract_text()
        for number in numbers:
            assert number in zpl and number in text

    # Nothing new to rate: a second run writes no file and changes no row.
    files = {p: p.stat().st_mtime_ns for p in stock.outbox.rglob("*") if p.is_file()}
    again = stock.ship()
    assert (again.rated, again.label_files, again.manifests) == (0, 0, 0)
    assert {p: p.stat().st_mtime_ns for p in stock.outbox.rglob("*") if p.is_file()} == files
    assert _parcels(stock) == parcels


def test_tracking_numbers_stay_unique_across_runs_and_voided_labels_are_not_reused(stock):
    _orders(stock, [(f"shopify:{n}", NYC, [("SKU-00001", 1)], {}) for n in (1, 2)])
    stock.fulfil()
    stock.ship()
    first = {p["parcel_id"]: p["tracking_number"] for p in _parcels(stock)}
    # Order 1 is cancelled after its label was printed: the label is voided.
    stock.update("shopify:1", T0 + timedelta(hours=1), status="cancelled")
    stock.allocate()
    stock.fulfil()
    voided = stock.ship()
    assert voided.labels_voided == 1
    for n in (3, 4):
        key = f"shopify:{n}"
        stock.add(good_order(key, status="ready", **NYC), [good_line(key, 1, quantity=1)])
    stock.allocate()
    stock.fulfil()
    stock.ship()
    parcels = _parcels(stock)
    numbers = [p["tracking_number"] for p in parcels]
    assert len(parcels) == 4 and len(set(numbers)) == 4
    assert {
        p["parcel_id"]: p["tracking_number"] for p in parcels if p["parcel_id"] in first
    } == first
    serials = sorted(p["tracking_serial"] for p in parcels if p["carrier"] == parcels[0]["carrier"])
    assert serials == list(range(1, len(serials) + 1))
    cancelled = [p for p in parcels if p["status"] == "cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["voided_at"] is not None


def test_closing_the_manifest_at_the_cutoff_ships_and_takes_stock_off_the_ledger(stock):
    _orders(
        stock,
        [
            ("shopify:1", NYC, [("SKU-00001", 2), ("SKU-00003", 1)], {"order_number": "#1001"}),
            ("shopify:2", NYC, [("SKU-00002", 1)], {"order_number": "#1002"}),
        ],
    )
    stock.fulfil()
    stock.ship()
    assert stock.position("WH-NJ", "SKU-00001") == {"on_hand": 50, "committed": 2}
    result = stock.ship(AFTER_CUTOFF)
    parcels = _parcels(stock)
    assert result.parcels_shipped == len(parcels) and result.shipments_shipped == 2
    assert result.orders_shipped == 2 and result.units_shipped == 4

    manifests = frame(stock.con, "SELECT * FROM oms.manifests ORDER BY manifest_id").to_dicts()
    carriers = {p["carrier"] for p in parcels}
    assert [m["carrier"] for m in manifests] == sorted(carriers)
    for m in manifests:
        mine = [p for p in parcels if p["manifest_id"] == m["manifest_id"]]
        assert m["manifest_id"].startswith(f"M-{m['carrier'].upper()}-NJ-20261120-")
        assert m["parcels"] == len(mine)
        assert m["weight_g"] == sum(p["weight_g"] for p in mine)
        assert m["total_cost"] == sum((p["rate"] for p in mine), Decimal("0"))
        assert m["cutoff_at"] == datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
        rows = pl.read_csv(m["csv_path"], infer_schema=False)
        assert sorted(rows["tracking_number"]) == sorted(p["tracking_number"] for p in mine)
        text = "\n".join(page.extract_text() for page in pypdf.PdfReader(m["pdf_path"]).pages)
        assert all(p["tracking_number"] in text for p in mine)

    assert {p["status"] for p in parcels} == {"shipped"}
    assert all(p["shipped_at"] == datetime(2026, 11, 20, 22, 0, tzinfo=UTC) for p in parcels)
    shipments = stock.con.execute("SELECT DISTINCT status FROM oms.shipments").fetchall()
    assert shipments == [("shipped",)]
    assert stock.con.execute("SELECT DISTINCT status FROM oms.waves").fetchall() == [("shipped",)]
    assert stock.allocations("shopify:1", status="shipped") == [
        (1, "WH-NJ", 2, "single"),
        (2, "WH-NJ", 1, "single"),
    ]
    # The ship movements take the units off on_hand and committed, at the cutoff.
    assert stock.position("WH-NJ", "SKU-00001") == {"on_hand": 48, "committed": 0}
    assert stock.position("WH-NJ", "SKU-00003") == {"on_hand": 49, "committed": 0}
    # The positions ops read (oms status, the dashboards) follow at once, not at the next batch.
    shown = stock.con.execute(
        'SELECT on_hand, "committed" FROM oms.inventory_positions '
        "WHERE warehouse_id = 'WH-NJ' AND sku = 'SKU-00001'"
    ).fetchall()
    assert shown == [(48, 0)]
    ships = stock.ledger().filter(pl.col("reason") == "ship")
    assert ships.height == 3 and set(ships["at"]) == {datetime(2026, 11, 20, 22, 0, tzinfo=UTC)}
    assert (ships["on_hand_delta"] == ships["committed_delta"]).all()
    assert stock.status("shopify:1") == stock.status("shopify:2") == "shipped"
    shipped = [d for e, d in stock.events("shopify:1") if e == "shipped"]
    number = next(p["tracking_number"] for p in parcels if p["parcel_id"].endswith("T01-P1"))
    assert len(shipped) == 1 and number in shipped[0] and shipped[0].startswith("3 unit(s)")
    assert _unaccounted(stock) == 0

    # A second close finds nothing: no manifest, movement, event or file more.
    files = {p: p.stat().st_mtime_ns for p in stock.outbox.rglob("*") if p.is_file()}
    events = stock.con.execute("SELECT count(*) FROM oms.order_events").fetchall()
    again = stock.ship(AFTER_CUTOFF + timedelta(minutes=5))
    assert (again.manifests, again.parcels_shipped) == (0, 0)
    assert stock.ledger().filter(pl.col("reason") == "ship").height == 3
    assert stock.con.execute("SELECT count(*) FROM oms.order_events").fetchall() == events
    assert {p: p.stat().st_mtime_ns for p in stock.outbox.rglob("*") if p.is_file()} == files


def _partly_shipped(stock):
    """Only SKU-00001 is in stock: line 2 of shopify:1 waits and the order ships partly at
    T0's cutoff. Returns that close's result."""
    stock.count({("WH-NJ", "SKU-00001"): 5}, T0 - timedelta(days=1))
    stock.book()
    stock.add(
        good_order("shopify:1", status="ready", **NYC),
        [
            good_line("shopify:1", 1, quantity=2),
            good_line("shopify:1", 2, sku="SKU-00002", quantity=3),
        ],
    )
    stock.allocate()
    stock.fulfil()
    stock.ship()
    return stock.ship(AFTER_CUTOFF)


def _rest_received(stock) -> None:
    """The 3 units of line 2 arrive and are allocated."""
    stock.receive({("WH-NJ", "SKU-00002"): 3}, AFTER_CUTOFF)
    stock.book(AFTER_CUTOFF + timedelta(minutes=1))
    stock.allocate(AFTER_CUTOFF + timedelta(minutes=2))
    assert stock.allocations("shopify:1") == [(2, "WH-NJ", 3, "single")]


def test_a_partial_shipment_then_the_rest_after_a_receipt(stock):
    first = _partly_shipped(stock)
    assert (first.orders_partially_shipped, first.orders_shipped) == (1, 0)
    assert stock.status("shopify:1") == "partially_shipped"
    partial = [d for e, d in stock.events("shopify:1") if e == "partially_shipped"]
    assert partial and "2 of 5 so far" in partial[0]
    assert _unaccounted(stock) == 0

    _rest_received(stock)
    assert stock.status("shopify:1") == "partially_shipped"  # still: part has left
    assert _unaccounted(stock) == 0
    stock.fulfil(AFTER_CUTOFF + timedelta(minutes=3))
    stock.ship(AFTER_CUTOFF + timedelta(minutes=4))  # labelled for the next day's cutoff
    rest = stock.ship(AFTER_CUTOFF + timedelta(days=1))
    assert rest.orders_shipped == 1 and stock.status("shopify:1") == "shipped"
    assert stock.position("WH-NJ", "SKU-00001") == {"on_hand": 3, "committed": 0}
    assert stock.position("WH-NJ", "SKU-00002") == {"on_hand": 0, "committed": 0}
    manifests = stock.con.execute("SELECT manifest_date FROM oms.manifests ORDER BY 1").fetchall()
    assert [m[0].isoformat() for m in manifests] == ["2026-11-20", "2026-11-21"]


def test_a_waiting_line_removed_after_a_partial_shipment_is_never_shipped(stock):
    _partly_shipped(stock)
    _rest_received(stock)
    # The channel sends the order again without line 2: its stock goes back, nothing of it
    # ships, and the order has shipped everything it still has.
    stock.con.execute("DELETE FROM oms.order_lines WHERE order_key = 'shopify:1' AND line_no = 2")
    released = stock.allocate(AFTER_CUTOFF + timedelta(minutes=3))
    assert released.released == {"order line changed": 1}
    assert stock.position("WH-NJ", "SKU-00002") == {"on_hand": 3, "committed": 0}
    stock.fulfil(AFTER_CUTOFF + timedelta(minutes=4))
    settled = stock.ship(AFTER_CUTOFF + timedelta(minutes=5))
    assert settled.orders_shipped == 1 and stock.status("shopify:1") == "shipped"
    stock.ship(AFTER_CUTOFF + timedelta(days=1))
    shipped = stock.con.execute(
        "SELECT line_no, quantity FROM oms.allocations WHERE status = 'shipped'"
    ).fetchall()
    assert shipped == [(1, 2)]
    assert stock.backorders("shopify:1") == [] or all(
        b["status"] != "open" for b in stock.backorders("shopify:1")
    )


def test_a_parcel_no_service_can_carry_keeps_its_shipment_back(stock):
    _orders(
        stock,
        [("shopify:1", NYC, [("SKU-00001", 1)], {}), ("shopify:2", NYC, [("SKU-00002", 1)], {})],
    )
    stock.fulfil()
    stock.con.execute("UPDATE oms.parcels SET weight_g = 90000 WHERE shipment_id LIKE '%-T01'")
    result = stock.ship()
    assert (result.rated, result.labelled, result.unlabelled) == (2, 1, 1)
    heavy = stock.con.execute(
        "SELECT tracking_number, rating_warning FROM oms.parcels WHERE weight_g = 90000"
    ).fetchall()
    assert heavy[0][0] is None and heavy[0][1].startswith("no service can carry this parcel")
    closed = stock.ship(AFTER_CUTOFF)
    assert closed.shipments_shipped == 1
    statuses = dict(stock.con.execute("SELECT order_key, status FROM oms.orders").fetchall())
    assert statuses == {"shopify:1": "released", "shopify:2": "shipped"}


def _shipped(stock, orders) -> dict[str, str]:
    """Ship ``orders`` at T0's cutoff; return tracking number per order key."""
    _orders(stock, orders)
    stock.fulfil()
    stock.ship()
    stock.ship(AFTER_CUTOFF)
    return dict(
        stock.con.execute(
            "SELECT s.order_key, p.tracking_number FROM oms.parcels p "
            "JOIN oms.shipments s USING (shipment_id)"
        ).fetchall()
    )


def test_tracking_events_latest_wins_duplicates_and_strangers_change_nothing(stock):
    numbers = _shipped(
        stock,
        [("shopify:1", NYC, [("SKU-00001", 1)], {}), ("shopify:2", NYC, [("SKU-00002", 1)], {})],
    )
    a, b = numbers["shopify:1"], numbers["shopify:2"]
    day = datetime(2026, 11, 21, tzinfo=UTC)
    # Out of order inside the file; an unknown tracking number; b only gets going.
    _tracking_csv(
        stock,
        "tracking_1.csv",
        [
            (a, "delivered", day + timedelta(hours=20), "Delivered, front door"),
            (a, "in_transit", day + timedelta(hours=2), "Departed facility"),
            (a, "out_for_delivery", day + timedelta(hours=9), "Out for delivery"),
            ("1Z999AA10123456784", "in_transit", day, "Arrived at facility"),
            (b, "in_transit", day + timedelta(hours=3), "Departed facility"),
        ],
    )
    result = stock.ship(day + timedelta(hours=22))
    assert [f.status for f in result.tracking_files] == ["processed"]
    assert (result.events_read, result.events_new, result.events_quarantined) == (5, 4, 1)
    parcel = frame(stock.con, "SELECT * FROM oms.parcels WHERE tracking_number = ?", [a]).row(
        0, named=True
    )
    assert parcel["status"] == "delivered" and parcel["delivered_at"] == day + timedelta(hours=20)
    assert "Delivered, front door" in parcel["status_detail"]
    assert stock.status("shopify:1") == "delivered" and stock.status("shopify:2") == "shipped"
    kinds = [e for e, _ in stock.events("shopify:1")]
    assert kinds.count("delivered") == 1 and "out_for_delivery" not in kinds  # it moved on
    assert kinds.count("shipment_delivered") == 1
    quarantined = stock.con.execute(
        "SELECT tracking_number, reason FROM quality.tracking_quarantine"
    ).fetchall()
    assert quarantined == [
        ("1Z999AA10123456784", "unknown tracking number: no label of ours carries it")
    ]
    # A later file repeats an event and brings an OLDER one: nothing moves backwards.
    _tracking_csv(
        stock,
        "tracking_2.csv",
        [
            (a, "delivered", day + timedelta(hours=20), "Delivered, front door"),
            (a, "in_transit", day + timedelta(hours=5), "Arrived at facility"),
            (b, "out_for_delivery", day + timedelta(days=1, hours=8), "Out for delivery"),
        ],
    )
    later = stock.ship(day + timedelta(days=1, hours=9))
    assert (later.events_new, later.events_duplicate) == (2, 1)
    assert stock.con.execute(
        "SELECT status FROM oms.parcels WHERE tracking_number = ?", [a]
    ).fetchall() == [("delivered",)]
    assert stock.status("shopify:1") == "delivered"
    shipment_b = stock.con.execute(
        "SELECT status FROM oms.shipments WHERE order_key = 'shopify:2'"
    ).fetchall()
    assert shipment_b == [("out_for_delivery",)]
    assert [e for e, _ in stock.events("shopify:2")].count("out_for_delivery") == 1
    assert stock.con.execute("SELECT count(*) FROM oms.tracking_events").fetchall() == [(6,)]
    # The same file again is a duplicate file: nothing read.
    archived = next(stock.archive.rglob("tracking_2.csv"))
    shutil.copy(archived, stock.inbox / "again.csv")
    repeat = stock.ship(day + timedelta(days=1, hours=10))
    assert [f.status for f in repeat.tracking_files] == ["duplicate"]


def test_an_order_is_delivered_only_when_all_its_parcels_are(stock):
    # Two warehouses: WH-NJ has SKU-00001 only, WH-CA SKU-00002 only.
    stock.count({("WH-NJ", "SKU-00001"): 5, ("WH-CA", "SKU-00002"): 5}, T0 - timedelta(days=1))
    stock.book()
    stock.add(
        good_order("shopify:1", status="ready", **NYC),
        [
            good_line("shopify:1", 1, quantity=1),
            good_line("shopify:1", 2, sku="SKU-00002", quantity=1),
        ],
    )
    stock.allocate()
    stock.fulfil()
    stock.ship()
    stock.ship(AFTER_CUTOFF)
    assert stock.status("shopify:1") == "shipped"
    numbers = [
        r[0]
        for r in stock.con.execute("SELECT tracking_number FROM oms.parcels ORDER BY 1").fetchall()
    ]
    assert len(numbers) == 2
    day = datetime(2026, 11, 23, 18, tzinfo=UTC)
    _tracking_csv(stock, "t1.csv", [(numbers[0], "delivered", day, "Delivered")])
    stock.ship(day + timedelta(hours=1))
    assert stock.status("shopify:1") == "shipped"
    _tracking_csv(
        stock, "t2.csv", [(numbers[1], "delivered", day + timedelta(hours=2), "Delivered")]
    )
    stock.ship(day + timedelta(hours=3))
    assert stock.status("shopify:1") == "delivered"
    assert [e for e, _ in stock.events("shopify:1")].count("delivered") == 1


def test_the_real_easypost_tracker_is_accepted(stock, samples_dir: Path):
    numbers = _shipped(stock, [("shopify:1", NYC, [("SKU-00001", 1)], {})])
    # Give our parcel the sample's tracking code, as if EasyPost had issued it.
    stock.con.execute(
        "UPDATE oms.parcels SET tracking_number = 'EZ1000000001' WHERE tracking_number = ?",
        [numbers["shopify:1"]],
    )
    shutil.copy(samples_dir / "easypost_1.json", stock.inbox / "easypost_1.json")
    result = stock.ship(AFTER_CUTOFF + timedelta(hours=1))
    assert [(f.status, f.format) for f in result.tracking_files] == [("processed", "tracker_json")]
    assert result.events_new == 2
    stored = stock.con.execute(
        "SELECT status, message FROM oms.tracking_events ORDER BY occurred_at"
    ).fetchall()
    assert stored == [
        ("pre_transit", "Pre-Shipment information received"),
        ("pre_transit", "Shipping label created"),
    ]
    # Its events (2022, pre-transit) are older than our pickup: the parcel stays shipped.
    assert stock.con.execute("SELECT status FROM oms.parcels").fetchall() == [("shipped",)]


def test_a_broken_tracking_file_is_rejected_whole_and_the_rest_goes_on(stock):
    numbers = _shipped(stock, [("shopify:1", NYC, [("SKU-00001", 1)], {})])
    broken = stock.inbox / "broken.json"
    broken.write_text('[{"object": "Tracker", "tracking_code": "X", "tracking_details": [', "utf-8")
    _tracking_csv(
        stock, "good.csv", [(numbers["shopify:1"], "in_transit", AFTER_CUTOFF, "Departed")]
    )
    result = stock.ship(AFTER_CUTOFF + timedelta(hours=1))
    outcomes = {f.name: f for f in result.tracking_files}
    assert outcomes["broken.json"].status == "rejected"
    assert "JSON" in outcomes["broken.json"].reason or "json" in outcomes["broken.json"].reason
    assert (stock.rejected / "broken.json").exists()
    assert outcomes["good.csv"].status == "processed" and result.events_new == 1
    assert not list(stock.inbox.iterdir())
    assert stock.con.execute("SELECT status FROM oms.parcels").fetchall() == [("in_transit",)]


def test_a_shipment_not_delivered_by_its_promise_is_flagged_delayed_once(stock):
    numbers = _shipped(stock, [("shopify:1", NYC, [("SKU-00001", 1)], {})])
    promised = stock.con.execute("SELECT promised_delivery_date FROM oms.shipments").fetchall()[0][
        0
    ]
    # Standard: 5 business days from Friday 2026-11-20 is Friday 2026-11-27; grace 1 day.
    assert promised.isoformat() == "2026-11-27"
    on_time = stock.ship(datetime(2026, 11, 28, 23, tzinfo=UTC))
    assert on_time.shipments_delayed == 0
    late = stock.ship(datetime(2026, 11, 29, 1, tzinfo=UTC))
    assert late.shipments_delayed == 1
    delayed = [d for e, d in stock.events("shopify:1") if e == "delayed"]
    assert delayed == [
        "shipment W-NJ-20261120-001-T01 promised by 2026-11-27 is not delivered yet "
        "(1 grace day(s))"
    ]
    again = stock.ship(datetime(2026, 11, 29, 2, tzinfo=UTC))
    assert again.shipments_delayed == 0
    assert [e for e, _ in stock.events("shopify:1")].count("delayed") == 1
    # A late-arriving event shows it was delivered in time after all: the flag clears.
    _tracking_csv(
        stock,
        "late_news.csv",
        [(numbers["shopify:1"], "delivered", datetime(2026, 11, 27, 16, tzinfo=UTC), "Delivered")],
    )
    stock.ship(datetime(2026, 11, 29, 3, tzinfo=UTC))
    assert stock.con.execute("SELECT delayed_at FROM oms.shipments").fetchall() == [(None,)]
    assert stock.status("shopify:1") == "delivered"


def test_shipping_settings_are_checked(tmp_path: Path):
    (tmp_path / "shipping.toml").write_text("[delays]\ngrace_days = -1\n")
    with pytest.raises(ValueError, match="grace_days must be a whole number >= 0"):
        load_settings(tmp_path)
    (tmp_path / "shipping.toml").write_text('[labels]\nups_shipper = "TOO-LONG"\n')
    with pytest.raises(ValueError, match="ups_shipper must be 6 letters or digits"):
        load_settings(tmp_path)
    (tmp_path / "shipping.toml").write_text("[delay]\ngrace_days = 2\n")
    with pytest.raises(ValueError, match="unknown setting"):
        load_settings(tmp_path)
    (tmp_path / "shipping.toml").write_text("[delays]\ngrace_days = 0\n")
    assert load_settings(tmp_path).grace_days == 0


def test_tracking_files_are_left_for_the_shipping_stage_by_intake(
    tmp_path: Path, samples_dir: Path
):
    from pipelines.lib.intake import TRACKING_LAYOUT, other_stage_layout

    assert other_stage_layout((samples_dir / "easypost_1.json").read_bytes()) == TRACKING_LAYOUT
    header = b"tracking_number,carrier,status,occurred_at,location,message\n"
    assert other_stage_layout(header) == TRACKING_LAYOUT
    woo = (samples_dir / "woocommerce_3.json").read_bytes()
    assert other_stage_layout(woo) is None
    assert json.loads(woo)  # a real order export stays an order file
