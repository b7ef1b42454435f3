"""Waves, walk order, documents and cancellation after release, on a real warehouse file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pypdf
import pytest

from pipelines.lib.fulfilment import (
    FulfilmentSettings,
    next_cutoff,
    plan_waves,
    walk_sequence,
)
from tests.orders import T0, good_line, good_order
from tests.unit.inventory.conftest import NYC, SF


def test_the_walk_snakes_through_the_aisles_a_wave_visits():
    # Zone A aisles 01 and 03 and zone B aisle 02 are visited (A-02 is not): A-01 is walked
    # up (bays ascending), A-03 down, B-02 up again; inside a bay, levels from the floor up.
    bins = [
        "B-02-05-1", "A-03-02-1", "A-01-07-3", "A-03-09-2", "A-01-02-1",
        "B-02-01-4", "A-01-07-1", "A-03-09-1", "A-01-02-1",
    ]  # fmt: skip
    tasks = pl.DataFrame(
        {
            "wave_id": ["W1"] * len(bins),
            "bin": bins,
            "zone": [b[0] for b in bins],
            "aisle": [b[2:4] for b in bins],
            "bay": [b[5:7] for b in bins],
            "level": [b[8] for b in bins],
        }
    )
    seq = tasks.with_columns(walk_sequence(tasks).alias("seq")).sort("seq")
    walked = seq.unique("bin", maintain_order=True)["bin"].to_list()
    assert walked == [
        "A-01-02-1", "A-01-07-1", "A-01-07-3",
        "A-03-09-1", "A-03-09-2", "A-03-02-1",
        "B-02-01-4", "B-02-05-1",
    ]  # fmt: skip
    # Two tasks at one bin share its number; numbers have no gaps.
    assert seq.filter(pl.col("bin") == "A-01-02-1")["seq"].to_list() == [1, 1]
    assert seq["seq"].unique().sort().to_list() == list(range(1, 9))


def test_the_next_cutoff_is_today_until_it_passes_in_the_warehouse_time_zone():
    before = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)  # 16:00 in New York
    after = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # 18:00 in New York
    assert next_cutoff(before, "17:00", "America/New_York") == datetime(
        2026, 11, 27, 22, 0, tzinfo=UTC
    )
    assert next_cutoff(after, "17:00", "America/New_York") == datetime(
        2026, 11, 28, 22, 0, tzinfo=UTC
    )
    # Across the end of daylight saving time the cutoff stays 17:00 local.
    saturday = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)  # 18:00 EDT, after the cutoff
    assert next_cutoff(saturday, "17:00", "America/New_York") == datetime(
        2026, 11, 1, 22, 0, tzinfo=UTC
    )


def test_waves_hold_whole_shipments_within_their_limits():
    shipments = pl.DataFrame(
        {
            "warehouse_id": ["WH-A"] * 6 + ["WH-B"],
            "lines": [2, 1, 3, 9, 1, 1, 1],
            "due": [True, True, False, False, False, False, True],
        }
    )
    plan = plan_waves(shipments, FulfilmentSettings(max_lines=4, max_shipments=2))
    assert plan == [
        (1, 1, True),
        (1, 2, True),  # 3 lines, 2 shipments: full by count
        (2, 1, False),  # not due: never with the due ones
        (3, 1, False),  # 9 lines: more than a wave holds, so alone
        (4, 1, False),
        (4, 2, False),
        (1, 1, True),  # the next warehouse starts its own waves
    ]


def _allocated_orders(stock, orders: list[tuple[str, dict, list[tuple[str, int]], dict]]):
    stock.count(
        {(w, s): 50 for w in ("WH-CA", "WH-NJ") for s in ("SKU-00001", "SKU-00002", "SKU-00003")},
        T0 - timedelta(days=1),
    )
    stock.book()
    for key, where, lines, extra in orders:
        stock.add(
            good_order(key, status="ready", **where, **extra),
            [good_line(key, n, sku=sku, quantity=q) for n, (sku, q) in enumerate(lines, 1)],
        )
    stock.allocate()


def fulfil(stock, at: datetime | None = None):
    return stock.fulfil(at)


def test_committed_allocations_become_waves_tasks_parcels_and_paper(stock):
    _allocated_orders(
        stock,
        [
            ("shopify:1", NYC, [("SKU-00001", 2), ("SKU-00003", 1)], {"order_number": "#1001"}),
            ("shopify:2", NYC, [("SKU-00002", 1)], {"order_number": "#1002"}),
            ("shopify:3", SF, [("SKU-00001", 1)], {"order_number": "#1003"}),
        ],
    )
    result = fulfil(stock)
    assert (result.waves, result.shipments, result.tasks, result.units) == (2, 3, 4, 5)
    waves = stock.con.execute(
        "SELECT wave_id, warehouse_id, shipments, lines FROM oms.waves ORDER BY 1"
    ).fetchall()
    assert waves == [("W-CA-20261120-001", "WH-CA", 1, 1), ("W-NJ-20261120-001", "WH-NJ", 2, 3)]
    assert {stock.status(k) for k in ("shopify:1", "shopify:2", "shopify:3")} == {"released"}
    assert stock.allocations("shopify:1", status="released") == [
        (1, "WH-NJ", 2, "single"),
        (2, "WH-NJ", 1, "single"),
    ]
    released = [d for e, d in stock.events("shopify:1") if e == "released"]
    assert released == ["3 units from WH-NJ in wave W-NJ-20261120-001 (tote T01, 1 parcel(s))"]
    # Stock stays committed until it ships.
    assert stock.position("WH-NJ", "SKU-00001") == {"on_hand": 50, "committed": 2}

    folder = stock.outbox / "WH-NJ" / "2026-11-20"
    picklist = pl.read_csv(folder / "W-NJ-20261120-001_picklist.csv")
    assert picklist["seq"].to_list() == sorted(picklist["seq"].to_list())
    assert set(picklist["tote"]) == {"T01", "T02"}
    pdf = pypdf.PdfReader(folder / "W-NJ-20261120-001_picklist.pdf")
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "W-NJ-20261120-001" in text and "SKU-00003" in text
    slip = pypdf.PdfReader(folder / "packing_slips" / "W-NJ-20261120-001-T01.pdf")
    slip_text = slip.pages[0].extract_text()
    assert "#1001" in slip_text and "Ana Ruiz" in slip_text
    parcels = stock.con.execute(
        "SELECT shipment_id, box_id, units, weight_g > 0 FROM oms.parcels ORDER BY 1"
    ).fetchall()
    assert [p[0] for p in parcels] == [
        "W-CA-20261120-001-T01",
        "W-NJ-20261120-001-T01",
        "W-NJ-20261120-001-T02",
    ]
    assert all(p[1] is not None and p[3] for p in parcels)


def test_running_again_releases_nothing_and_rewrites_no_file(stock):
    _allocated_orders(stock, [("shopify:1", NYC, [("SKU-00001", 2)], {})])
    fulfil(stock)
    files = {p: p.stat().st_mtime_ns for p in stock.outbox.rglob("*") if p.is_file()}
    assert len(files) == 3  # pick list CSV and PDF, one packing slip
    again = fulfil(stock)
    assert (again.waves, again.tasks, again.pick_lists, again.packing_slips) == (0, 0, 0, 0)
    assert {p: p.stat().st_mtime_ns for p in stock.outbox.rglob("*") if p.is_file()} == files
    assert stock.con.execute("SELECT count(*) FROM oms.waves").fetchall() == [(1,)]


def test_due_shipments_go_first_in_their_own_waves(stock):
    (stock.reference / "fulfilment.toml").write_text("[waves]\nmax_lines = 5\nmax_shipments = 1\n")
    _allocated_orders(
        stock,
        [
            ("shopify:1", NYC, [("SKU-00001", 1)], {"ordered_at": T0 - timedelta(hours=9)}),
            ("shopify:2", NYC, [("SKU-00002", 1)], {"service_level": "overnight"}),
            ("shopify:3", NYC, [("SKU-00003", 1)], {"ship_by": T0 + timedelta(hours=20)}),
        ],
    )
    fulfil(stock)
    waves = stock.con.execute(
        "SELECT w.wave_id, s.order_key, w.due_at_cutoff FROM oms.waves w "
        "JOIN oms.shipments s USING (wave_id) ORDER BY 1"
    ).fetchall()
    assert waves == [
        ("W-NJ-20261120-001", "shopify:2", True),  # overnight
        ("W-NJ-20261120-002", "shopify:3", True),  # must ship by tomorrow's cutoff
        ("W-NJ-20261120-003", "shopify:1", False),
    ]


def test_an_order_cancelled_after_release_is_pulled_and_its_stock_released(stock):
    _allocated_orders(
        stock,
        [
            ("shopify:1", NYC, [("SKU-00001", 2)], {"order_number": "#1001"}),
            ("shopify:2", NYC, [("SKU-00002", 1)], {"order_number": "#1002"}),
        ],
    )
    fulfil(stock)
    stock.update("shopify:1", T0 + timedelta(hours=1), status="cancelled")
    stock.allocate(T0 + timedelta(hours=1))
    assert stock.position("WH-NJ", "SKU-00001")["committed"] == 0
    result = fulfil(stock, T0 + timedelta(hours=1, minutes=5))
    assert result.tasks_cancelled == 1 and result.pull_lists == 1
    statuses = dict(stock.con.execute("SELECT order_key, status FROM oms.shipments").fetchall())
    assert statuses == {"shopify:1": "cancelled", "shopify:2": "released"}
    wave = stock.con.execute("SELECT status FROM oms.waves").fetchall()
    assert wave == [("released",)]  # shopify:2 is still to pick
    (pull_csv,) = (stock.outbox / "WH-NJ" / "2026-11-20").glob("*_pull_*.csv")
    pull = pl.read_csv(pull_csv)
    assert pull.select("sku", "quantity", "tote", "reason").rows() == [
        ("SKU-00001", 2, "T01", "order cancelled")
    ]
    (pull_pdf,) = (stock.outbox / "WH-NJ" / "2026-11-20").glob("*_pull_*.pdf")
    assert "#1001" in pypdf.PdfReader(pull_pdf).pages[0].extract_text()
    # Once pulled, nothing more to pull.
    assert fulfil(stock, T0 + timedelta(hours=2)).pull_lists == 0


def test_a_backorder_filled_after_release_ships_in_a_later_wave(stock):
    stock.count({("WH-NJ", "SKU-00001"): 1}, T0 - timedelta(days=1))
    stock.book()
    stock.add(
        good_order("shopify:9", status="ready", **NYC),
        [good_line("shopify:9", 1, sku="SKU-00001", quantity=3)],
    )
    stock.allocate()
    fulfil(stock)
    assert stock.status("shopify:9") == "released"
    stock.receive({("WH-NJ", "SKU-00001"): 5}, T0 + timedelta(hours=1))
    stock.book(T0 + timedelta(hours=1))
    stock.allocate(T0 + timedelta(hours=1))
    assert stock.status("shopify:9") == "released"
    assert [b["status"] for b in stock.backorders("shopify:9")] == ["filled"]
    second = fulfil(stock, T0 + timedelta(hours=1, minutes=1))
    assert second.shipments == 1
    shipped = stock.con.execute(
        "SELECT wave_id, units FROM oms.shipments WHERE order_key = 'shopify:9' ORDER BY 1"
    ).fetchall()
    assert shipped == [("W-NJ-20261120-001", 1), ("W-NJ-20261120-002", 2)]


def test_bad_fulfilment_settings_are_refused(stock):
    (stock.reference / "fulfilment.toml").write_text("[waves]\nmax_lines = 0\n")
    with pytest.raises(ValueError, match=r"waves\.max_lines must be a whole number >= 1"):
        fulfil(stock)
    (stock.reference / "fulfilment.toml").write_text("[cartonization]\nfill_factor = 1.5\n")
    with pytest.raises(ValueError, match="fill_factor must be in"):
        fulfil(stock)
    (stock.reference / "fulfilment.toml").write_text("[waves]\nmax_line = 3\n")
    with pytest.raises(ValueError, match="unknown setting"):
        fulfil(stock)


def test_a_wave_whose_documents_fail_keeps_the_marks_of_the_waves_written_before_it(
    stock, monkeypatch
):
    from pipelines.lib import fulfilment

    _allocated_orders(
        stock,
        [
            ("shopify:1", NYC, [("SKU-00001", 1)], {}),
            ("shopify:3", SF, [("SKU-00001", 1)], {}),
        ],
    )
    draw = fulfilment.render_pick_list

    def fail_on_nj(path, wave, rows):
        if wave["warehouse_id"] == "WH-NJ":
            raise OSError("No space left on device")
        return draw(path, wave, rows)

    monkeypatch.setattr(fulfilment, "render_pick_list", fail_on_nj)
    with pytest.raises(OSError, match="No space left"):
        fulfil(stock)
    written = stock.con.execute(
        "SELECT wave_id, files_written_at IS NOT NULL, pick_list_path IS NOT NULL "
        "FROM oms.waves ORDER BY 1"
    ).fetchall()
    # The CA wave (drawn first) is marked with its files; the NJ wave waits for the next run.
    assert written == [("W-CA-20261120-001", True, True), ("W-NJ-20261120-001", False, False)]
    monkeypatch.setattr(fulfilment, "render_pick_list", draw)
    again = fulfil(stock)
    assert again.pick_lists == 1  # only the NJ wave, drawn now
    assert stock.con.execute(
        "SELECT count(*) FROM oms.waves WHERE files_written_at IS NULL"
    ).fetchall() == [(0,)]
