"""Helpers for the channel adapter tests: write fixture files and read them back."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from pipelines.lib.channels import ChannelAdapter, detect

#: The current Shopify "Export orders" header (docs/channel-formats.md §1), in file order.
SHOPIFY_HEADER = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing Address1",
    "Billing Address2",
    "Billing Company",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping Street",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping Company",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Payment Reference",
    "Refunded Amount",
    "Vendor",
    "Outstanding Balance",
    "Employee",
    "Location",
    "Device ID",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
    "Tax 1 Name",
    "Tax 1 Value",
    "Tax 2 Name",
    "Tax 2 Value",
    "Tax 3 Name",
    "Tax 3 Value",
    "Tax 4 Name",
    "Tax 4 Value",
    "Tax 5 Name",
    "Tax 5 Value",
    "Phone",
    "Receipt Number",
    "Duties",
    "Billing Province Name",
    "Shipping Province Name",
    "Payment ID",
    "Payment Terms Name",
    "Next Payment Due At",
    "Payment References",
]

#: The All Orders report header (with ``cpf``) as documented for SP-API.
AMAZON_ALL_ORDERS_HEADER = [
    "amazon-order-id",
    "merchant-order-id",
    "purchase-date",
    "last-updated-date",
    "order-status",
    "fulfillment-channel",
    "sales-channel",
    "order-channel",
    "ship-service-level",
    "product-name",
    "sku",
    "asin",
    "item-status",
    "quantity",
    "currency",
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "gift-wrap-price",
    "gift-wrap-tax",
    "item-promotion-discount",
    "ship-promotion-discount",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "promotion-ids",
    "cpf",
    "is-business-order",
    "purchase-order-number",
    "price-designation",
]

#: The Seller Central "New Orders" (Order Report) header, 29 columns.
AMAZON_ORDER_REPORT_HEADER = [
    "order-id",
    "order-item-id",
    "purchase-date",
    "payments-date",
    "buyer-email",
    "buyer-name",
    "buyer-phone-number",
    "sku",
    "product-name",
    "quantity-purchased",
    "currency",
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "ship-service-level",
    "recipient-name",
    "ship-address-1",
    "ship-address-2",
    "ship-address-3",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "ship-phone-number",
    "delivery-start-date",
    "delivery-end-date",
    "delivery-time-zone",
    "delivery-Instructions",
]


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
