"""Helpers for the channel adapter tests: write fixture files and read them back."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from pipelines.lib.channels import ChannelAdapter, detect
from pipelines.lib.channels.layouts import (
    AMAZON_ALL_ORDERS_COLUMNS,
    AMAZON_NEW_ORDERS_COLUMNS,
    SHOPIFY_EXPORT_COLUMNS,
)

SHOPIFY_HEADER = list(SHOPIFY_EXPORT_COLUMNS)
AMAZON_ALL_ORDERS_HEADER = list(AMAZON_ALL_ORDERS_COLUMNS)
AMAZON_ORDER_REPORT_HEADER = list(AMAZON_NEW_ORDERS_COLUMNS)


def shopify_csv(rows: list[dict], header: list[str] | None = None) -> str:
    """A Shopify export with ``header`` (default: the full one) and ``rows`` (by name)."""
    header = header or SHOPIFY_HEADER
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header])
    return out.getvalue()


def amazon_tsv(header: list[str], rows: list[dict], newline: str = "\n") -> str:
    lines = ["\t".join(header)]
    lines += ["\t".join(str(row.get(name, "")) for name in header) for row in rows]
    return newline.join(lines) + newline


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def read_all(adapter: ChannelAdapter, path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every batch the adapter yields for ``path``, orders and lines concatenated."""
    batches = list(adapter.parse(path, path.name))
    assert batches, "the adapter yielded no batch"
    orders = pl.concat([b.orders for b in batches], how="vertical")
    lines = pl.concat([b.lines for b in batches], how="vertical")
    return orders, lines


def read_detected(path: Path) -> tuple[str, pl.DataFrame, pl.DataFrame]:
    """Detect the adapter from the file's first 64 KiB, as the intake does, and read it."""
    adapter = detect(path.read_bytes()[: 64 * 1024])
    orders, lines = read_all(adapter, path)
    return adapter.format, orders, lines


def order(orders: pl.DataFrame, key: str) -> dict:
    rows = orders.filter(pl.col("order_key") == key)
    assert rows.height == 1, f"expected one order {key}, found {rows.height}"
    return rows.row(0, named=True)


def lines_of(lines: pl.DataFrame, key: str) -> list[dict]:
    return lines.filter(pl.col("order_key") == key).sort("line_no").to_dicts()


#: The empty direct-order template shipped with the project.
REPO_TEMPLATE = Path(__file__).resolve().parents[3] / "data" / "templates" / "direct_orders.csv"
