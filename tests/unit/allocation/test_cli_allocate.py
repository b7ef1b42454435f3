"""`oms allocate`: the engine from files, as the issue's standalone entry point."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.lib.allocation import allocate
from pipelines.project import REPO_ROOT

WAREHOUSES = REPO_ROOT / "data" / "reference" / "warehouses.csv"
T = datetime(2026, 11, 20, 9, tzinfo=UTC)


def _files(tmp_path):
    lines = pl.DataFrame(
        {
            "order_key": ["shopify:1", "shopify:1", "amazon:2", "phone:3"],
            "line_no": [1, 2, 1, 1],
            "sku": ["SKU-00001", "SKU-00002", "SKU-00001", "SKU-00003"],
            "quantity": [2, 1, 5, 1],
            "service_level": ["standard", "standard", "overnight", "expedited"],
            "ship_by": [None, None, T, None],
            "ordered_at": [T, T, T, T],
            "ship_lat": [40.7, 40.7, 34.05, 41.88],
            "ship_lon": [-74.0, -74.0, -118.24, -87.63],
            "ship_complete": [False, False, False, True],
        },
        schema_overrides={"ship_by": pl.Datetime("us", "UTC")},
    )
    stock = pl.DataFrame(
        {
            "warehouse_id": ["WH-NJ", "WH-NJ", "WH-CA", "WH-TX"],
            "sku": ["SKU-00001", "SKU-00002", "SKU-00001", "SKU-00003"],
            "atp": [3, 1, 2, 0],
        }
    )
    lines.write_parquet(tmp_path / "lines.parquet")
    stock.write_parquet(tmp_path / "stock.parquet")
    return lines, stock


def test_allocate_writes_the_engines_allocations_and_backorders(tmp_path):
    lines, stock = _files(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "allocate",
            "--lines", str(tmp_path / "lines.parquet"),
            "--stock", str(tmp_path / "stock.parquet"),
            "--warehouses", str(WAREHOUSES),
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 orders, 4 lines: 6 of 9 units allocated" in result.output
    assert "3 backordered" in result.output
    written = pl.read_parquet(out / "allocations.parquet")
    backorders = pl.read_parquet(out / "backorders.parquet")
    warehouses = pl.read_csv(WAREHOUSES, columns=["warehouse_id", "lat", "lon"])
    expected = allocate(lines, stock, warehouses)
    assert written.equals(expected.allocations)
    assert backorders.equals(expected.backorders)
    # The overnight LA order comes first; no warehouse has its 5 units, so it splits: NJ
    # covers most (3), then CA (2). The ship-complete order finds no stock and waits whole;
    # the standard NY order gets only NJ's unit of SKU-00002.
    assert written.rows() == [
        ("amazon:2", 1, "WH-CA", 2, "split"),
        ("amazon:2", 1, "WH-NJ", 3, "split"),
        ("shopify:1", 2, "WH-NJ", 1, "split"),
    ]
    assert backorders.rows() == [("phone:3", 1, 1), ("shopify:1", 1, 2)]


def test_allocate_says_what_is_wrong_with_its_inputs(tmp_path):
    _files(tmp_path)
    pl.DataFrame({"warehouse_id": ["WH-XX"], "sku": ["SKU-00001"], "atp": [1]}).write_parquet(
        tmp_path / "stock.parquet"
    )
    result = CliRunner().invoke(
        app,
        [
            "allocate",
            "--lines", str(tmp_path / "lines.parquet"),
            "--stock", str(tmp_path / "stock.parquet"),
            "--warehouses", str(WAREHOUSES),
            "--out", str(tmp_path / "out"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "cannot allocate" in result.stderr and "WH-XX" in result.stderr
    assert not (tmp_path / "out").exists()
