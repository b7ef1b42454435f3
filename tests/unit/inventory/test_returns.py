"""Returns: RMA intake, inspection and disposition, refunds and exchanges, on a real warehouse
file through the real stages (validation, allocation, fulfilment, shipping, returns)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pypdf
import pytest

from pipelines.lib.intake import ingest_inbox
from pipelines.lib.returns import load_settings
from pipelines.lib.warehouse import frame
from tests.orders import T0, good_line, good_order
from tests.unit.inventory.conftest import NYC

#: T0's NJ cutoff has passed; the parcels are delivered two days later.
AFTER_CUTOFF = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
DELIVERED = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
SOON = DELIVERED + timedelta(days=3)
SKUS = ("SKU-00001", "SKU-00002", "SKU-00003")


def _order(key: str, **extra) -> tuple[dict, list[dict]]:
    """Two lines whose money adds up: 2 x 14.99, and 1 x 40.00 less 4.00; order discount
    6.60, shipping 5.00, tax 4.75: total 69.13."""
    order = good_order(
        key,
        status="ready",
        **NYC,
        subtotal=Decimal("65.98"),
        discount_amount=Decimal("6.60"),
        shipping_amount=Decimal("5.00"),
        tax_amount=Decimal("4.75"),
        order_total=Decimal("69.13"),
        **extra,
    )
    lines = [
        good_line(key, 1, sku="SKU-00001", quantity=2),
        good_line(
            key,
            2,
            sku="SKU-00002",
            product_name="Percale Sheet Set - Sage / Queen",
            quantity=1,
            unit_price=Decimal("40.00"),
            line_discount=Decimal("4.00"),
            line_total=Decimal("36.00"),
        ),
    ]
    return order, lines


def _delivered(stock, keys=("shopify:1",), deliver: bool = True, **extra) -> None:
    """Stock WH-NJ, then order, allocate, pick, label, ship at T0's cutoff and (unless not
    ``deliver``) deliver every parcel at DELIVERED."""
    stock.count({("WH-NJ", s): 20 for s in SKUS}, T0 - timedelta(days=1))
    stock.book()
    for key in keys:
        stock.add(*_order(key, **extra))
    stock.allocate()
    stock.fulfil()
    stock.ship()
    stock.ship(AFTER_CUTOFF)
    if not deliver:
        return
    parcels = stock.con.execute("SELECT tracking_number, carrier FROM oms.parcels").fetchall()
    path = stock.inbox / "tracking.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            ["tracking_number", "carrier", "status", "occurred_at", "location", "message"]
        )
        for number, carrier in parcels:
            writer.writerow(
                [number, carrier, "delivered", DELIVERED.isoformat(), "New York, NY", "Delivered"]
            )
    stock.ship(DELIVERED + timedelta(hours=1))


def _request(stock, name: str, rows: list[dict]) -> Path:
    base = {"order_key": "shopify:1", "resolution": "refund", "requested_at": SOON.isoformat()}
    return stock.drop(name, [base | row for row in rows])


def _inspect(stock, name: str, rows: list[tuple]) -> Path:
    """(rma_number, sku, quantity, disposition) rows, inspected a day after SOON."""
    at = (SOON + timedelta(days=1)).isoformat()
    return stock.drop(
        name,
        [
            {"rma_number": r, "sku": s, "quantity": q, "disposition": d, "inspected_at": at}
            for r, s, q, d in rows
        ],
    )


def _returns(stock, **where) -> list[dict]:
    sql = "SELECT * FROM oms.returns"
    if where:
        sql += " WHERE " + " AND ".join(f"{k} = '{v}'" for k, v in where.items())
    return frame(stock.con, sql + " ORDER BY return_id, line_no, reason").to_dicts()


def _quarantine(stock) -> list[tuple[str, str]]:
    return stock.con.execute(
        "SELECT kind, reason FROM quality.returns_quarantine ORDER BY source_file, source_row"
    ).fetchall()


def _refunds(stock) -> list[dict]:
    return frame(stock.con, "SELECT * FROM oms.refunds ORDER BY refund_id").to_dicts()


def _at(stock, minutes: int) -> datetime:
    return SOON + timedelta(days=2, minutes=minutes)


def test_a_request_is_authorized_with_an_rma_and_a_label_within_what_shipped(stock):
    _delivered(stock)
    _request(
        stock,
        "returns_1.csv",
        [
            {"return_id": "R-1", "sku": "SKU-00001", "quantity": 1, "reason": "NOT_WANTED"},
            # More than shipped and not asked for: 2 shipped, 1 already asked for above.
            {"return_id": "R-2", "sku": "SKU-00001", "quantity": 2, "reason": "DEFECTIVE"},
            # Unknown order, a SKU not on the order, a bad reason, a bad time: quarantined.
            {
                "return_id": "R-3",
                "order_key": "shopify:999",
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "OTHER",
            },
            {"return_id": "R-4", "sku": "SKU-00004", "quantity": 1, "reason": "OTHER"},
            {"return_id": "R-5", "sku": "SKU-00001", "quantity": 1, "reason": "BORED"},
            {
                "return_id": "R-6",
                "sku": "SKU-00001",
                "quantity": 0,
                "reason": "OTHER",
                "requested_at": "yesterday",
            },
        ],
    )
    result = stock.returns(_at(stock, 0))
    assert (result.authorized_lines, result.rejected_lines, result.quarantined) == (1, 1, 4)
    authorized, rejected = _returns(stock)
    assert authorized["status"] == "authorized" and authorized["rma_number"] == "RMA-000001"
    assert authorized["warehouse_id"] == "WH-NJ" and authorized["line_no"] == 1
    assert authorized["window_ends_at"] == DELIVERED + timedelta(days=30)
    assert rejected["status"] == "rejected" and rejected["rma_number"] is None
    assert "only 1 of the 2 shipped" in rejected["status_reason"]
    reasons = [reason for _, reason in _quarantine(stock)]
    assert reasons[0] == "unknown order shopify:999"
    assert reasons[1] == "SKU SKU-00004 is not on order shopify:1"
    assert "reason 'BORED' is not one of" in reasons[2]
    assert "quantity 0 must be at least 1" in reasons[3]
    assert "requested_at 'yesterday' is not an ISO 8601 time" in reasons[3]
    # The label: from the customer to the NJ returns dock, the RMA number as its barcode.
    label = Path(authorized["label_path"])
    text = pypdf.PdfReader(label).pages[0].extract_text()
    assert "RMA-000001" in text and "Edison" in text and "Ana Ruiz" in text
    events = [event for event, _ in stock.events("shopify:1")]
    assert {"return_authorized", "return_rejected"} <= set(events)
    # The same request again (another file, other bytes): a repeat, nothing new.
    _request(
        stock,
        "returns_2.csv",
        [
            {
                "return_id": "R-1",
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "NOT_WANTED",
                "note": "sent twice",
            }
        ],
    )
    again = stock.returns(_at(stock, 1))
    assert (again.repeated, again.authorized_lines, again.rmas_issued) == (1, 0, 0)
    assert len(_returns(stock)) == 2


def test_order_number_lookup_and_the_json_layout(stock):
    _delivered(stock, order_number="#1001")
    path = stock.inbox / "returns.json"
    path.write_text(
        json.dumps(
            {
                "returns": [
                    {
                        "return_id": "R-9",
                        "order_number": "#1001",
                        "requested_at": SOON.isoformat(),
                        "lines": [
                            {
                                "sku": "SKU-00001",
                                "quantity": 2,
                                "reason": "SIZE_EXCHANGE",
                                "resolution": "exchange",
                                "exchange_sku": "SKU-00003",
                            },
                            {"sku": "SKU-00002", "quantity": 1, "reason": "WRONG_ITEM"},
                        ],
                    }
                ]
            }
        )
    )
    result = stock.returns(_at(stock, 0))
    assert result.authorized_lines == 2 and result.rmas_issued == 1
    rows = _returns(stock)
    assert {r["rma_number"] for r in rows} == {"RMA-000001"}
    assert [(r["sku"], r["resolution"], r["exchange_sku"]) for r in rows] == [
        ("SKU-00001", "exchange", "SKU-00003"),
        ("SKU-00002", "refund", None),
    ]


def test_the_return_window_counts_from_delivery_and_follows_the_channel_policy(stock):
    _delivered(stock, keys=("shopify:1", "amazon:1"))
    (stock.reference / "returns.toml").write_text("[amazon]\nwindow_days = 60\n")
    late = (DELIVERED + timedelta(days=31)).isoformat()
    _request(
        stock,
        "late.csv",
        [
            {
                "return_id": "R-1",
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "NOT_WANTED",
                "requested_at": late,
            },
            {
                "return_id": "R-2",
                "order_key": "amazon:1",
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "NOT_WANTED",
                "requested_at": late,
            },
        ],
    )
    stock.returns(DELIVERED + timedelta(days=32))
    shopify, amazon = _returns(stock)
    assert shopify["status"] == "rejected"
    assert "the shopify return window is 30 days" in shopify["status_reason"]
    assert amazon["status"] == "authorized"
    assert amazon["window_ends_at"] == DELIVERED + timedelta(days=60)


def test_without_a_delivery_the_window_counts_from_shipping(stock):
    _delivered(stock, deliver=False)
    _request(
        stock,
        "r.csv",
        [
            {
                "return_id": "R-1",
                "sku": "SKU-00002",
                "quantity": 1,
                "reason": "DEFECTIVE",
                "requested_at": (AFTER_CUTOFF + timedelta(days=2)).isoformat(),
            }
        ],
    )
    stock.returns(AFTER_CUTOFF + timedelta(days=3))
    (row,) = _returns(stock)
    shipped_at = stock.con.execute("SELECT max(shipped_at) FROM oms.shipments").fetchone()[0]
    assert row["status"] == "authorized"
    assert row["window_ends_at"] == shipped_at + timedelta(days=30)


def test_nothing_shipped_means_nothing_to_return(stock):
    stock.add(*_order("shopify:7"))
    _request(
        stock,
        "r.csv",
        [
            {
                "return_id": "R-1",
                "order_key": "shopify:7",
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "NOT_WANTED",
            }
        ],
    )
    stock.returns(SOON)
    (row,) = _returns(stock)
    assert row["status"] == "rejected"
    assert row["status_reason"] == "nothing of this line has shipped from our warehouses yet"


def _authorize(stock, rows: list[dict]) -> str:
    _delivered(stock)
    _request(stock, "returns.csv", rows)
    stock.returns(_at(stock, 0))
    return _returns(stock)[0]["rma_number"]


def test_each_disposition_moves_the_ledger_and_atp_as_it_should(stock):
    rma = _authorize(
        stock,
        [
            {"return_id": "R-1", "sku": "SKU-00001", "quantity": 2, "reason": "NOT_WANTED"},
            {"return_id": "R-1", "sku": "SKU-00002", "quantity": 1, "reason": "DEFECTIVE"},
        ],
    )
    before = {s: stock.position("WH-NJ", s)["on_hand"] for s in SKUS}
    _inspect(stock, "inspection_1.csv", [(rma, "SKU-00001", 1, "RESTOCK")])
    partial = stock.returns(_at(stock, 1))
    assert partial.units_restocked == 1
    line = _returns(stock, sku="SKU-00001")[0]
    assert (line["status"], line["received_quantity"]) == ("received", 1)
    assert stock.status("shopify:1") == "partially_returned"
    _inspect(
        stock,
        "inspection_2.csv",
        [(rma, "SKU-00001", 1, "MISSING"), (rma, "SKU-00002", 1, "SCRAP")],
    )
    stock.returns(_at(stock, 2))
    after = {s: stock.position("WH-NJ", s)["on_hand"] for s in SKUS}
    # Only RESTOCK goes back on hand, as one return_restock movement; SCRAP and MISSING don't.
    assert after["SKU-00001"] - before["SKU-00001"] == 1
    assert after["SKU-00002"] == before["SKU-00002"]
    moves = stock.ledger().filter(pl.col("reason") == "return_restock")
    assert moves.select("warehouse_id", "sku", "on_hand_delta", "reference").rows() == [
        ("WH-NJ", "SKU-00001", 1, rma)
    ]
    found = stock.con.execute(
        "SELECT sku, disposition, quantity FROM oms.return_inspections ORDER BY sku, disposition"
    ).fetchall()
    assert found == [
        ("SKU-00001", "MISSING", 1),
        ("SKU-00001", "RESTOCK", 1),
        ("SKU-00002", "SCRAP", 1),
    ]
    one, two = _returns(stock, sku="SKU-00001")[0], _returns(stock, sku="SKU-00002")[0]
    assert (one["missing_quantity"], one["restocked_quantity"]) == (1, 1)
    assert two["received_quantity"] == 1 and two["restocked_quantity"] == 0
    # ATP follows on hand: the restocked unit is sellable, the scrapped one is not.
    stock.allocate(_at(stock, 3))
    atp = dict(
        stock.con.execute(
            "SELECT sku, atp FROM oms.inventory_positions WHERE warehouse_id = 'WH-NJ'"
        ).fetchall()
    )
    assert atp["SKU-00001"] == 20 - 2 + 1 and atp["SKU-00002"] == 20 - 1


@pytest.mark.parametrize("disposition", ["REFURBISH", "DAMAGED", "SCRAP"])
def test_units_that_are_not_sellable_never_become_atp(stock, disposition):
    rma = _authorize(
        stock, [{"return_id": "R-1", "sku": "SKU-00002", "quantity": 1, "reason": "DEFECTIVE"}]
    )
    _inspect(stock, "inspection.csv", [(rma, "SKU-00002", 1, disposition)])
    stock.returns(_at(stock, 1))
    stock.allocate(_at(stock, 2))
    assert stock.ledger().filter(pl.col("reason") == "return_restock").is_empty()
    atp = stock.con.execute(
        "SELECT atp FROM oms.inventory_positions WHERE warehouse_id = 'WH-NJ' AND sku = 'SKU-00002'"
    ).fetchone()[0]
    assert atp == 19
    assert stock.status("shopify:1") == "partially_returned"


def test_inspections_that_do_not_fit_the_rma_are_quarantined(stock):
    rma = _authorize(
        stock, [{"return_id": "R-1", "sku": "SKU-00001", "quantity": 1, "reason": "NOT_WANTED"}]
    )
    _inspect(
        stock,
        "inspection.csv",
        [
            ("RMA-999999", "SKU-00001", 1, "RESTOCK"),
            (rma, "SKU-00002", 1, "RESTOCK"),
            (rma, "SKU-00001", 2, "RESTOCK"),
            (rma, "SKU-00001", 1, "BROKEN"),
        ],
    )
    result = stock.returns(_at(stock, 1))
    assert result.quarantined == 4 and result.units_received == 0
    reasons = [reason for _, reason in _quarantine(stock)]
    assert reasons[0] == "unknown RMA number RMA-999999"
    assert reasons[1] == f"{rma} expects no (more) units of SKU SKU-00002"
    assert reasons[2] == f"2 x SKU-00001 inspected but {rma} expects only 1 more"
    assert "disposition 'BROKEN' is not one of" in reasons[3]
    # A warehouse with no bin for the SKU cannot take it back on hand.
    stock.drop(
        "inspection_2.csv",
        [
            {
                "rma_number": rma,
                "sku": "SKU-00001",
                "quantity": 1,
                "disposition": "RESTOCK",
                "warehouse_id": "WH-XX",
                "inspected_at": SOON.isoformat(),
            }
        ],
    )
    stock.returns(_at(stock, 2))
    assert _quarantine(stock)[-1][1] == "unknown warehouse WH-XX"
    assert stock.ledger().filter(pl.col("reason") == "return_restock").is_empty()


def test_refunds_to_the_cent_exported_once_and_never_twice(stock):
    (stock.reference / "returns.toml").write_text("[shopify]\nrestocking_fee_percent = 10\n")
    rma = _authorize(
        stock,
        [
            {"return_id": "R-1", "sku": "SKU-00001", "quantity": 1, "reason": "NOT_WANTED"},
            {"return_id": "R-1", "sku": "SKU-00002", "quantity": 1, "reason": "DEFECTIVE"},
        ],
    )
    _inspect(
        stock, "inspection.csv", [(rma, "SKU-00001", 1, "RESTOCK"), (rma, "SKU-00002", 1, "SCRAP")]
    )
    result = stock.returns(_at(stock, 1))
    (refund,) = _refunds(stock)
    # By hand: the order discount 6.60 and tax 4.75 go 3.00 / 3.60 and 2.16 / 2.59 to the
    # lines (pro rata 29.98 : 36.00). The NOT_WANTED unit: 14.99 - 1.50 discount + 1.08 tax
    # - 1.35 fee (10% of 13.49) = 13.22. The DEFECTIVE unit: 40.00 - 4.00 - 3.60 + 2.59 and
    # the 5.00 shipping (merchant's fault), no fee = 39.99. Together 53.21.
    assert refund["amount"] == Decimal("53.21")
    assert (refund["shipping"], refund["restocking_fee"]) == (Decimal("5.00"), Decimal("1.35"))
    assert refund["refund_id"] == f"RF-{rma}-1" and refund["method"] == "original"
    assert result.refunded == {"USD": Decimal("53.21")}
    assert {r["status"] for r in _returns(stock)} == {"completed"}
    assert (
        stock.con.execute(
            "SELECT payment_status FROM oms.orders WHERE order_key = 'shopify:1'"
        ).fetchone()[0]
        == "partially_refunded"
    )
    export = Path(refund["export_file"])
    assert export.name.startswith("refunds_card_")
    rows = pl.read_csv(export, infer_schema=False).to_dicts()
    assert [(r["refund_id"], r["amount"], r["currency"]) for r in rows] == [
        (f"RF-{rma}-1", "53.21", "USD")
    ]
    # Re-runs, and the same inspection file again, refund nothing more.
    written = export.read_bytes()
    _inspect(
        stock, "inspection.csv", [(rma, "SKU-00001", 1, "RESTOCK"), (rma, "SKU-00002", 1, "SCRAP")]
    )
    stock.returns(_at(stock, 2))
    stock.returns(_at(stock, 3))
    assert len(_refunds(stock)) == 1 and export.read_bytes() == written
    assert [e for e, _ in stock.events("shopify:1")].count("refund_issued") == 1
    # The second unit of line 1 later, DEFECTIVE: 14.99 - 1.50 + 1.08, shipping already given
    # back, no fee = 14.57. All three units back: 67.78 of the 69.13 paid (the 1.35 fee kept).
    _request(
        stock,
        "returns_2.csv",
        [{"return_id": "R-2", "sku": "SKU-00001", "quantity": 1, "reason": "DEFECTIVE"}],
    )
    stock.returns(_at(stock, 4))
    rma2 = _returns(stock, return_id="R-2")[0]["rma_number"]
    assert rma2 == "RMA-000002"
    _inspect(stock, "inspection_3.csv", [(rma2, "SKU-00001", 1, "REFURBISH")])
    stock.returns(_at(stock, 5))
    second = _refunds(stock)[1]
    assert (second["amount"], second["shipping"]) == (Decimal("14.57"), Decimal("0.00"))
    total = stock.con.execute("SELECT sum(amount) FROM oms.refunds").fetchone()[0]
    assert total == Decimal("67.78")
    assert stock.status("shopify:1") == "returned"


def test_missing_units_are_not_refunded_and_store_credit_has_its_own_export(stock):
    rma = _authorize(
        stock,
        [
            {
                "return_id": "R-1",
                "sku": "SKU-00001",
                "quantity": 2,
                "reason": "DEFECTIVE",
                "resolution": "store_credit",
            }
        ],
    )
    _inspect(
        stock,
        "inspection.csv",
        [(rma, "SKU-00001", 1, "REFURBISH"), (rma, "SKU-00001", 1, "MISSING")],
    )
    stock.returns(_at(stock, 1))
    (refund,) = _refunds(stock)
    # One unit: 14.99 - 1.50 + 1.08, and the shipping (DEFECTIVE is the merchant's fault).
    assert refund["units"] == 1 and refund["amount"] == Decimal("19.57")
    assert refund["method"] == "store_credit"
    assert Path(refund["export_file"]).name.startswith("refunds_store_credit_")
    line = _returns(stock)[0]
    assert (line["refunded_quantity"], line["missing_quantity"]) == (1, 1)
    # Store credit is not money back on the card: the payment status stays.
    assert (
        stock.con.execute(
            "SELECT payment_status FROM oms.orders WHERE order_key = 'shopify:1'"
        ).fetchone()[0]
        == "paid"
    )


def test_a_refund_the_order_money_cannot_explain_waits_for_review(stock):
    _delivered(stock, keys=("shopify:1", "shopify:2"))
    # shopify:2's line total no longer matches quantity x price.
    stock.con.execute(
        "UPDATE oms.order_lines SET line_total = 30.00 WHERE order_key = 'shopify:2' "
        "AND line_no = 1"
    )
    _request(
        stock,
        "returns.csv",
        [
            {"return_id": "R-1", "sku": "SKU-00001", "quantity": 1, "reason": "NOT_WANTED"},
            {
                "return_id": "R-2",
                "order_key": "shopify:2",
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "NOT_WANTED",
            },
        ],
    )
    stock.returns(_at(stock, 0))
    one, two = (_returns(stock, return_id=r)[0]["rma_number"] for r in ("R-1", "R-2"))
    _inspect(
        stock,
        "inspection.csv",
        [(one, "SKU-00001", 1, "RESTOCK"), (two, "SKU-00001", 1, "RESTOCK")],
    )
    result = stock.returns(_at(stock, 1))
    assert result.refunds == 1 and result.refunds_held == 1
    held = _returns(stock, return_id="R-2")[0]
    assert held["status"] == "inspected"
    assert held["status_reason"].startswith("refund held for review: ")
    assert [r["order_key"] for r in _refunds(stock)] == ["shopify:1"]


def test_an_exchange_becomes_a_zero_price_order_that_is_validated_and_allocated(stock):
    rma = _authorize(
        stock,
        [
            {
                "return_id": "R-1",
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "SIZE_EXCHANGE",
                "resolution": "exchange",
                "exchange_sku": "SKU-00003",
            }
        ],
    )
    _inspect(stock, "inspection.csv", [(rma, "SKU-00001", 1, "RESTOCK")])
    result = stock.returns(_at(stock, 1))
    assert result.exchange_orders == 1 and not _refunds(stock)
    key = f"exchange:{rma}"
    order = frame(stock.con, "SELECT * FROM oms.orders WHERE order_key = ?", [key]).row(
        0, named=True
    )
    assert order["channel"] == "exchange" and order["original_order_key"] == "shopify:1"
    assert order["order_total"] == Decimal("0.00") and order["ship_city"] == "New York"
    lines = frame(stock.con, "SELECT * FROM oms.order_lines WHERE order_key = ?", [key])
    assert lines.select("sku", "quantity", "unit_price").rows() == [
        ("SKU-00003", 1, Decimal("0.00"))
    ]
    assert _returns(stock)[0]["exchange_order_key"] == key
    stock.run(_at(stock, 2), reference_dir=stock.reference)
    assert stock.status(key) == "ready"
    stock.allocate(_at(stock, 3))
    assert stock.status(key) == "allocated"
    assert stock.allocations(key) == [(1, "WH-NJ", 1, "single")]


def test_a_broken_returns_file_is_rejected_whole_and_intake_leaves_them_alone(stock):
    _delivered(stock)
    (stock.inbox / "returns.json").write_text('{"returns": [{"return_id": "R-1", "lines": [')
    good = _request(
        stock,
        "returns.csv",
        [{"return_id": "R-2", "sku": "SKU-00001", "quantity": 1, "reason": "NOT_WANTED"}],
    )
    intake = ingest_inbox(
        stock.con,
        stock.inbox,
        archive_dir=stock.archive,
        rejected_dir=stock.rejected,
        run_id="intake",
        now=_at(stock, 0),
    )
    assert intake.files == [] and good.exists()
    result = stock.returns(_at(stock, 1))
    statuses = {f.name: (f.status, f.reason) for f in result.files}
    assert statuses["returns.json"][0] == "rejected"
    assert statuses["returns.json"][1].startswith("not valid JSON")
    assert statuses["returns.csv"] == ("processed", None)
    assert (stock.rejected / "returns.json").exists()
    assert result.authorized_lines == 1


def test_returns_settings_are_checked(tmp_path: Path):
    assert load_settings(tmp_path).default.window_days == 30
    for text, message in (
        ("[policy]\nwindow_days = 0\n", "policy.window_days must be a whole number >= 1"),
        ("[amazon]\nrestocking_fee_percent = 120\n", "from 0 to 100"),
        ("[ebay]\nwindow_days = 10\n", "unknown setting(s) ebay"),
        ('[rma]\nprefix = "r-"\n', "rma.prefix must be 2-8 capital letters"),
    ):
        (tmp_path / "returns.toml").write_text(text)
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_settings(tmp_path)


def test_the_customer_hears_that_the_return_arrived_and_how_much_comes_back(stock):
    from tests.unit.inventory.test_notifications import _body, _read, notify, outbox

    rma = _authorize(
        stock,
        [{"return_id": "R-1", "sku": "SKU-00002", "quantity": 1, "reason": "DEFECTIVE"}],
    )
    _inspect(stock, "inspection.csv", [(rma, "SKU-00002", 1, "SCRAP")])
    stock.returns(_at(stock, 1))
    notify(stock, _at(stock, 2))
    notify(stock, _at(stock, 3))  # again: nothing twice
    rows = {r["kind"]: r for r in outbox(stock) if r["channel"] == "email"}
    received, refunded = rows["return_received"], rows["refund_issued"]
    assert received["status"] == refunded["status"] == "queued"
    assert "Percale Sheet Set - Sage / Queen" in _body(_read(received["file_path"]))
    # 40.00 - 4.00 - 3.60 + 2.59 + 5.00 shipping (the merchant's fault).
    assert "$39.99" in _body(_read(refunded["file_path"]))
    assert [r["kind"] for r in outbox(stock)].count("refund_issued") == 1


def test_a_restock_the_latest_count_already_saw_is_not_counted_twice(stock):
    rma = _authorize(
        stock, [{"return_id": "R-1", "sku": "SKU-00001", "quantity": 1, "reason": "NOT_WANTED"}]
    )
    # The returned unit was on the shelf when WH-NJ counted 19, an hour after its inspection
    # time; the inspection file arrives after the count was booked.
    stock.count({("WH-NJ", "SKU-00001"): 19}, SOON + timedelta(days=1, hours=1), kind="count")
    stock.book(_at(stock, 1))
    assert stock.position("WH-NJ", "SKU-00001")["on_hand"] == 19
    _inspect(stock, "inspection.csv", [(rma, "SKU-00001", 1, "RESTOCK")])
    stock.returns(_at(stock, 2))
    assert stock.position("WH-NJ", "SKU-00001")["on_hand"] == 19
    moves = stock.ledger().filter(pl.col("source_file") == "inspection.csv")
    assert sorted(moves.select("reason", "on_hand_delta").rows()) == [
        ("count", -1),
        ("return_restock", 1),
    ]
    assert moves.filter(pl.col("reason") == "count")["note"][0].startswith(
        "the count of 2026-11-27T19:00:00Z already included this return_restock"
    )


def test_the_empty_templates_are_the_layouts_the_stage_reads():
    from pipelines.lib.intake import other_stage_layout
    from pipelines.lib.returns import INSPECTION_COLUMNS, REQUEST_COLUMNS
    from pipelines.project import REPO_ROOT

    templates = REPO_ROOT / "data" / "templates"
    for name, columns, layout in (
        ("return_requests.csv", REQUEST_COLUMNS, "return requests"),
        ("return_inspections.csv", INSPECTION_COLUMNS, "return inspections"),
    ):
        head = (templates / name).read_bytes()
        assert head.decode().strip().split(",") == list(columns)
        assert other_stage_layout(head) == layout


def test_what_the_channel_refunded_itself_is_never_paid_back_again(stock):
    # The shop already refunded 60.00 of the 69.13 (WooCommerce refunds, Shopify Refunded
    # Amount): the DEFECTIVE unit's 39.99 is cut to the 9.13 still paid.
    _delivered(stock, channel_refunded=Decimal("60.00"))
    _request(
        stock,
        "r.csv",
        [{"return_id": "R-1", "sku": "SKU-00002", "quantity": 1, "reason": "DEFECTIVE"}],
    )
    stock.returns(_at(stock, 0))
    rma = _returns(stock)[0]["rma_number"]
    _inspect(stock, "inspection.csv", [(rma, "SKU-00002", 1, "SCRAP")])
    stock.returns(_at(stock, 1))
    (refund,) = _refunds(stock)
    assert (refund["amount"], refund["cap_adjustment"]) == (Decimal("9.13"), Decimal("-30.86"))
    assert (
        stock.con.execute(
            "SELECT payment_status FROM oms.orders WHERE order_key = 'shopify:1'"
        ).fetchone()[0]
        == "refunded"
    )


def test_an_exchanged_item_sent_back_for_a_refund_is_paid_at_the_original_price(stock):
    rma = _authorize(
        stock,
        [
            {
                "return_id": "R-1",
                "sku": "SKU-00002",
                "quantity": 1,
                "reason": "SIZE_EXCHANGE",
                "resolution": "exchange",
                "exchange_sku": "SKU-00003",
            }
        ],
    )
    _inspect(stock, "inspection.csv", [(rma, "SKU-00002", 1, "RESTOCK")])
    stock.returns(_at(stock, 1))
    key = f"exchange:{rma}"
    # The replacement ships and is delivered, and the customer sends it back for money.
    stock.run(_at(stock, 2), reference_dir=stock.reference)
    stock.allocate(_at(stock, 3))
    stock.fulfil(_at(stock, 4))
    stock.ship(_at(stock, 5))
    cutoff = stock.con.execute(
        "SELECT max(cutoff_at) FROM oms.waves WHERE wave_id IN (SELECT wave_id FROM "
        "oms.shipments WHERE order_key = ?)",
        [key],
    ).fetchone()[0]
    stock.ship(cutoff + timedelta(minutes=1))
    assert stock.status(key) == "shipped"
    later = cutoff + timedelta(days=2)
    _request(
        stock,
        "returns_2.csv",
        [
            {
                "return_id": "R-2",
                "order_key": key,
                "sku": "SKU-00003",
                "quantity": 1,
                "reason": "NOT_WANTED",
                "requested_at": later.isoformat(),
            }
        ],
    )
    stock.returns(later + timedelta(hours=1))
    rma2 = _returns(stock, return_id="R-2")[0]["rma_number"]
    stock.drop(
        "inspection_2.csv",
        [
            {
                "rma_number": rma2,
                "sku": "SKU-00003",
                "quantity": 1,
                "disposition": "RESTOCK",
                "inspected_at": (later + timedelta(days=1)).isoformat(),
            }
        ],
    )
    stock.returns(later + timedelta(days=1, hours=1))
    (refund,) = _refunds(stock)
    # What the original line 2 charged for its unit: 40.00 - 4.00 - 3.60 + 2.59 (NOT_WANTED:
    # no shipping, no fee by default), to the original order and its payment method.
    assert refund["order_key"] == "shopify:1" and refund["rma_number"] == rma2
    assert refund["amount"] == Decimal("34.99")
    assert _returns(stock, return_id="R-2")[0]["status"] == "completed"


def test_an_export_finance_took_away_is_never_written_again(stock):
    rma = _authorize(
        stock, [{"return_id": "R-1", "sku": "SKU-00001", "quantity": 1, "reason": "DEFECTIVE"}]
    )
    _inspect(stock, "inspection.csv", [(rma, "SKU-00001", 1, "SCRAP")])
    first = stock.returns(_at(stock, 1))
    (refund,) = _refunds(stock)
    export = Path(refund["export_file"])
    assert first.export_files == 1 and refund["exported_at"] is not None
    export.rename(export.with_name("picked_up_by_finance.csv"))
    again = stock.returns(_at(stock, 2))
    assert again.export_files == 0 and not export.exists()


def test_a_rejected_request_sent_again_corrected_is_judged_afresh(stock):
    _delivered(stock)
    too_many = {"return_id": "R-1", "sku": "SKU-00001", "quantity": 3, "reason": "NOT_WANTED"}
    _request(stock, "r1.csv", [too_many])
    stock.returns(_at(stock, 0))
    assert [r["status"] for r in _returns(stock)] == ["rejected"]
    _request(stock, "r2.csv", [too_many | {"quantity": 2}])
    result = stock.returns(_at(stock, 1))
    assert result.repeated == 0 and result.authorized_lines == 1
    (row,) = _returns(stock)
    assert (row["status"], row["quantity"], row["rma_number"]) == ("authorized", 2, "RMA-000001")


def test_two_exchanges_for_the_same_items_are_not_duplicates(stock):
    _delivered(stock)
    exchange = {
        "sku": "SKU-00001",
        "quantity": 1,
        "reason": "SIZE_EXCHANGE",
        "resolution": "exchange",
        "exchange_sku": "SKU-00003",
    }
    _request(stock, "r.csv", [exchange | {"return_id": "R-1"}, exchange | {"return_id": "R-2"}])
    stock.returns(_at(stock, 0))
    rows = [(r["rma_number"], r["sku"], 1, "RESTOCK") for r in _returns(stock)]
    _inspect(stock, "inspection.csv", rows)
    assert stock.returns(_at(stock, 1)).exchange_orders == 2
    stock.run(_at(stock, 2), reference_dir=stock.reference)
    assert {stock.status(f"exchange:{rma}") for rma, *_ in rows} == {"ready"}


def test_an_inspection_may_name_the_reason_when_one_sku_came_back_for_two(stock):
    rma = _authorize(
        stock,
        [
            {
                "return_id": "R-1",
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "NOT_WANTED",
                "resolution": "exchange",
            },
            {"return_id": "R-1", "sku": "SKU-00001", "quantity": 1, "reason": "DEFECTIVE"},
        ],
    )
    at = (SOON + timedelta(days=1)).isoformat()
    stock.drop(
        "inspection.csv",
        [
            {
                "rma_number": rma,
                "sku": "SKU-00001",
                "reason": "NOT_WANTED",
                "quantity": 1,
                "disposition": "MISSING",
                "inspected_at": at,
            },
            {
                "rma_number": rma,
                "sku": "SKU-00001",
                "reason": "DEFECTIVE",
                "quantity": 1,
                "disposition": "REFURBISH",
                "inspected_at": at,
            },
        ],
    )
    result = stock.returns(_at(stock, 1))
    by_reason = {r["reason"]: r for r in _returns(stock)}
    assert by_reason["NOT_WANTED"]["missing_quantity"] == 1
    assert by_reason["DEFECTIVE"]["received_quantity"] == 1
    assert result.exchange_orders == 0 and result.refunds == 1
