"""The files the ops pages drop in the inbox are read by the real readers, whole and once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.lib.intake import file_layout, inbox_files, read_file
from pipelines.lib.ops_files import (
    Decision,
    OpsInputError,
    PhoneLine,
    PhoneOrder,
    catalogue,
    destinations,
    order_problems,
    pending_decisions,
    pending_phone_orders,
    service_levels,
    write_decisions,
    write_new_file,
    write_phone_order,
)
from pipelines.lib.quality.decisions import LAYOUT, decision_files, read_decisions
from pipelines.project import REPO_ROOT

REFERENCE = REPO_ROOT / "data" / "reference"
NOW = datetime(2026, 11, 27, 9, 12, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def products():
    return catalogue(REFERENCE)


def _order(**changes) -> PhoneOrder:
    fields = {
        "customer_name": 'Ana "Annie" Ruiz, Jr.',
        "email": "ana@example.com",
        "phone": "+1 212 555 0100",
        "ship_address1": "350 5th Ave",
        "ship_address2": "Floor 21",
        "ship_city": "New York",
        "ship_region": "NY",
        "ship_postal_code": "10118",
        "ship_country": "US",
        "service_level": "expedited",
        "payment": "On account",
        "shipping_amount": Decimal("7.50"),
        "tax_amount": Decimal("3.21"),
        "notes": "leave at the desk,\nsecond line",
        "lines": [
            PhoneLine("SKU-00001", 3, Decimal("14.99"), "Cable"),
            PhoneLine("SKU-00002", 1, Decimal("129.00"), "Sheets"),
        ],
    }
    return PhoneOrder(**{**fields, **changes})


# --- decisions ------------------------------------------------------------------------------


def test_a_decisions_file_is_read_by_the_batch_reader_row_for_row(tmp_path: Path):
    path = write_decisions(
        tmp_path,
        [
            Decision("shopify:6798481555755", "release", "AWAITING_PAYMENT"),
            Decision("woocommerce:4828", "cancel"),
            Decision("amazon:111-1", "correct", field="ship_postal_code", value="02794"),
            Decision("email:E-107017", "correct", field="sku", line_no=2, value="SKU-00117"),
        ],
        decided_by=" maria ",
        note='paid by bank transfer, "ref 42"',
        now=NOW,
    )
    assert re.fullmatch(r"decisions_20261127T091205Z_[0-9a-f]{6}\.csv", path.name)
    # The batch finds it as a decisions file, not an order export.
    assert file_layout(path) == LAYOUT
    assert decision_files(tmp_path) == [path]
    rows = read_decisions(path).to_dicts()
    assert [(r["order_key"], r["action"], r["reason"], r["field"], r["line_no"]) for r in rows] == [
        ("shopify:6798481555755", "release", "AWAITING_PAYMENT", None, None),
        ("woocommerce:4828", "cancel", None, None, None),
        ("amazon:111-1", "correct", None, "ship_postal_code", None),
        ("email:E-107017", "correct", None, "sku", "2"),
    ]
    # A leading zero survives; every row has its own id, the note, the name and the time.
    assert rows[2]["value"] == "02794"
    assert len({r["decision_id"] for r in rows}) == 4
    assert {r["note"] for r in rows} == {'paid by bank transfer, "ref 42"'}
    assert {r["decided_by"] for r in rows} == {"maria"}
    assert {r["decided_at"] for r in rows} == {"2026-11-27T09:12:05Z"}


@pytest.mark.parametrize(
    ("decided_by", "note", "message"),
    [("maria", "   ", "a note is required"), ("", "paid", "your name is required")],
)
def test_a_decision_without_a_note_or_a_name_is_refused_and_nothing_is_written(
    tmp_path: Path, decided_by: str, note: str, message: str
):
    with pytest.raises(OpsInputError, match=message):
        write_decisions(
            tmp_path, [Decision("shopify:1", "release")], decided_by=decided_by, note=note
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        (Decision("shopify:1", "correct", field="order_total", value="1"), "cannot be corrected"),
        (Decision("shopify:1", "correct", field="sku", value="SKU-00001"), "line number"),
        (Decision("shopify:1", "correct", field="ship_city"), "a new value is needed"),
        (Decision("shopify:1", "correct", field="quantity", line_no=1, value="0"), "whole"),
        (Decision("shopify:1", "cancel", "HIGH_RISK"), "only a release"),
        (Decision("shopify:1", "release", "LATE"), "only a release"),
        (Decision("shopify:1", "hold"), "not one of"),
    ],
)
def test_malformed_decisions_are_refused_before_anything_is_written(
    tmp_path: Path, decision: Decision, message: str
):
    with pytest.raises(OpsInputError, match=message):
        write_decisions(tmp_path, [decision], decided_by="li", note="why")
    assert list(tmp_path.iterdir()) == []


def test_decisions_sent_at_the_same_second_get_their_own_files(tmp_path: Path):
    paths = [
        write_decisions(
            tmp_path, [Decision(f"shopify:{i}", "cancel")], decided_by="li", note="dup", now=NOW
        )
        for i in range(20)
    ]
    assert len(set(paths)) == 20
    assert len(inbox_files(tmp_path)) == 20  # every one visible to the batch, no temp files
    assert len(list(tmp_path.iterdir())) == 20


def test_pending_decisions_lists_what_waits_in_the_inbox(tmp_path: Path):
    assert pending_decisions(tmp_path).is_empty()
    first = write_decisions(
        tmp_path,
        [Decision("shopify:1", "release"), Decision("shopify:2", "cancel")],
        decided_by="li",
        note="checked",
    )
    (tmp_path / "decisions_by_hand.csv").write_text("order_key,action,decided_by,colour\n")
    (tmp_path / "orders.csv").write_text("order_id,ordered_at,sku,quantity\n")
    pending = pending_decisions(tmp_path)
    rows = {(r["file"], r["order_key"], r["action"]) for r in pending.iter_rows(named=True)}
    assert (first.name, "shopify:1", "release") in rows
    assert (first.name, "shopify:2", "cancel") in rows
    # A decisions file the batch will reject shows with the reason; an order file not at all.
    (unreadable,) = pending.filter(pending["file"] == "decisions_by_hand.csv").iter_rows(named=True)
    assert unreadable["action"] == "unreadable"
    assert "unknown column(s) colour" in unreadable["note"]
    assert "orders.csv" not in set(pending["file"])


def test_write_new_file_never_replaces_a_file_and_leaves_no_temporary_file(tmp_path: Path):
    (tmp_path / "taken.csv").write_bytes(b"old")
    names = iter(["taken.csv", "free.csv"])
    path = write_new_file(tmp_path, lambda: (next(names), b"new"))
    assert path.name == "free.csv"
    assert (tmp_path / "taken.csv").read_bytes() == b"old"
    assert path.read_bytes() == b"new"
    with pytest.raises(FileExistsError):
        write_new_file(tmp_path, lambda: ("taken.csv", b"newer"), attempts=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.csv", "taken.csv"]


# --- phone orders ---------------------------------------------------------------------------


def test_a_phone_order_is_read_by_the_direct_adapter_as_a_phone_order(tmp_path: Path, products):
    order_id, path = write_phone_order(tmp_path, _order(), products, now=NOW)
    assert re.fullmatch(r"P-20261127T091205Z-[0-9A-F]{6}", order_id)
    assert path.name == f"phone_order_{order_id}.csv"
    assert file_layout(path) is None  # an order export for intake, not a later stage's file
    parsed = read_file(path)
    assert parsed.format == "direct_csv"
    (order,) = parsed.orders.to_dicts()
    assert order["order_key"] == f"phone:{order_id}"
    assert order["channel"] == "phone"
    assert order["ordered_at"] == NOW
    assert order["customer_name"] == order["ship_name"] == 'Ana "Annie" Ruiz, Jr.'
    assert (order["ship_address1"], order["ship_address2"]) == ("350 5th Ave", "Floor 21")
    assert (order["ship_city"], order["ship_region"], order["ship_postal_code"]) == (
        "New York",
        "NY",
        "10118",
    )
    assert order["notes"] == "leave at the desk,\nsecond line"
    assert (order["payment_method"], order["payment_status"]) == ("on_account", "on_account")
    assert order["service_level"] == "expedited"
    assert order["currency"] == "USD"
    # 3 x 14.99 + 129.00 = 173.97; + 7.50 shipping + 3.21 tax = 184.68.
    assert order["subtotal"] == Decimal("173.97")
    assert order["order_total"] == Decimal("184.68")
    lines = parsed.lines.select("line_no", "sku", "quantity", "unit_price", "line_total")
    assert lines.rows() == [
        (1, "SKU-00001", 3, Decimal("14.99"), Decimal("44.97")),
        (2, "SKU-00002", 1, Decimal("129.00"), Decimal("129.00")),
    ]
    assert pending_phone_orders(tmp_path) == [order_id]


def test_an_authorized_card_payment_is_written_as_authorized(tmp_path: Path, products):
    _, path = write_phone_order(tmp_path, _order(payment="Card authorized"), products)
    (order,) = read_file(path).orders.to_dicts()
    assert (order["payment_method"], order["payment_status"]) == ("card", "authorized")


def test_phone_order_ids_do_not_collide(tmp_path: Path, products):
    ids = [write_phone_order(tmp_path, _order(), products, now=NOW)[0] for _ in range(25)]
    assert len(set(ids)) == 25
    assert len(inbox_files(tmp_path)) == 25


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lines": []}, "the order has no lines"),
        ({"lines": [PhoneLine("SKU-99999", 1, Decimal("1.00"))]}, "not in the catalogue"),
        ({"lines": [PhoneLine("SKU-00001", 0, Decimal("14.99"))]}, "at least 1"),
        ({"ship_postal_code": "1011"}, 'postal code "1011" is not valid for US'),
        ({"ship_region": "CA"}, 'postal code "10118" is not in CA, US'),
        ({"email": "ana@@example.com"}, 'email "ana@@example.com" is not valid'),
        ({"phone": "12"}, "wrong number of digits"),
        ({"customer_name": " ", "ship_city": ""}, "missing: customer name, city"),
        ({"payment": "Pay later"}, "payment must be one of"),
    ],
)
def test_a_phone_order_with_a_problem_is_refused_and_nothing_is_written(
    tmp_path: Path, products, changes: dict, message: str
):
    with pytest.raises(OpsInputError, match=re.escape(message)):
        write_phone_order(tmp_path, _order(**changes), products)
    assert list(tmp_path.iterdir()) == []


def test_a_discontinued_sku_is_a_problem(products):
    discontinued = products.filter(~products["active"])["sku"][0]
    problems = order_problems(_order(lines=[PhoneLine(discontinued, 1, Decimal("1"))]), products)
    assert problems == [f'line 1: SKU "{discontinued}" is discontinued']


def test_reference_choices_for_the_form():
    assert service_levels(REFERENCE, "US") == ["standard", "expedited", "overnight"]
    # No carrier service abroad is overnight.
    assert service_levels(REFERENCE, "GB") == ["standard", "expedited"]
    served = destinations(REFERENCE)["country"].to_list()
    assert "US" in served and "BR" not in served
