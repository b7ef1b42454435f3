"""Erasing a customer from the outbox, on a real warehouse file through the real stages
(allocation, fulfilment, shipping, tracking, returns, refunds, notifications)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf
import pytest

from pipelines.lib.erasure_outbox import scrub_outbox
from pipelines.lib.notifications import run_notifications_stage
from pipelines.lib.privacy import PERSONAL_ORDER_FIELDS, postal_prefix_sql
from tests.orders import T0, good_line, good_order
from tests.unit.inventory.conftest import NYC, StockPlatform

AFTER_CUTOFF = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
DELIVERED = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
RETURNED = DELIVERED + timedelta(days=3)
ERASED_AT = RETURNED + timedelta(days=3)

#: The customer to forget, and one who shares every multi-customer file with her.
ANA = {
    "order_number": "#1001",
    "customer_name": "Ana Ruiz",
    "email": "ana.ruiz@example.com",
    "phone": "+1 415 555 0134",
    "ship_name": "Ana Ruiz",
    "ship_company": "Ruiz Design Studio",
    "ship_address1": "1 Market St",
    "ship_address2": "Apartment 4B",
    **NYC,
}
BOB = {
    "order_number": "#1002",
    "customer_name": "Bob Stone",
    "email": "bob.stone@example.net",
    "phone": "+1 201 555 0199",
    "ship_name": "Bob Stone",
    "ship_address1": "22 Elm Street",
    "ship_city": "Hoboken",
    "ship_region": "NJ",
    "ship_postal_code": "07030",
}
ORDERS = {"shopify:1": ANA, "shopify:2": BOB}


@pytest.fixture
def stock(tmp_path: Path):
    p = StockPlatform(tmp_path)
    yield p
    p.close()


def _played(stock) -> None:
    """Both customers' orders shipped from WH-NJ in one wave, delivered, one unit each
    returned and refunded in one finance export, and every message written (SMS on)."""
    (stock.reference / "notifications.toml").write_text("[sms]\nenabled = true\n")
    stock.count({("WH-NJ", "SKU-00001"): 20}, T0 - timedelta(days=1))
    stock.book(T0 - timedelta(hours=12))
    for key, customer in ORDERS.items():
        stock.add(good_order(key, status="ready", **customer), [good_line(key, 1)])
    stock.con.execute(
        "INSERT INTO oms.order_events SELECT md5(order_key || 'ready'), order_key, 'ready', "
        "?, 'passed validation', 'load' FROM oms.orders",
        [T0],
    )
    stock.allocate(T0 + timedelta(minutes=1))
    stock.fulfil(T0 + timedelta(minutes=2))
    stock.ship(T0 + timedelta(minutes=3))
    stock.ship(AFTER_CUTOFF)
    parcels = stock.con.execute("SELECT tracking_number, carrier FROM oms.parcels").fetchall()
    with (stock.inbox / "tracking.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            ["tracking_number", "carrier", "status", "occurred_at", "location", "message"]
        )
        for number, carrier in parcels:
            writer.writerow([number, carrier, "delivered", DELIVERED.isoformat(), "", "Delivered"])
    stock.ship(DELIVERED + timedelta(hours=1))
    stock.drop(
        "returns.csv",
        [
            {
                "order_key": key,
                "return_id": f"R-{n}",
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "NOT_WANTED",
                "resolution": "refund",
                "requested_at": RETURNED.isoformat(),
            }
            for n, key in enumerate(ORDERS, start=1)
        ],
    )
    stock.returns(RETURNED + timedelta(hours=1))
    rmas = [r[0] for r in stock.con.execute("SELECT rma_number FROM oms.returns").fetchall()]
    stock.drop(
        "inspection.csv",
        [
            {
                "rma_number": rma,
                "sku": "SKU-00001",
                "quantity": 1,
                "disposition": "RESTOCK",
                "inspected_at": (RETURNED + timedelta(days=1)).isoformat(),
            }
            for rma in rmas
        ],
    )
    stock.returns(RETURNED + timedelta(days=1, hours=1))
    stock.runs += 1
    run_notifications_stage(
        stock.con,
        reference_dir=stock.reference,
        outbox=stock.outbox,
        run_id=f"run{stock.runs}",
        now=RETURNED + timedelta(days=1, hours=2),
        environ={},
    )


#: What of Ana's must be gone from every file (her postal code is checked as a field).
ANA_VALUES = [
    ANA[f]
    for f in ("customer_name", "email", "phone", "ship_company", "ship_address1", "ship_address2")
] + [ANA["ship_city"]]
BOB_VALUES = ["Bob Stone", "22 Elm Street", "Hoboken"]


def _blank(stock, key: str) -> None:
    """What the erasure's transaction does to the order before the file steps run."""
    nulls = ", ".join(f"{field} = NULL" for field in PERSONAL_ORDER_FIELDS)
    prefix = postal_prefix_sql("ship_postal_code", "ship_country")
    stock.con.execute(
        f"UPDATE oms.orders SET {nulls}, ship_postal_code = {prefix} WHERE order_key = ?", [key]
    )


def _scrub(stock, keys=("shopify:1",)):
    return scrub_outbox(
        stock.con,
        data_dir=stock.root,
        reference_dir=stock.reference,
        order_keys=list(keys),
        erasure_id="ER-1",
        now=ERASED_AT,
    )


def _text(path: Path) -> str:
    """What a reader of the file sees: a PDF's extracted text, any other file's text."""
    if path.suffix == ".pdf":
        return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    return path.read_text(encoding="utf-8")


def _outbox(stock) -> dict[Path, str]:
    return {p: _text(p) for p in sorted(stock.outbox.rglob("*")) if p.is_file()}


def _one(stock, sql: str) -> str:
    return stock.con.execute(sql).fetchall()[0][0]


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _kept(rows: list[dict]) -> list[dict]:
    """A CSV's rows without the personal columns: what the erasure must leave as it was."""
    personal = {*PERSONAL_ORDER_FIELDS, "ship_postal_code"}
    return [{k: v for k, v in row.items() if k not in personal} for row in rows]


def test_the_customer_is_gone_from_every_outbox_file_and_everyone_else_stays(stock):
    _played(stock)
    labels = Path(_one(stock, "SELECT any_value(label_path) FROM oms.parcels"))
    manifest = Path(_one(stock, "SELECT any_value(csv_path) FROM oms.manifests"))
    export = Path(_one(stock, "SELECT any_value(export_file) FROM oms.refunds"))
    # One wave file, one manifest and one finance export carry both customers.
    for sql in (
        "SELECT count(DISTINCT label_path) FROM oms.parcels",
        "SELECT count(DISTINCT manifest_id) FROM oms.parcels",
        "SELECT count(DISTINCT export_file) FROM oms.refunds",
    ):
        assert stock.con.execute(sql).fetchall()[0][0] == 1
    before = _outbox(stock)
    holding = {p for p, text in before.items() if any(v in text for v in ANA_VALUES)}
    assert {
        labels,
        labels.with_suffix(".zpl"),
        manifest,
        manifest.with_suffix(".pdf"),
        export,
    } <= holding
    messages = {
        r[0]: r[1]
        for r in stock.con.execute(
            "SELECT file_path, channel FROM oms.notifications WHERE file_path IS NOT NULL "
            "AND order_key = 'shopify:1'"
        ).fetchall()
    }
    assert set(messages.values()) == {"email", "sms"}
    slip = Path(
        _one(stock, "SELECT packing_slip_path FROM oms.shipments WHERE order_key = 'shopify:1'")
    )
    rma_label = Path(
        _one(stock, "SELECT label_path FROM oms.returns WHERE order_key = 'shopify:1'")
    )
    # Her slip and return label name her; Bob's files name him, never her.
    assert "Ana Ruiz" in before[slip] and "Ana Ruiz" in before[rma_label]
    manifest_rows, export_rows = _csv(manifest), _csv(export)
    label_pages = len(pypdf.PdfReader(labels).pages)
    tracking = stock.con.execute("SELECT tracking_number FROM oms.parcels").fetchall()

    _blank(stock, "shopify:1")
    actions = _scrub(stock)

    done = {(Path(a.path), a.action, a.kind) for a in actions}
    assert len(done) == len(actions)
    removed = {(Path(p), "removed", "mail" if c == "email" else "sms") for p, c in messages.items()}
    rewritten = {
        (slip, "rewritten", "packing_slip"),
        (rma_label, "rewritten", "return_label"),
        (labels, "rewritten", "labels"),
        (labels.with_suffix(".zpl"), "rewritten", "labels"),
        (manifest, "rewritten", "manifest"),
        (manifest.with_suffix(".pdf"), "rewritten", "manifest"),
        (export, "rewritten", "refund_export"),
    }
    assert done == removed | rewritten
    assert all(a.detail and "Ana" not in a.detail for a in actions)
    after = _outbox(stock)
    assert not [p for p in messages if Path(p).exists()]
    # Nobody reading any outbox file finds her any more; no temporary file is left behind.
    assert [(p, v) for p, text in after.items() for v in ANA_VALUES if v in text] == []
    assert not [p for p in after if p.name.startswith(".")]
    # Bob is still on every shared file, and his own mail and SMS are untouched.
    for path in (labels, labels.with_suffix(".zpl")):
        assert all(v in after[path] for v in BOB_VALUES), path
    for path in (manifest, manifest.with_suffix(".pdf")):  # a manifest has no streets
        assert "Bob Stone" in after[path] and "Hoboken" in after[path], path
    assert "bob.stone@example.net" in after[export]
    assert all(after[p] == text for p, text in before.items() if p not in holding)
    # The documents keep their facts: parcels, tracking numbers, rows, amounts.
    assert len(pypdf.PdfReader(labels).pages) == label_pages
    assert after[labels.with_suffix(".zpl")].count("^XA") == label_pages
    assert all(number in after[labels] and number in after[manifest] for (number,) in tracking)
    assert _kept(_csv(manifest)) == _kept(manifest_rows)
    assert _kept(_csv(export)) == _kept(export_rows)
    ana = {r["order_number"]: r for r in _csv(manifest)}["#1001"]
    assert (ana["ship_name"], ana["ship_city"], ana["ship_postal_code"]) == ("", "", "100")
    assert [r["amount"] for r in _csv(export)] == [r["amount"] for r in export_rows]
    assert "#1001" in after[slip] and "SKU-00001" in after[slip]
    # The return label now comes from "NY 100, US": the region and postal prefix only.
    assert "RMA-000001" in after[rma_label] and "NY 100" in after[rma_label]


def test_a_second_erasure_finds_nothing_and_a_crash_half_way_is_repaired(stock):
    _played(stock)
    manifest = Path(_one(stock, "SELECT any_value(csv_path) FROM oms.manifests"))
    half_way = manifest.read_bytes()  # as a crash before the manifest step would leave it
    _blank(stock, "shopify:1")
    first = _scrub(stock)
    assert first and {a.action for a in first} == {"removed", "rewritten"}
    erased = {p: p.read_bytes() for p in stock.outbox.rglob("*") if p.is_file()}

    assert _scrub(stock) == []
    assert {p: p.read_bytes() for p in stock.outbox.rglob("*") if p.is_file()} == erased

    manifest.write_bytes(half_way)
    (repaired,) = _scrub(stock)
    assert (Path(repaired.path), repaired.action, repaired.kind) == (
        manifest,
        "rewritten",
        "manifest",
    )
    assert manifest.read_bytes() == erased[manifest]


def test_files_moved_away_stay_away_and_files_elsewhere_are_left_for_review(
    stock, tmp_path_factory
):
    _played(stock)
    export = Path(_one(stock, "SELECT any_value(export_file) FROM oms.refunds"))
    export.unlink()  # finance took it
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "copied.eml"
    elsewhere.write_text("To: ana.ruiz@example.com\n", encoding="utf-8")
    stock.con.execute(
        "UPDATE oms.notifications SET file_path = ? WHERE notification_id = ("
        "SELECT min(notification_id) FROM oms.notifications "
        "WHERE order_key = 'shopify:1' AND channel = 'email' AND file_path IS NOT NULL)",
        [str(elsewhere)],
    )
    files = {p: p.read_bytes() for p in stock.outbox.rglob("*") if p.is_file()}
    assert _scrub(stock, keys=()) == [] and _scrub(stock, keys=("shopify:999",)) == []
    assert {p: p.read_bytes() for p in stock.outbox.rglob("*") if p.is_file()} == files
    _blank(stock, "shopify:1")
    actions = _scrub(stock)
    assert not export.exists()
    assert str(export) not in {a.path for a in actions}
    (review,) = [a for a in actions if a.action == "needs_review"]
    assert (review.path, review.kind) == (str(elsewhere), "mail")
    assert "outside" in review.detail and elsewhere.exists()
