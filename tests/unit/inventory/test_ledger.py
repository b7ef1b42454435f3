"""Stock files from the inbox become ledger movements; positions and reorders derive from it."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from pipelines.lib.inventory import derive_positions, stock_policy
from tests.orders import T0


def test_a_snapshot_books_each_pair_and_positions_follow(stock):
    stock.policy({("WH-NJ", "SKU-00001"): (3, 5, 30)})
    stock.count({("WH-NJ", "SKU-00001"): 12, ("WH-CA", "SKU-00002"): 4}, T0 - timedelta(days=1))
    result = stock.book()
    assert [f.status for f in result.files] == ["processed"]
    assert result.movements == {"snapshot": 2}
    ledger = stock.ledger()
    assert ledger.select("warehouse_id", "sku", "on_hand_delta", "reason").sort(
        "warehouse_id"
    ).rows() == [
        ("WH-CA", "SKU-00002", 4, "snapshot"),
        ("WH-NJ", "SKU-00001", 12, "snapshot"),
    ]
    positions = derive_positions(stock.con, stock_policy(stock.reference), T0)
    nj = positions.filter(pl.col("warehouse_id") == "WH-NJ", pl.col("sku") == "SKU-00001")
    # ATP holds the safety stock back.
    assert nj.select("on_hand", "committed", "safety_stock", "atp").row(0) == (12, 0, 3, 9)
    # Pairs with a policy but no movement are positions too (nothing on hand).
    assert positions.height == 20
    assert list(stock.archive.rglob("count_*.csv"))


def test_a_cycle_count_books_the_difference_as_of_its_time_and_keeps_history(stock):
    pair = ("WH-NJ", "SKU-00001")
    stock.count({pair: 10}, T0 - timedelta(days=2))
    stock.receive({pair: 5}, T0 - timedelta(days=1, hours=12))
    stock.book()
    # Counted 13 a day ago: the book then was 15, so 2 are missing. A receipt after the
    # count still counts on top.
    stock.count({pair: 13}, T0 - timedelta(days=1), kind="count")
    stock.receive({pair: 4}, T0 - timedelta(hours=6), po="PO-2")
    result = stock.book()
    assert result.movements == {"count": 1, "receipt": 1}
    ledger = stock.ledger()
    assert ledger.select("reason", "on_hand_delta").rows() == [
        ("snapshot", 10),
        ("receipt", 5),
        ("count", -2),
        ("receipt", 4),
    ]
    assert ledger.filter(pl.col("reason") == "count")["note"].to_list() == ["counted 13, book 15"]
    assert stock.position(*pair) == {"on_hand": 17, "committed": 0}


def test_a_count_older_than_the_latest_booked_count_is_superseded(stock):
    pair = ("WH-IL", "SKU-00003")
    stock.count({pair: 8}, T0 - timedelta(hours=1))
    stock.book()
    stock.count({pair: 99}, T0 - timedelta(hours=5), kind="count")
    result = stock.book()
    assert result.superseded_counts == 1
    assert stock.position(*pair)["on_hand"] == 8


def test_a_receipt_for_an_unknown_sku_rejects_the_whole_file_with_its_line(stock):
    pair = ("WH-NJ", "SKU-00001")
    stock.count({pair: 10}, T0 - timedelta(days=1))
    stock.book()
    before = stock.ledger()
    stock.drop(
        "receipts_bad.csv",
        [
            {
                "warehouse_id": "WH-NJ",
                "sku": "SKU-00001",
                "quantity": 5,
                "received_at": "2026-11-20T08:00:00Z",
            },
            {
                "warehouse_id": "WH-NJ",
                "sku": "SKU-99999",
                "quantity": 1,
                "received_at": "2026-11-20T08:00:00Z",
            },
            {
                "warehouse_id": "WH-ZZ",
                "sku": "SKU-00002",
                "quantity": 1,
                "received_at": "2026-11-20T08:00:00Z",
            },
            {
                "warehouse_id": "WH-NJ",
                "sku": "SKU-00400",
                "quantity": 1,
                "received_at": "2026-11-20T08:00:00Z",
            },
        ],
    )
    result = stock.book()
    (outcome,) = result.files
    assert outcome.status == "rejected"
    assert "line 3: unknown SKU SKU-99999 (not in products.csv)" in outcome.reason
    assert "line 4: unknown warehouse WH-ZZ" in outcome.reason
    assert "line 5: WH-NJ has no bin for SKU-00400" in outcome.reason
    # Nothing half-applied: not even the good first row.
    assert stock.ledger().equals(before)
    reason_file = stock.rejected / "receipts_bad.csv.reason.txt"
    assert "unknown SKU SKU-99999" in reason_file.read_text()
    assert not (stock.inbox / "receipts_bad.csv").exists()


def test_bad_numbers_and_times_are_named_by_line(stock):
    stock.drop(
        "receipts_numbers.csv",
        [
            {
                "warehouse_id": "WH-NJ",
                "sku": "SKU-00001",
                "quantity": "2.5",
                "received_at": "2026-11-20T08:00:00Z",
            },
            {
                "warehouse_id": "WH-NJ",
                "sku": "SKU-00001",
                "quantity": "0",
                "received_at": "2026-11-20T08:00:00Z",
            },
            {
                "warehouse_id": "WH-NJ",
                "sku": "SKU-00001",
                "quantity": "3",
                "received_at": "2026-11-20 08:00",
            },
            {
                "warehouse_id": "WH-NJ",
                "sku": "SKU-00001",
                "quantity": "3",
                "received_at": "2027-01-01T00:00:00Z",
            },
        ],
    )
    (outcome,) = stock.book().files
    assert outcome.status == "rejected"
    assert "4 row(s) cannot be applied, so none were" in outcome.reason
    assert "line 2: quantity 2.5 is not a whole number >= 1" in outcome.reason
    assert "line 3: quantity 0 is not a whole number >= 1" in outcome.reason
    assert "line 4: received_at 2026-11-20 08:00 is not an ISO 8601 time with a UTC offset" in (
        outcome.reason
    )
    assert "line 5: received_at 2027-01-01T00:00:00Z is in the future" in outcome.reason
    assert stock.ledger().is_empty()


def test_an_adjustment_may_not_take_on_hand_below_zero(stock):
    pair = ("WH-GA", "SKU-00002")
    stock.count({pair: 2}, T0 - timedelta(days=1))
    stock.book()
    stock.drop(
        "adjustments.csv",
        [
            {
                "warehouse_id": "WH-GA",
                "sku": "SKU-00002",
                "quantity": -3,
                "adjusted_at": (T0 - timedelta(hours=1)).isoformat(),
                "note": "damaged",
            }
        ],
    )
    (outcome,) = stock.book().files
    assert outcome.status == "rejected"
    assert "on hand cannot go below zero: WH-GA SKU-00002 would be -1" in outcome.reason
    assert stock.position(*pair)["on_hand"] == 2
    stock.drop(
        "adjustments_ok.csv",
        [
            {
                "warehouse_id": "WH-GA",
                "sku": "SKU-00002",
                "quantity": "-2",
                "adjusted_at": (T0 - timedelta(hours=1)).isoformat(),
                "note": "damaged",
            },
            {
                "warehouse_id": "WH-GA",
                "sku": "SKU-00003",
                "quantity": "+1",
                "adjusted_at": (T0 - timedelta(hours=1)).isoformat(),
                "note": "found",
            },
        ],
    )
    (outcome,) = stock.book().files
    assert outcome.status == "processed"
    assert stock.position(*pair)["on_hand"] == 0
    assert stock.position("WH-GA", "SKU-00003")["on_hand"] == 1
    assert set(stock.ledger()["note"].to_list()) >= {"damaged", "found"}


def test_a_file_sent_twice_is_booked_once(stock):
    path = stock.count({("WH-TX", "SKU-00004"): 7}, T0 - timedelta(days=1))
    content = path.read_bytes()
    stock.book()
    (stock.inbox / "again.csv").write_bytes(content)
    (outcome,) = stock.book().files
    assert outcome.status == "duplicate"
    assert stock.ledger().height == 1


def test_a_count_file_that_counts_a_pair_twice_is_rejected(stock):
    at = (T0 - timedelta(days=1)).isoformat()
    stock.drop(
        "count_twice.csv",
        [
            {"warehouse_id": "WH-TX", "sku": "SKU-00004", "on_hand": 3, "counted_at": at},
            {"warehouse_id": "WH-TX", "sku": "SKU-00004", "on_hand": 4, "counted_at": at},
        ],
    )
    (outcome,) = stock.book().files
    assert outcome.status == "rejected"
    assert "WH-TX SKU-00004 is counted twice in the file" in outcome.reason


def test_the_ledger_is_append_only(stock):
    pair = ("WH-NJ", "SKU-00001")
    stock.count({pair: 10}, T0 - timedelta(days=2))
    stock.book()
    first = stock.ledger()
    stock.count({pair: 7}, T0 - timedelta(days=1), kind="count")
    stock.receive({pair: 3}, T0 - timedelta(hours=2))
    stock.book()
    later = stock.ledger()
    # Every earlier movement is still there, unchanged; corrections are new rows.
    assert later.join(first, on=first.columns, how="semi", nulls_equal=True).height == first.height
    assert later.height == first.height + 2


def test_the_reorder_report_suggests_up_to_max_level(stock, tmp_path):
    from pipelines.lib.inventory import reorder_report, write_reorder_csv

    stock.policy({("WH-NJ", "SKU-00001"): (1, 5, 30), ("WH-NJ", "SKU-00002"): (1, 5, 30)})
    stock.count({("WH-NJ", "SKU-00001"): 4, ("WH-NJ", "SKU-00002"): 6}, T0 - timedelta(days=1))
    stock.book()
    positions = derive_positions(stock.con, stock_policy(stock.reference), T0)
    report = reorder_report(
        stock.con, positions, stock.reference, default_lead_days=14, run_id="r", now=T0
    )
    nj = report.filter(pl.col("warehouse_id") == "WH-NJ", pl.col("sku") <= "SKU-00002")
    # 4 on hand is at or below the reorder point of 5: order 26 to reach 30; 6 is above it.
    assert nj.select("sku", "available_position", "suggested_quantity", "lead_days").rows() == [
        ("SKU-00001", 4, 26, 5)
    ]
    assert nj["product_name"].to_list() == ["Braided USB-C to USB-C Cable 6' - Black"]
    csv = write_reorder_csv(report, tmp_path / "outbox", T0)
    assert csv.name == "reorder_2026-11-20.csv"
    written = pl.read_csv(csv)
    assert written.height == report.height
    assert "suggested_quantity" in written.columns


def test_a_receipt_booked_after_a_later_count_is_not_counted_twice(stock):
    pair = ("WH-IL", "SKU-00002")
    stock.count({pair: 10}, T0 - timedelta(days=2))
    stock.count({pair: 15}, T0 - timedelta(hours=2), kind="count")
    stock.book()
    # The paperwork for 5 units received yesterday arrives after today's count saw them.
    stock.receive({pair: 5}, T0 - timedelta(days=1), po="PO-LATE")
    result = stock.book()
    assert result.movements == {"receipt": 1, "count": 1}
    assert stock.position(*pair)["on_hand"] == 15
    ledger = stock.ledger().filter(reference="PO-LATE")
    assert ledger.select("reason", "on_hand_delta").rows() == [("receipt", 5), ("count", -5)]
    assert "already included this receipt" in ledger["note"][1]
