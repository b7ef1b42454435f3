"""Shopify admin "Export orders" CSV (``shopify_csv``).

Layout (docs/channel-formats.md §1): one row per line item, rows of an order next to each
other, order-level fields on the order's first row only; columns are found by header name, so
older exports with fewer columns read the same way (a 10-column export without any
``Lineitem`` column gives orders without lines). Large files are read in record-aligned pieces
and yielded as several batches, an order's rows always staying in one batch.

Money mapping, so that Σ line_total + shipping − discount + tax = total as in the export:

- ``line_total`` = ``Lineitem quantity`` × ``Lineitem price`` (the unit price) −
  ``Lineitem discount``;
- ``discount_amount`` is the part of Shopify's ``Discount Amount`` not already taken off the
  lines (Σ ``Lineitem discount``), i.e. the order-level discount;
- ``subtotal`` is Shopify's ``Subtotal`` (which is after every discount) plus that
  order-level discount, i.e. the sum of the line totals;
- ``shipping_amount`` / ``tax_amount`` / ``order_total`` are ``Shipping`` / ``Taxes`` /
  ``Total`` as exported.

``source_row`` is the 1-based data record number (header not counted) of the order's first
row, and of each line's own row.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl

from pipelines.lib.channels.base import ParsedBatch, conform_lines, conform_orders
from pipelines.lib.channels.common import (
    FIRST_ROW,
    GROUP,
    RECORD,
    add_timestamp,
    boolean,
    check_parsed,
    column_or_null,
    csv_header,
    flag_vocabulary,
    header_fields,
    integer,
    iter_csv_frames,
    join_nonblank,
    money,
    number_lines,
    record_line,
    require_columns,
    require_values,
    service_level_from_method,
    strip_apostrophe,
    vocabulary,
)

CHANNEL = "shopify"
FORMAT = "shopify_csv"

#: ``Financial Status`` → canonical payment status. Values are Shopify's order financial
#: statuses (help.shopify.com "Order status" / Admin API ``financial_status``); the samples
#: show paid, pending and partially_refunded. Anything else → ``unknown``.
PAYMENT_STATUSES: dict[str, str] = {
    "pending": "pending",
    "authorized": "authorized",
    "partially_paid": "partially_paid",
    "paid": "paid",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
    "voided": "voided",
    "expired": "failed",  # an authorization that lapsed before it was captured
}

#: Shopify marks a cancelled order by a non-empty ``Cancelled at``; there is no status
#: column for it. Order status is therefore: ``Cancelled at`` set → ``cancelled``, else
#: ``received``.
CANCELLED_WHEN = "Cancelled at"

#: ``Fulfillment Status`` → ``fulfilled_by_channel``: was the whole order already fulfilled in
#: Shopify (outside the platform)? The column is order-level, on the order's first row only
#: (as ``Financial Status``). Values are Shopify's order fulfillment statuses (help.shopify.com
#: "Order status" / Admin API ``fulfillment_status``); the samples show only unfulfilled. Only
#: ``fulfilled`` (every item fulfilled) is True; ``partial`` still has items to ship, and
#: ``unfulfilled``, ``restocked``, blank, unknown values and exports without the column are
#: False.
FULFILLMENT_STATUSES: dict[str, bool] = {
    "fulfilled": True,
    "partial": False,
    "unfulfilled": False,
    "restocked": False,
}

#: Service level comes from the free-text ``Shipping Method`` through the shared keyword
#: table :data:`pipelines.lib.channels.common.SHIPPING_METHOD_KEYWORDS` (``Express`` →
#: expedited, ``Overnight``/``Next Day`` → overnight, anything else → standard).

REQUIRED = ("Name", "Created at")
ORDER_COLUMNS = (
    "Name",
    "Email",
    "Financial Status",
    "Fulfillment Status",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Amount",
    "Shipping Method",
    "Created at",
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
    "Refunded Amount",
    "Id",
    "Phone",
)
LINE_COLUMNS = (
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem discount",
)
#: Erasure (pipelines.lib.erasure_archive), declared here so that the layout is described in
#: one place. ``ORDER_ID_FIELDS``: the column every row of an order repeats and the stored
#: order field it equals (``Name`` is the order number, ``#1050``; ``Id`` is on the first row
#: only). ``PERSONAL_FIELDS``: the columns blanked for an erased customer; a postal code maps
#: to its country column instead, and is cut to its prefix (privacy.postal_prefix_sql).
ORDER_ID_FIELDS = {"Name": "order_number"}
PERSONAL_FIELDS: dict[str, str | None] = {
    "Email": None,
    "Phone": None,
    "Billing Name": None,
    "Billing Street": None,
    "Billing Address1": None,
    "Billing Address2": None,
    "Billing Company": None,
    "Billing City": None,
    "Billing Phone": None,
    "Billing Zip": "Billing Country",
    "Shipping Name": None,
    "Shipping Street": None,
    "Shipping Address1": None,
    "Shipping Address2": None,
    "Shipping Company": None,
    "Shipping City": None,
    "Shipping Phone": None,
    "Shipping Zip": "Shipping Country",
    "Notes": None,
    "Note Attributes": None,
}
#: Columns only Shopify's export has; a header with Name, Created at and two of these is one.
_MARKERS = frozenset(
    {
        "Financial Status",
        "Fulfillment Status",
        "Accepts Marketing",
        "Subtotal",
        "Shipping",
        "Taxes",
        "Total",
        "Lineitem quantity",
        "Lineitem name",
        "Lineitem price",
        "Lineitem sku",
        "Billing Name",
        "Billing City",
        "Billing Zip",
        "Billing Country",
        "Shipping Name",
        "Shipping Zip",
        "Paid at",
    }
)


class ShopifyOrdersCsv:
    format = FORMAT

    def sniff(self, head: bytes) -> bool:
        names = set(header_fields(head, ","))
        return {"Name", "Created at"} <= names and len(names & _MARKERS) >= 2

    def parse(self, path: Path, source_file: str) -> Iterator[ParsedBatch]:
        names = csv_header(path, ",")
        require_columns(names, REQUIRED, ",")
        # Pieces of a large file are parsed one at a time; the last order of a piece may go
        # on in the next one, so its rows are held back and put in front of the next piece.
        frames = iter(iter_csv_frames(path, columns=ORDER_COLUMNS + LINE_COLUMNS))
        frame = next(frames, None)
        while frame is not None:
            following = next(frames, None)
            _require_names(frame, path)
            if following is not None and frame.height:
                tail = frame.select(pl.col("Name").last()).item()
                before = frame.select((pl.col("Name") != tail).arg_true().max()).item()
                split = 0 if before is None else before + 1
                following = pl.concat([frame.slice(split), following], how="vertical")
                frame = frame.slice(0, split)
            if frame.height:
                yield _batch(frame, path, source_file)
            frame = following


def _require_names(frame: pl.DataFrame, path: Path) -> None:
    def where(row: dict) -> tuple[str, int]:
        return f"record {row[RECORD]}", record_line(path, row[RECORD])

    require_values(frame, {"Name": "Name (the order number)"}, describe_row=where)


def _batch(rows: pl.DataFrame, path: Path, source_file: str) -> ParsedBatch:
    c = lambda *names: column_or_null(rows, *names)  # noqa: E731
    has_lines = any(name in rows.columns for name in LINE_COLUMNS)

    def where(row: dict) -> tuple[str, int]:
        return f"record {row[RECORD]} (order {row['Name']})", record_line(path, row[RECORD])

    df = number_lines(rows, "Name").with_columns(
        money(c("Lineitem price")).alias("unit_price"),
        money(c("Lineitem discount")).alias("line_discount"),
        integer(c("Lineitem quantity")).alias("quantity"),
    )
    check_parsed(
        df,
        {
            "unit_price": ("Lineitem price", "an amount"),
            "line_discount": ("Lineitem discount", "an amount"),
            "quantity": ("Lineitem quantity", "a whole number"),
        },
        describe_row=where,
    )
    external_id = pl.coalesce(
        c("Id").first().over(GROUP).str.strip_chars(),
        pl.col("Name").str.strip_chars().str.strip_prefix("#"),
    )
    df = df.with_columns(
        pl.concat_str([pl.lit(f"{CHANNEL}:"), external_id]).alias("order_key"),
        (pl.col("quantity") * pl.col("unit_price") - pl.col("line_discount").fill_null(0)).alias(
            "line_total"
        ),
    )
    sums = df.group_by(GROUP, maintain_order=True).agg(
        pl.col("line_discount").fill_null(0).sum().alias("lines_discount"),
        pl.col("line_total").sum().alias("lines_total"),
    )

    first = (
        df.select(
            GROUP,
            FIRST_ROW,
            RECORD,
            "order_key",
            *(name for name in ORDER_COLUMNS if name in df.columns),
        )
        .filter(pl.col(FIRST_ROW))
        .join(sums, on=GROUP, how="left", maintain_order="left")
    )
    f = lambda *names: column_or_null(first, *names)  # noqa: E731
    first = first.with_columns(
        money(f("Subtotal")).alias("subtotal_raw"),
        money(f("Shipping")).alias("shipping_amount"),
        money(f("Taxes")).alias("tax_amount"),
        money(f("Total")).alias("order_total"),
        money(f("Discount Amount")).alias("discount_raw"),
        money(f("Refunded Amount")).alias("channel_refunded"),
        f(CANCELLED_WHEN).alias(CANCELLED_WHEN),
    )
    first = add_timestamp(first, "Created at", "ordered_at", offset_target="ordered_at_offset")
    first = add_timestamp(first, CANCELLED_WHEN, "cancelled_at")
    check_parsed(
        first,
        {
            "subtotal_raw": ("Subtotal", "an amount"),
            "shipping_amount": ("Shipping", "an amount"),
            "tax_amount": ("Taxes", "an amount"),
            "order_total": ("Total", "an amount"),
            "discount_raw": ("Discount Amount", "an amount"),
            "channel_refunded": ("Refunded Amount", "an amount"),
            "ordered_at": ("Created at", "a timestamp like 2025-12-06 10:37:33 -0500"),
            "cancelled_at": (CANCELLED_WHEN, "a timestamp"),
        },
        describe_row=where,
    )
    require_values(first, {"ordered_at": "Created at"}, describe_row=where)

    ship_given = pl.any_horizontal(
        f(f"Shipping {part}").is_not_null()
        for part in ("Address1", "Street", "City", "Zip", "Country")
    )

    def ship(part: str, *fallbacks: str) -> pl.Expr:
        shipping = pl.coalesce(f(f"Shipping {part}"), *(f(f"Shipping {x}") for x in fallbacks))
        billing = pl.coalesce(f(f"Billing {part}"), *(f(f"Billing {x}") for x in fallbacks))
        return pl.when(ship_given).then(shipping).otherwise(billing)

    order_discount = pl.col("discount_raw").fill_null(0) - pl.col("lines_discount")
    orders = first.select(
        "order_key",
        pl.lit(CHANNEL).alias("channel"),
        pl.lit(FORMAT).alias("source_format"),
        pl.col("order_key").str.slice(len(CHANNEL) + 1).alias("external_order_id"),
        pl.col("Name").str.strip_chars().alias("order_number"),
        "ordered_at",
        "ordered_at_offset",
        f("Financial Status").alias("channel_status"),
        pl.when(pl.col("cancelled_at").is_not_null())
        .then(pl.lit("cancelled"))
        .otherwise(pl.lit("received"))
        .alias("status"),
        pl.coalesce(f("Billing Name"), f("Shipping Name")).alias("customer_name"),
        f("Email").alias("email"),
        pl.coalesce(f("Phone"), f("Billing Phone"), f("Shipping Phone")).alias("phone"),
        boolean(f("Accepts Marketing")).alias("accepts_marketing"),
        ship("Name").alias("ship_name"),
        ship("Company").alias("ship_company"),
        ship("Address1", "Street").alias("ship_address1"),
        ship("Address2").alias("ship_address2"),
        ship("City").alias("ship_city"),
        ship("Province").alias("ship_region"),
        strip_apostrophe(ship("Zip")).alias("ship_postal_code"),
        ship("Country").str.strip_chars().str.to_uppercase().alias("ship_country"),
        f("Currency").str.strip_chars().str.to_uppercase().alias("currency"),
        pl.coalesce(pl.col("subtotal_raw") + order_discount, pl.col("lines_total")).alias(
            "subtotal"
        ),
        "shipping_amount",
        "tax_amount",
        order_discount.alias("discount_amount"),
        "order_total",
        pl.col("channel_refunded").abs(),
        # Tax-inclusive stores (e.g. Australian GST): Total = Subtotal + Shipping, tax inside.
        (
            (pl.col("tax_amount") > 0)
            & (
                (
                    pl.col("subtotal_raw")
                    + pl.col("shipping_amount").fill_null(0)
                    - pl.col("order_total")
                ).abs()
                <= pl.lit(Decimal("0.01"))
            )
        ).alias("prices_include_tax"),
        f("Payment Method").alias("payment_method"),
        vocabulary(f("Financial Status"), PAYMENT_STATUSES, "unknown").alias("payment_status"),
        service_level_from_method(f("Shipping Method")).alias("service_level"),
        pl.lit(False).alias("ship_complete"),
        flag_vocabulary(f("Fulfillment Status"), FULFILLMENT_STATUSES).alias(
            "fulfilled_by_channel"
        ),
        "cancelled_at",
        join_nonblank(f("Notes"), f("Note Attributes"), separator="\n").alias("notes"),
        pl.lit(source_file).alias("source_file"),
        pl.col(RECORD).alias("source_row"),
    )

    lines = df.select(
        "order_key",
        "line_no",
        pl.lit(None, pl.String).alias("external_line_id"),
        c("Lineitem sku").alias("sku"),
        c("Lineitem name").alias("product_name"),
        "quantity",
        "unit_price",
        pl.col("line_discount").fill_null(0),
        "line_total",
        boolean(c("Lineitem requires shipping")).fill_null(True).alias("requires_shipping"),
        pl.lit(source_file).alias("source_file"),
        pl.col(RECORD).alias("source_row"),
    )
    if not has_lines:  # an export cut down to order columns: orders without lines
        lines = lines.head(0)
    return ParsedBatch(conform_orders(orders), conform_lines(lines))
