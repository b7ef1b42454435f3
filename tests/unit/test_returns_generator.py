"""Returns generator: return requests (delivered lines only, rate, quantities, timing and the
late ones, reasons and resolutions, sibling exchange SKUs, order numbers, the bad rows),
inspection results (unit split by reason, arrival, MISSING units), the inbox files (CSV round
trip, JSON grouping) and the demo writers reading a warehouse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from pipelines.lib.generator.returns import (
    DISPOSITION_SHARES,
    INSPECTION_COLUMNS,
    REASON_SHARES,
    REQUEST_COLUMNS,
    inspection_results,
    return_requests,
    write_demo_inspections,
    write_demo_returns,
    write_inspections,
    write_return_requests,
    write_return_requests_json,
)
from pipelines.lib.schema import (
    DISPOSITIONS,
    ORDERS,
    PICK_TASKS,
    RETURN_REASONS,
    RETURNS,
    SHIPMENTS,
    Table,
)
from pipelines.lib.warehouse import connect, migrate

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference"
AS_OF = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
WINDOW = 30
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def catalogue() -> pl.DataFrame:
    return pl.read_csv(REFERENCE / "products.csv", schema_overrides={"sku": pl.String}).select(
        "sku", "name"
    )


def make_shipped(orders: int, catalogue: pl.DataFrame, *, seed: int = 1) -> pl.DataFrame:
    """``orders`` orders of 1-3 lines (distinct SKUs within an order, all lines of an order
    delivered together): 85% delivered 45-200 days before AS_OF, 5% in the last 20 days, 10%
    not delivered yet."""
    rng = np.random.default_rng(seed)
    skus = catalogue["sku"].to_numpy()
    size = rng.integers(1, 4, orders)
    order = np.repeat(np.arange(orders), size)
    line_no = np.concatenate([np.arange(1, s + 1) for s in size])
    sku = np.concatenate([rng.choice(skus, s, replace=False) for s in size])
    kind = rng.choice(3, orders, p=[0.85, 0.05, 0.10])
    age_s = np.where(
        kind == 1,
        rng.integers(3600, 20 * 86400, orders),
        rng.integers(45 * 86400, 200 * 86400, orders),
    )
    as_of_us = int(AS_OF.timestamp()) * 1_000_000
    delivered = as_of_us - age_s * 1_000_000 + rng.integers(0, 1_000_000, orders)
    frame = pl.DataFrame(
        {
            "order_key": [f"shopify:{5_000_000 + o}" for o in order],
            "line_no": line_no.astype(np.int32),
            "sku": sku,
            "shipped_quantity": rng.choice([1, 1, 1, 2, 3, 5], order.size),
            "warehouse_id": rng.choice(["NJ", "NV"], order.size),
            "delivered_us": delivered[order],
            "undelivered": kind[order] == 2,
            "order_number": [f"#{1000 + o}" for o in order],
        }
    )
    at = pl.col("delivered_us").cast(pl.Datetime("us", "UTC"))
    return frame.select(
        "order_key",
        "line_no",
        "sku",
        "shipped_quantity",
        "warehouse_id",
        shipped_at=at - pl.duration(days=3),
        delivered_at=pl.when(~pl.col("undelivered")).then(at),
        order_number="order_number",
    )


@pytest.fixture(scope="module")
def shipped(catalogue: pl.DataFrame) -> pl.DataFrame:
    return make_shipped(10_000, catalogue)


@pytest.fixture(scope="module")
def requests(shipped: pl.DataFrame, catalogue: pl.DataFrame) -> pl.DataFrame:
    """About 2,500 requests (rate 0.3) for the statistical checks."""
    return return_requests(shipped, seed=5, as_of=AS_OF, rate=0.3, catalogue=catalogue)


def resolved(requests: pl.DataFrame, shipped: pl.DataFrame) -> pl.DataFrame:
    """Requests with their input line (by order key, or order number, and SKU); unknown orders
    have no line (null shipped_quantity)."""
    numbers = shipped.select("order_number", key="order_key").unique()
    lines = shipped.select(
        "order_key", "sku", "line_no", "shipped_quantity", "delivered_at", "shipped_at"
    )
    return (
        requests.join(numbers, on="order_number", how="left")
        .with_columns(key=pl.coalesce("order_key", "key"))
        .join(lines.rename({"order_key": "key"}), on=["key", "sku"], how="left")
    )


# --------------------------------------------------------------------------- requests


def test_request_columns(requests: pl.DataFrame) -> None:
    assert requests.columns == list(REQUEST_COLUMNS)
    assert requests.schema["requested_at"] == pl.Datetime("us", "UTC")
    assert requests.schema["quantity"] == pl.Int64
    assert requests["channel"].null_count() == requests.height
    assert requests["return_id"].str.contains(r"^R-\d{7}$").all()
    assert set(requests["reason"]) == set(RETURN_REASONS)
    assert 2000 < requests["return_id"].n_unique() < 3200


def test_requests_deterministic(shipped: pl.DataFrame, catalogue: pl.DataFrame) -> None:
    first = return_requests(shipped.head(3000), seed=5, as_of=AS_OF, catalogue=catalogue)
    assert first.height > 50
    again = return_requests(shipped.head(3000), seed=5, as_of=AS_OF, catalogue=catalogue)
    assert again.equals(first)
    shuffled = shipped.head(3000).sample(fraction=1.0, shuffle=True, seed=3)
    assert return_requests(shuffled, seed=5, as_of=AS_OF, catalogue=catalogue).equals(first)
    other = return_requests(shipped.head(3000), seed=6, as_of=AS_OF, catalogue=catalogue)
    assert not other.equals(first)


def test_only_delivered_lines_at_the_rate(shipped: pl.DataFrame, catalogue: pl.DataFrame) -> None:
    got = return_requests(shipped, seed=2, as_of=AS_OF, catalogue=catalogue)
    rows = resolved(got, shipped)
    known = rows.filter(pl.col("line_no").is_not_null())
    assert known["delivered_at"].null_count() == 0  # never a line not delivered yet
    assert rows.height - known.height <= 0.02 * rows.height  # only the unknown-order rows
    delivered_orders = shipped.filter(pl.col("delivered_at").is_not_null())["order_key"]
    share = known["key"].n_unique() / delivered_orders.n_unique()
    assert 0.06 < share < 0.095  # rate 0.08, less the ones not requested by AS_OF yet


def test_lines_per_request(requests: pl.DataFrame, shipped: pl.DataFrame) -> None:
    rows = resolved(requests, shipped)
    per = rows.group_by("return_id").agg(
        lines=pl.len(), orders=pl.col("key").n_unique(), at=pl.col("requested_at").n_unique()
    )
    assert set(per["lines"]) == {1, 2}
    assert (per["orders"] == 1).all() and (per["at"] == 1).all()
    # one request per order
    assert rows.group_by("key").agg(pl.col("return_id").n_unique())["return_id"].max() == 1
    multi = (
        shipped.filter(pl.col("delivered_at").is_not_null())
        .group_by("order_key")
        .len()
        .filter(pl.col("len") >= 2)["order_key"]
    )
    with_choice = rows.filter(pl.col("key").is_in(multi.implode()))
    two = with_choice.group_by("return_id").len()["len"].eq(2).mean()
    assert 0.15 < two < 0.25


def test_quantities(requests: pl.DataFrame, shipped: pl.DataFrame) -> None:
    rows = resolved(requests, shipped)
    assert (rows["quantity"] >= 1).all()
    over = rows.filter(pl.col("quantity") > pl.col("shipped_quantity"))
    assert 0 < over["return_id"].n_unique() <= 0.015 * requests["return_id"].n_unique()
    assert ((over["quantity"] - over["shipped_quantity"]) <= 2).all()
    fine = rows.filter(pl.col("quantity") <= pl.col("shipped_quantity"))
    multi_unit = fine.filter(pl.col("shipped_quantity") > 1)
    assert 0.75 < (multi_unit["quantity"] == 1).mean() < 0.95  # mostly one unit
    assert (multi_unit["quantity"] > 1).any()


def test_bad_rows(requests: pl.DataFrame, shipped: pl.DataFrame, catalogue: pl.DataFrame) -> None:
    rows = resolved(requests, shipped)
    unknown = rows.filter(pl.col("line_no").is_null())
    assert unknown["order_key"].str.contains(r"^shopify:\d{12}$").all()
    assert unknown["order_number"].null_count() == unknown.height
    assert not unknown["order_key"].is_in(shipped["order_key"].implode()).any()
    over = rows.filter(pl.col("quantity") > pl.col("shipped_quantity"))
    bad = unknown["return_id"].n_unique() + over["return_id"].n_unique()
    n = requests["return_id"].n_unique()
    assert 1 <= bad <= 0.015 * n
    # at least one once there are 50 requests, even from few orders
    small = make_shipped(800, catalogue, seed=9)
    for seed in range(6):
        got = return_requests(small, seed=seed, as_of=AS_OF, rate=0.12)
        if got["return_id"].n_unique() < 50:
            continue
        r = resolved(got, small)
        assert (
            r.filter(
                pl.col("line_no").is_null() | (pl.col("quantity") > pl.col("shipped_quantity"))
            ).height
            >= 1
        ), seed


def test_requested_at(requests: pl.DataFrame, shipped: pl.DataFrame) -> None:
    rows = resolved(requests, shipped).filter(pl.col("line_no").is_not_null())
    assert (rows["requested_at"] <= AS_OF).all()
    assert (rows["requested_at"] > rows["delivered_at"]).all()
    assert (rows["requested_at"].dt.microsecond() == 0).all()
    after = rows["requested_at"] - rows["delivered_at"]
    assert (after >= timedelta(hours=1) - timedelta(seconds=1)).all()
    late = after > timedelta(days=WINDOW)
    assert (after.filter(~late) <= timedelta(days=WINDOW - 2)).all()
    assert (after.filter(late) > timedelta(days=WINDOW + 1)).all()
    assert (after.filter(late) <= timedelta(days=WINDOW + 10, seconds=1)).all()
    # among orders delivered long enough ago that a late request has surely been made
    old = rows.filter(pl.col("delivered_at") < AS_OF - timedelta(days=WINDOW + 11))
    per = old.group_by("return_id").agg(
        late=(pl.col("requested_at") - pl.col("delivered_at")).max() > timedelta(days=WINDOW)
    )
    assert per.height > 2000
    assert 0.015 < per["late"].mean() < 0.05


def test_as_of_cuts_requests(shipped: pl.DataFrame) -> None:
    earlier = AS_OF - timedelta(days=100)
    got = return_requests(shipped, seed=5, as_of=earlier, rate=0.3)
    assert got.height > 0
    assert (got["requested_at"] <= earlier).all()
    rows = resolved(got, shipped).filter(pl.col("line_no").is_not_null())
    assert (rows["requested_at"] > rows["delivered_at"]).all()
    assert (
        got["return_id"].n_unique()
        < return_requests(shipped, seed=5, as_of=AS_OF, rate=0.3)["return_id"].n_unique()
    )


def test_nothing_delivered(shipped: pl.DataFrame) -> None:
    none = shipped.with_columns(delivered_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")))
    got = return_requests(none, seed=1, as_of=AS_OF)
    assert got.height == 0 and got.columns == list(REQUEST_COLUMNS)
    assert return_requests(shipped.head(0), seed=1, as_of=AS_OF).columns == list(REQUEST_COLUMNS)


def test_return_ids(requests: pl.DataFrame) -> None:
    per = requests.group_by("return_id").agg(pl.col("requested_at").first())
    ids = per.sort("requested_at", "return_id")["return_id"]
    assert ids.is_unique().all()
    assert ids.equals(ids.sort())  # ids grow with the request time


def test_reasons_and_resolutions(requests: pl.DataFrame) -> None:
    n = requests.height
    counts = dict(requests.group_by("reason").len().iter_rows())
    for reason, share in REASON_SHARES.items():
        tolerance = 4 * (share * (1 - share) / n) ** 0.5 + 0.005
        assert abs(counts[reason] / n - share) <= tolerance, reason
    exchange = requests["resolution"] == "exchange"
    assert exchange.equals(requests["reason"] == "SIZE_EXCHANGE", check_names=False)
    others = requests.filter(~exchange)
    assert set(others["resolution"]) == {"refund", "store_credit"}
    assert 0.10 < (others["resolution"] == "store_credit").mean() < 0.20


def test_sibling_exchange_skus(requests: pl.DataFrame, catalogue: pl.DataFrame) -> None:
    stem = catalogue.select(
        "sku", stem=pl.when(pl.col("name").str.contains(" / ")).then(pl.col("name"))
    ).with_columns(pl.col("stem").map_elements(lambda n: n.rpartition(" / ")[0], pl.String))
    assert requests.filter(pl.col("reason") != "SIZE_EXCHANGE")["exchange_sku"].null_count() == (
        requests.filter(pl.col("reason") != "SIZE_EXCHANGE").height
    )
    exchanges = (
        requests.filter(pl.col("reason") == "SIZE_EXCHANGE")
        .join(stem, on="sku", how="left")
        .join(stem.rename({"sku": "exchange_sku", "stem": "exchange_stem"}), on="exchange_sku")
    )
    assert exchanges.height > 50
    assert (exchanges["stem"] == exchanges["exchange_stem"]).all()
    assert (exchanges["sku"] != exchanges["exchange_sku"]).all()
    # a SKU with a sibling size always gets one; one without never does
    siblings = stem.drop_nulls().group_by("stem").len().filter(pl.col("len") > 1)
    has = stem.join(siblings, on="stem")["sku"]
    size = requests.filter(pl.col("reason") == "SIZE_EXCHANGE")
    with_sibling = size.filter(pl.col("sku").is_in(has.implode()))
    assert with_sibling["exchange_sku"].null_count() == 0
    assert size.filter(~pl.col("sku").is_in(has.implode()))["exchange_sku"].null_count() == (
        size.height - with_sibling.height
    )


def test_no_catalogue_no_exchange_skus(shipped: pl.DataFrame) -> None:
    got = return_requests(shipped.head(3000), seed=5, as_of=AS_OF, rate=0.3)
    assert (got["reason"] == "SIZE_EXCHANGE").any()
    assert got["exchange_sku"].null_count() == got.height


def test_order_numbers(requests: pl.DataFrame, shipped: pl.DataFrame) -> None:
    assert (requests["order_key"].is_null() ^ requests["order_number"].is_null()).all()
    per = requests.group_by("return_id").agg(
        by_number=pl.col("order_number").is_not_null().all(),
        mixed=pl.col("order_number").is_not_null().n_unique() > 1,
    )
    assert not per["mixed"].any()
    assert 0.07 < per["by_number"].mean() < 0.13
    without = return_requests(shipped.drop("order_number"), seed=5, as_of=AS_OF, rate=0.3)
    assert without["order_number"].null_count() == without.height
    assert without["order_key"].null_count() == 0


def test_notes(requests: pl.DataFrame) -> None:
    notes = requests["note"]
    assert 0.3 < notes.is_not_null().mean() < 0.7
    assert (notes.drop_nulls().str.len_chars() < 60).all()


# --------------------------------------------------------------------------- inspections


def make_authorized(n: int, *, seed: int = 4) -> pl.DataFrame:
    """``n`` RMA lines of 1-4 units, authorized 0-40 days before AS_OF, one per RMA, reasons
    spread evenly."""
    rng = np.random.default_rng(seed)
    at = [AS_OF - timedelta(seconds=int(s)) for s in rng.integers(0, 40 * 86400, n)]
    return pl.DataFrame(
        {
            "rma_number": [f"RMA-{i:06d}" for i in range(n)],
            "sku": [f"SKU-{i % 500:05d}" for i in range(n)],
            "quantity": rng.integers(1, 5, n),
            "reason": [RETURN_REASONS[i % len(RETURN_REASONS)] for i in range(n)],
            "warehouse_id": rng.choice(["NJ", "NV"], n),
            "authorized_at": at,
        }
    ).with_columns(pl.col("authorized_at").dt.cast_time_unit("us"))


@pytest.fixture(scope="module")
def authorized() -> pl.DataFrame:
    return make_authorized(6000)


@pytest.fixture(scope="module")
def inspections(authorized: pl.DataFrame) -> pl.DataFrame:
    return inspection_results(authorized, seed=3, as_of=AS_OF)


def test_inspection_columns(inspections: pl.DataFrame) -> None:
    assert inspections.columns == list(INSPECTION_COLUMNS)
    assert inspections.schema["inspected_at"] == pl.Datetime("us", "UTC")
    assert inspections.schema["quantity"] == pl.Int64
    assert set(inspections["disposition"]) == set(DISPOSITIONS)
    assert (inspections["quantity"] >= 1).all()
    assert inspections["inspected_by"].null_count() == 0
    assert inspections["note"].is_null().mean() > 0.8
    per = inspections.group_by("rma_number", "disposition").len()
    assert (per["len"] == 1).all()  # one row per line and disposition


def test_inspected_quantities_add_up(inspections: pl.DataFrame, authorized: pl.DataFrame) -> None:
    per = inspections.group_by("rma_number").agg(
        pl.col("quantity").sum(),
        pl.col("inspected_at").n_unique(),
        pl.col("warehouse_id").first(),
        pl.col("sku").first(),
    )
    joined = per.join(authorized, on="rma_number", suffix="_authorized")
    assert joined.height == per.height
    assert (joined["quantity"] == joined["quantity_authorized"]).all()
    assert (joined["inspected_at"] == 1).all()
    assert (joined["warehouse_id"] == joined["warehouse_id_authorized"]).all()
    assert (joined["sku"] == joined["sku_authorized"]).all()


def test_inspected_only_after_arrival(inspections: pl.DataFrame, authorized: pl.DataFrame) -> None:
    rows = inspections.join(authorized.select("rma_number", "authorized_at"), on="rma_number")
    after = rows["inspected_at"] - rows["authorized_at"]
    assert (after >= timedelta(days=2)).all()
    assert (after <= timedelta(days=10)).all()
    assert (rows["inspected_at"] <= AS_OF).all()
    assert (rows["inspected_at"].dt.microsecond() == 0).all()
    fresh = authorized.filter(pl.col("authorized_at") > AS_OF - timedelta(days=2))
    assert fresh.height > 0
    assert not rows["rma_number"].is_in(fresh["rma_number"].implode()).any()
    old = authorized.filter(pl.col("authorized_at") <= AS_OF - timedelta(days=10))
    assert old["rma_number"].is_in(rows["rma_number"].implode()).all()


def test_disposition_shares(inspections: pl.DataFrame, authorized: pl.DataFrame) -> None:
    units = (
        inspections.join(authorized.select("rma_number", "reason"), on="rma_number")
        .filter(pl.col("disposition") != "MISSING")
        .group_by("reason", "disposition")
        .agg(pl.col("quantity").sum())
    )
    for reason, shares in DISPOSITION_SHARES.items():
        got = units.filter(pl.col("reason") == reason)
        total = got["quantity"].sum()
        assert total > 1000
        seen = dict(got.select("disposition", "quantity").iter_rows())
        assert set(seen) == set(shares), reason
        for disposition, share in shares.items():
            tolerance = 4 * (share * (1 - share) / total) ** 0.5 + 0.01
            assert abs(seen[disposition] / total - share) <= tolerance, (reason, disposition)


def test_missing_units(inspections: pl.DataFrame) -> None:
    missing = inspections.filter(pl.col("disposition") == "MISSING")
    assert (missing["quantity"] == 1).all()
    assert missing["note"].null_count() == 0
    lines = inspections["rma_number"].n_unique()
    assert 0.01 < missing.height / lines < 0.03


def test_inspections_deterministic(authorized: pl.DataFrame, inspections: pl.DataFrame) -> None:
    assert inspection_results(authorized, seed=3, as_of=AS_OF).equals(inspections)
    assert not inspection_results(authorized, seed=4, as_of=AS_OF).equals(inspections)
    empty = inspection_results(authorized.head(0), seed=3, as_of=AS_OF)
    assert empty.height == 0 and empty.columns == list(INSPECTION_COLUMNS)


def test_same_sku_twice_in_an_rma() -> None:
    at = AS_OF - timedelta(days=20)
    authorized = pl.DataFrame(
        {
            "rma_number": ["RMA-000001"] * 2,
            "sku": ["SKU-00008"] * 2,
            "quantity": [3, 2],
            "reason": ["DEFECTIVE", "DAMAGED_IN_TRANSIT"],
            "warehouse_id": ["NJ", "NJ"],
            "authorized_at": [at, at],
        }
    )
    got = inspection_results(authorized, seed=1, as_of=AS_OF)
    assert got["quantity"].sum() == 5
    assert set(got["disposition"]) <= {"REFURBISH", "SCRAP", "DAMAGED", "MISSING"}
    assert got.filter(pl.col("disposition") == "REFURBISH")["quantity"].sum() <= 3


# --------------------------------------------------------------------------- files


def test_request_csv_round_trip(requests: pl.DataFrame, tmp_path: Path) -> None:
    path = write_return_requests(requests, tmp_path / "returns_x.csv")
    assert path == tmp_path / "returns_x.csv"
    assert [p.name for p in tmp_path.iterdir()] == ["returns_x.csv"]  # no temporary left
    text = path.read_text()
    assert text.splitlines()[0] == ",".join(REQUEST_COLUMNS)
    assert ",," in text  # blanks for nulls
    back = pl.read_csv(path, infer_schema=False)
    assert back["requested_at"].str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").all()
    parsed = back.with_columns(
        quantity=pl.col("quantity").cast(pl.Int64),
        requested_at=pl.col("requested_at").str.to_datetime(
            "%Y-%m-%dT%H:%M:%SZ", time_unit="us", time_zone="UTC"
        ),
    )
    assert parsed.equals(requests)


def test_inspection_csv_round_trip(inspections: pl.DataFrame, tmp_path: Path) -> None:
    path = write_inspections(inspections, tmp_path / "inspections_x.csv")
    assert path.read_text().splitlines()[0] == ",".join(INSPECTION_COLUMNS)
    back = pl.read_csv(path, infer_schema=False).with_columns(
        quantity=pl.col("quantity").cast(pl.Int64),
        inspected_at=pl.col("inspected_at").str.to_datetime(
            "%Y-%m-%dT%H:%M:%SZ", time_unit="us", time_zone="UTC"
        ),
    )
    assert back.equals(inspections)


def test_request_json_groups_by_return_id(requests: pl.DataFrame, tmp_path: Path) -> None:
    path = write_return_requests_json(requests, tmp_path / "returns_x.json")
    doc = json.loads(path.read_text())
    assert list(doc) == ["returns"]
    docs = doc["returns"]
    assert len(docs) == requests["return_id"].n_unique()
    assert sum(len(d["lines"]) for d in docs) == requests.height
    assert any(len(d["lines"]) == 2 for d in docs)
    by_id = {d["return_id"]: d for d in docs}
    for row in requests.head(400).iter_rows(named=True):
        d = by_id[row["return_id"]]
        assert ("order_key" in d) != ("order_number" in d)
        assert d.get("order_key") == row["order_key"]
        assert d.get("order_number") == row["order_number"]
        assert d["requested_at"] == row["requested_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "channel" not in d
        matches = [
            line
            for line in d["lines"]
            if line["sku"] == row["sku"] and line["reason"] == row["reason"]
        ]
        assert len(matches) == 1
        line = matches[0]
        assert line["quantity"] == row["quantity"]
        assert line.get("exchange_sku") == row["exchange_sku"]
        assert line.get("resolution", d["resolution"]) == row["resolution"]
        if row["note"]:
            assert row["note"] in d["note"]


# --------------------------------------------------------------------------- demo writers


def insert(con: duckdb.DuckDBPyConnection, table: Table, rows: list[dict]) -> None:
    """Insert ``rows`` into ``table``, filling NOT NULL columns they leave out with dummies."""
    dummy = {"VARCHAR": "x", "BIGINT": 0, "INTEGER": 0, "DOUBLE": 0.0, "BOOLEAN": False}
    full = []
    for row in rows:
        row = dict(row)
        for c in table.columns:
            if not c.nullable and c.name not in row:
                if c.sql_type in ("TIMESTAMPTZ", "TIMESTAMP"):
                    row[c.name] = AS_OF - timedelta(days=300)
                elif c.sql_type == "DATE":
                    row[c.name] = (AS_OF - timedelta(days=300)).date()
                else:
                    row[c.name] = dummy.get(c.sql_type, 0)
        full.append(row)
    cols = list(full[0])
    con.executemany(
        f"INSERT INTO {table.qualified} ({', '.join(cols)}) "
        f"VALUES ({', '.join('?' for _ in cols)})",
        [[r[c] for c in cols] for r in full],
    )


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 delivered single-line orders (one already returned), one shipped order not yet
    delivered, and three authorized RMA lines (two arrived by AS_OF, one too fresh)."""
    path = tmp_path_factory.mktemp("warehouse") / "oms.duckdb"
    delivered = AS_OF - timedelta(days=100)
    with connect(path) as con:
        migrate(con)
        orders, shipments, tasks = [], [], []
        for i in range(61):
            key = f"shopify:{9000 + i}"
            orders.append({"order_key": key, "order_number": f"#{2000 + i}"})
            shipments.append(
                {
                    "shipment_id": f"S-{i}",
                    "order_key": key,
                    "warehouse_id": "NJ",
                    "status": "delivered" if i < 60 else "in_transit",
                    "shipped_at": delivered - 3 * DAY,
                    "delivered_at": delivered if i < 60 else None,
                }
            )
            tasks.append(
                {
                    "task_id": f"T-{i}",
                    "shipment_id": f"S-{i}",
                    "order_key": key,
                    "line_no": 1,
                    "warehouse_id": "NJ",
                    "sku": "SKU-00008",
                    "quantity": 2,
                    "status": "shipped",
                }
            )
        insert(con, ORDERS, orders)
        insert(con, SHIPMENTS, shipments)
        insert(con, PICK_TASKS, tasks)
        returns = [
            ("a", "RMA-000001", "authorized", 2, AS_OF - 20 * DAY),
            ("b", "RMA-000002", "authorized", 1, AS_OF - 15 * DAY),
            ("c", "RMA-000003", "authorized", 1, AS_OF - DAY),
            ("d", None, "requested", 1, None),
        ]
        insert(
            con,
            RETURNS,
            [
                {
                    "return_line_id": rid,
                    "return_id": f"R-000000{n}",
                    "rma_number": rma,
                    "order_key": "shopify:9000",
                    "line_no": 1,
                    "sku": "SKU-00008",
                    "quantity": qty,
                    "reason": "DEFECTIVE",
                    "resolution": "refund",
                    "requested_at": AS_OF - 30 * DAY,
                    "status": status,
                    "authorized_at": at,
                    "warehouse_id": "NJ",
                }
                for n, (rid, rma, status, qty, at) in enumerate(returns)
            ],
        )
    return path


def test_write_demo_returns(warehouse: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    path = write_demo_returns(
        warehouse, inbox, as_of=AS_OF, seed=7, rate=0.5, reference_dir=REFERENCE
    )
    assert path == inbox / "returns_20261130T180000.csv"
    back = pl.read_csv(path, infer_schema=False)
    assert back.columns == list(REQUEST_COLUMNS)
    assert back.height > 10
    keys = back["order_key"].drop_nulls()
    assert "shopify:9000" not in keys.to_list()  # already returned
    assert "shopify:9060" not in keys.to_list()  # not delivered yet
    assert "#2000" not in back["order_number"].drop_nulls().to_list()
    # the same again: same bytes
    again = write_demo_returns(
        warehouse, tmp_path / "again", as_of=AS_OF, seed=7, rate=0.5, reference_dir=REFERENCE
    )
    assert again.read_bytes() == path.read_bytes()
    # nothing returned yet so early
    early = AS_OF - timedelta(days=100)
    assert write_demo_returns(warehouse, inbox, as_of=early) is None
    assert write_demo_returns(warehouse, inbox, as_of=AS_OF, rate=0.0) is None


def test_write_demo_inspections(warehouse: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    path = write_demo_inspections(warehouse, inbox, as_of=AS_OF)
    assert path == inbox / "inspections_20261130T180000.csv"
    back = pl.read_csv(path, infer_schema=False)
    assert back.columns == list(INSPECTION_COLUMNS)
    totals = dict(
        back.group_by("rma_number").agg(pl.col("quantity").cast(pl.Int64).sum()).iter_rows()
    )
    assert totals == {"RMA-000001": 2, "RMA-000002": 1}
    assert write_demo_inspections(warehouse, inbox, as_of=AS_OF - 18 * DAY) is None
