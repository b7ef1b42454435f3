"""WooCommerce REST API v3 orders as JSON (``woocommerce_json``).

Accepts what ``GET /wp-json/wc/v3/orders`` returns and what is saved from it: one order object,
a JSON array of orders, or JSON Lines (one order per line). An Airbyte record
(``{"stream": "orders", "data": {...}}``) counts as the order in its ``data``; records of other
streams are skipped.

- Money arrives as strings (``"29.35"``) except ``line_items[].price``, a JSON number (the unit
  price); every amount is read from its decimal text, never through a float's binary value.
- ``line_total`` is the item's ``total`` (after coupons), ``line_discount`` is ``subtotal −
  total``. ``fee_lines`` become lines too (no SKU, ``requires_shipping`` false,
  ``external_line_id`` ``fee:<id>``), because WooCommerce counts them in ``total``.
- ``discount_amount`` is the part of ``discount_total`` not already on the lines (normally 0)
  and ``subtotal`` = Σ line totals, so Σ line_total + shipping_total + total_tax − discount =
  total.
- ``ordered_at`` is ``date_created_gmt`` (UTC; WooCommerce writes no ``Z``), so
  ``ordered_at_offset`` stays null. An order without ``date_created_gmt`` falls back to
  ``date_created`` (the site's local time, taken as UTC). A cancelled order's
  ``cancelled_at`` is its ``date_modified_gmt`` (the API has no cancellation time).
- Names are HTML-decoded (``&ndash;`` → ``–``); ship-to is ``shipping{}`` with each blank field
  taken from ``billing{}``; email and phone come from ``billing{}``.

The file is read by Polars' JSON reader with a schema of just the fields used (fast, no Python
object per value); a file it cannot read that way (odd types such as ``"billing": []``, or
broken JSON) is read again with the standard parser, which also names the line of a syntax
error. ``source_row`` is the 1-based position of the order in the file (array index or line).
When the same order id appears twice in one file, the later object wins.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from pipelines.lib.channels.base import (
    ParsedBatch,
    UnreadableFile,
    conform_lines,
    conform_orders,
)
from pipelines.lib.channels.common import (
    GROUP,
    add_timestamp,
    check_parsed,
    flag_vocabulary,
    half_up_division,
    head_text,
    integer,
    json_first_line_object,
    json_items,
    money,
    money_text,
    number_lines,
    read_input,
    service_level_from_method,
    strip_apostrophe,
    text,
    utf8_bytes,
    vocabulary,
)

CHANNEL = "woocommerce"
FORMAT = "woocommerce_json"

#: ``status`` → order status. WooCommerce order statuses (REST API v3 docs, ``_orders.md``):
#: pending, processing, on-hold, completed, cancelled, refunded, failed, trash, plus the
#: block checkout's checkout-draft. Cancelled, refunded and trashed orders are ``cancelled``;
#: everything else (known or not) is ``received``. ``failed`` is a failed payment the customer
#: may retry (the order then becomes processing), so it is received with payment ``failed``.
ORDER_STATUSES: dict[str, str] = {
    "pending": "received",
    "checkout-draft": "received",
    "on-hold": "received",
    "processing": "received",
    "completed": "received",
    "failed": "received",
    "cancelled": "cancelled",
    "refunded": "cancelled",
    "trash": "cancelled",
}

#: ``status`` → payment status (same source). pending = awaiting payment, on-hold = awaiting
#: confirmation of an offline payment (bank transfer, cheque), processing/completed = paid.
#: Unknown → unknown.
PAYMENT_STATUSES: dict[str, str] = {
    "pending": "pending",
    "checkout-draft": "pending",
    "on-hold": "pending",
    "processing": "paid",
    "completed": "paid",
    "cancelled": "voided",
    "refunded": "refunded",
    "failed": "failed",
}

#: ``status`` → ``fulfilled_by_channel`` (same source). ``completed`` is WooCommerce's
#: "order fulfilled and complete, requires no further action": the shop already shipped it,
#: so we never ship it from our stock. Every other status (processing is paid and awaiting
#: fulfilment), unknown values and blank are False.
FULFILLED_STATUSES: dict[str, bool] = {
    "completed": True,
    "pending": False,
    "checkout-draft": False,
    "on-hold": False,
    "processing": False,
    "failed": False,
    "cancelled": False,
    "refunded": False,
    "trash": False,
}

#: Service level comes from ``shipping_lines[].method_id`` and ``method_title`` (e.g.
#: ``flat_rate`` "Flat Rate", a carrier plug-in's "UPS Next Day Air") through the shared
#: keyword table :data:`pipelines.lib.channels.common.SHIPPING_METHOD_KEYWORDS`; with several
#: shipping lines the fastest wins; none → standard.

_MARKERS = re.compile(
    r'"(line_items|date_created_gmt|date_created|order_key|billing|shipping_lines|'
    r'payment_method_title|customer_note|discount_total)"\s*:'
)
_AIRBYTE = re.compile(rb'^\s*\{\s*"stream"\s*:')
_FIRST_CHAR = re.compile(rb"\S")

_ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
    "email",
    "phone",
)
_ADDRESS = pl.Struct({f: pl.String for f in _ADDRESS_FIELDS})
_ITEM = pl.Struct(
    {f: pl.String for f in ("id", "name", "sku", "quantity", "price", "subtotal", "total")}
)
_SHIPPING_LINE = pl.Struct({"method_id": pl.String, "method_title": pl.String})
_FEE = pl.Struct({"id": pl.String, "name": pl.String, "total": pl.String})
#: A refund the shop made itself; its total is negative ("-10.00").
_REFUND = pl.Struct({"id": pl.String, "reason": pl.String, "total": pl.String})
#: The fields of an order this adapter reads (everything else in the file is skipped).
ORDER_SCHEMA: dict[str, pl.DataType] = {
    **{
        f: pl.String()
        for f in (
            "id",
            "number",
            "status",
            "currency",
            "date_created",
            "date_created_gmt",
            "date_modified",
            "date_modified_gmt",
            "discount_total",
            "shipping_total",
            "total_tax",
            "total",
            "payment_method",
            "payment_method_title",
            "customer_note",
        )
    },
    "prices_include_tax": pl.Boolean(),
    "billing": _ADDRESS,
    "shipping": _ADDRESS,
    "line_items": pl.List(_ITEM),
    "shipping_lines": pl.List(_SHIPPING_LINE),
    "fee_lines": pl.List(_FEE),
    "refunds": pl.List(_REFUND),
}
POSITION = "__position"
#: Erasure (pipelines.lib.erasure_archive), declared here so that the layout is described in
#: one place, as key paths into an order object. ``ORDER_ID_FIELDS``: the key naming the order
#: and the stored order field it equals (``number`` may differ from ``id``, so it is never
#: used). ``PERSONAL_FIELDS``: the keys blanked for an erased customer; a postal code maps to
#: its country key instead, and is cut to its prefix (privacy.postal_prefix_sql).
ORDER_ID_FIELDS = {"id": "external_order_id"}
PERSONAL_FIELDS: dict[str, str | None] = {
    **{
        f"{address}.{field}": None
        for address in ("billing", "shipping")
        for field in ("first_name", "last_name", "company", "address_1", "address_2", "city")
    },
    "billing.email": None,
    "billing.phone": None,
    "shipping.phone": None,
    "billing.postcode": "billing.country",
    "shipping.postcode": "shipping.country",
    "customer_note": None,
    "customer_ip_address": None,
    "customer_user_agent": None,
}


class WooCommerceJson:
    format = FORMAT

    def sniff(self, head: bytes) -> bool:
        body = head_text(head).lstrip()
        if not body.startswith(("{", "[")):
            return False
        found = {m.group(1) for m in _MARKERS.finditer(body)}
        # An order has line_items (or, early in a large one, order_key); customers and
        # products share the date and address keys but have neither.
        return bool(found & {"line_items", "order_key"}) and len(found) >= 3

    def parse(self, path: Path, source_file: str) -> Iterator[ParsedBatch]:
        orders = read_orders(utf8_bytes(read_input(path)))
        if orders.height == 0:
            raise UnreadableFile("no WooCommerce orders in the file")
        yield _batch(orders, source_file)


def read_orders(data: bytes) -> pl.DataFrame:
    """One row per order object with the :data:`ORDER_SCHEMA` columns and :data:`POSITION`."""
    airbyte = bool(_AIRBYTE.match(data))
    schema = {"stream": pl.String, "data": pl.Struct(ORDER_SCHEMA)} if airbyte else ORDER_SCHEMA
    start = _FIRST_CHAR.search(data)
    lines = bool(start) and start.group() == b"{" and json_first_line_object(data[start.start() :])
    try:
        if lines:
            df = pl.read_ndjson(io.BytesIO(data), schema=schema)
            df = df.with_columns(
                pl.Series(POSITION, _line_numbers(data, df.height), dtype=pl.Int64)
            )
        else:
            df = pl.read_json(io.BytesIO(data), schema=schema)
            df = df.with_row_index(POSITION, offset=1).with_columns(pl.col(POSITION).cast(pl.Int64))
    except (pl.exceptions.PolarsError, ValueError):
        df = _read_orders_slowly(data, schema)
    if airbyte:
        df = df.filter(pl.col("stream") == "orders").select(
            POSITION, pl.col("data").struct.unnest()
        )
    bad = df.filter(pl.col("id").is_null() | pl.col("line_items").is_null())
    if bad.height:
        position = bad[POSITION][0]
        raise UnreadableFile(
            f"item {position} is not a WooCommerce order (it has no id or no line_items)",
            line=position if lines else None,
        )
    return df


def _line_numbers(data: bytes, records: int) -> list[int] | range:
    """Line numbers of the ``records`` non-blank lines (the JSON Lines records)."""
    if data.count(b"\n") + (not data.endswith(b"\n")) == records:  # no blank lines
        return range(1, records + 1)
    return [n for n, row in enumerate(data.split(b"\n"), start=1) if row.strip()]


def _read_orders_slowly(data: bytes, schema: dict) -> pl.DataFrame:
    """The standard parser, for files Polars' reader refuses: names JSON syntax errors by
    line, and reads values of unexpected types as far as they make sense."""
    rows = []
    for position, item in json_items(data):
        if not isinstance(item, dict):
            raise UnreadableFile(
                f"item {position} is a JSON {type(item).__name__}, not a WooCommerce order"
            )
        if "stream" in schema:
            rows.append(
                {
                    POSITION: position,
                    "stream": text(item.get("stream")),
                    "data": _project(item.get("data"), ORDER_SCHEMA),
                }
            )
        else:
            rows.append({POSITION: position, **_project(item, ORDER_SCHEMA)})
    return pl.from_dicts(rows, schema={POSITION: pl.Int64, **schema})


def _project(value: object, schema: dict) -> dict | None:
    """``value`` cut down to ``schema``: scalars as text, lists and objects as the schema says."""
    if not isinstance(value, dict):
        return None
    out = {}
    for name, dtype in schema.items():
        item = value.get(name)
        if isinstance(dtype, pl.Struct):
            out[name] = _project(item, {f.name: f.dtype for f in dtype.fields})
        elif isinstance(dtype, pl.List):
            inner = {f.name: f.dtype for f in dtype.inner.fields}
            out[name] = (
                [_project(x, inner) for x in item if isinstance(x, dict)]
                if isinstance(item, list)
                else None
            )
        elif dtype == pl.Boolean:
            out[name] = item if isinstance(item, bool) else None
        else:
            out[name] = money_text(item) if isinstance(item, float) else text(item)
    return out


def _blank(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.strip_chars() == "").then(None).otherwise(expr)


def _name(address: str) -> pl.Expr:
    field = pl.col(address).struct.field
    joined = pl.concat_str(
        [_blank(field("first_name")), _blank(field("last_name"))], separator=" ", ignore_nulls=True
    )
    return _blank(joined)


def _unescape_names(lines: pl.DataFrame) -> pl.DataFrame:
    """HTML-decode product names; each distinct name with an ``&`` is decoded once."""
    names = lines["product_name"]
    coded = names.filter(names.str.contains("&", literal=True).fill_null(False)).unique()
    if coded.len() == 0:
        return lines
    table = {name: html.unescape(name) for name in coded.to_list()}
    return lines.with_columns(pl.col("product_name").replace(table))


def _batch(raw: pl.DataFrame, source_file: str) -> ParsedBatch:
    # The same order twice: identical copies are read once, different ones refuse the file
    # (which version is right can't be known; the intake says so and sets the file aside).
    content = [c for c in raw.columns if c != POSITION]
    copies = raw.filter(pl.col("id").is_duplicated())
    if copies.height:
        distinct = copies.unique(subset=content).filter(pl.col("id").is_duplicated())
        if distinct.height:
            first = distinct.sort(POSITION).row(0, named=True)
            at = distinct.filter(pl.col("id") == first["id"])[POSITION].sort().to_list()
            raise UnreadableFile(
                f"the same order id appears more than once with conflicting data: "
                f"woocommerce:{first['id']} at records {at}"
            )
        raw = raw.filter(pl.col("id").is_first_distinct())
    o = raw.with_row_index("order_index")
    o = o.with_columns(pl.col("order_index").cast(pl.Int64))

    items = (
        o.select(
            "order_index", POSITION, pl.col("line_items").alias("item"), pl.lit(0).alias("kind")
        )
        .explode("item")
        .filter(pl.col("item").is_not_null())
        .with_columns(pl.col("item").struct.unnest())
        .select(
            "order_index",
            POSITION,
            "kind",
            pl.col("id").alias("external_line_id"),
            _blank(pl.col("sku")).alias("sku"),
            pl.col("name").alias("product_name"),
            "quantity",
            "price",
            "subtotal",
            "total",
            pl.lit(True).alias("requires_shipping"),
        )
    )
    fees = (
        o.select("order_index", POSITION, pl.col("fee_lines").alias("fee"), pl.lit(1).alias("kind"))
        .explode("fee")
        .filter(pl.col("fee").is_not_null())
        .with_columns(pl.col("fee").struct.unnest())
        .select(
            "order_index",
            POSITION,
            "kind",
            pl.concat_str([pl.lit("fee:"), pl.col("id")]).alias("external_line_id"),
            pl.lit(None, pl.String).alias("sku"),
            pl.coalesce(_blank(pl.col("name")), pl.lit("Fee")).alias("product_name"),
            pl.lit("1").alias("quantity"),
            pl.col("total").alias("price"),
            pl.col("total").alias("subtotal"),
            "total",
            pl.lit(False).alias("requires_shipping"),
        )
    )
    li = pl.concat([items, fees], how="vertical")
    if fees.height:
        li = li.sort("order_index", "kind", maintain_order=True)
    li = _unescape_names(li).with_columns(
        integer(pl.col("quantity")).alias("_quantity"),
        money(pl.col("price")).alias("_price"),
        money(pl.col("subtotal")).alias("_subtotal"),
        money(pl.col("total")).alias("_total"),
    )
    check_parsed(
        li,
        {
            "_quantity": ("quantity", "a whole number"),
            "_price": ("price", "an amount"),
            "_subtotal": ("subtotal", "an amount"),
            "_total": ("total", "an amount"),
        },
        describe_row=lambda row: (
            f"line item {row['external_line_id']} of order item {row[POSITION]}",
            None,
        ),
    )

    o = o.with_columns(
        *(
            money(pl.col(f)).alias(f"_{f}")
            for f in ("discount_total", "shipping_total", "total_tax", "total")
        ),
        pl.coalesce(_blank(pl.col("date_created_gmt")), _blank(pl.col("date_created"))).alias(
            "created"
        ),
        pl.coalesce(_blank(pl.col("date_modified_gmt")), _blank(pl.col("date_modified"))).alias(
            "modified"
        ),
    )
    o = add_timestamp(o, "created", "ordered_at")
    o = add_timestamp(o, "modified", "modified_at")

    def where_order(row: dict) -> tuple[str, None]:
        return f"order {row['id']} (item {row[POSITION]})", None

    check_parsed(
        o,
        {
            "_discount_total": ("discount_total", "an amount"),
            "_shipping_total": ("shipping_total", "an amount"),
            "_total_tax": ("total_tax", "an amount"),
            "_total": ("total", "an amount"),
            "ordered_at": ("created", "a timestamp like 2017-03-22T19:28:02"),
        },
        describe_row=where_order,
    )
    missing = o.filter(pl.col("ordered_at").is_null())
    if missing.height:
        where, _ = where_order(missing.row(0, named=True))
        raise UnreadableFile(f"{where}: the order has no date_created_gmt or date_created")

    o = o.with_columns(
        pl.concat_str([pl.lit(f"{CHANNEL}:"), pl.col("id").str.strip_chars()]).alias("order_key")
    )
    li = (
        number_lines(li, "order_index")
        .join(o.select("order_index", "order_key"), on="order_index", how="left")
        .with_columns(
            pl.coalesce("_total", pl.col("_quantity") * pl.col("_price")).alias("line_total"),
            (pl.col("_subtotal") - pl.col("_total")).fill_null(0).alias("line_discount"),
        )
    )
    sums = li.group_by(GROUP, maintain_order=True).agg(
        pl.col("order_index").first(),
        pl.col("line_total").sum().alias("lines_total"),
        pl.col("line_discount").sum().alias("lines_discount"),
    )
    o = o.join(sums.drop(GROUP), on="order_index", how="left").with_columns(
        pl.col("lines_total").fill_null(0),
        pl.col("lines_discount").fill_null(0),
    )
    # Refunds the shop made itself (negative totals): their sum, so the returns stage never
    # pays the same money back twice.
    refunds = (
        o.select("order_index", "id", POSITION, pl.col("refunds").alias("refund"))
        .explode("refund")
        .filter(pl.col("refund").is_not_null())
        .with_columns(pl.col("refund").struct.field("total").alias("refund_total"))
        .with_columns(money(pl.col("refund_total")).alias("_refund"))
    )
    check_parsed(refunds, {"_refund": ("refund_total", "an amount")}, describe_row=where_order)
    o = o.join(
        refunds.group_by("order_index").agg(
            pl.col("_refund").abs().sum().alias("channel_refunded")
        ),
        on="order_index",
        how="left",
    )

    billing = pl.col("billing").struct.field
    shipping = pl.col("shipping").struct.field

    def ship(field: str) -> pl.Expr:
        return pl.coalesce(_blank(shipping(field)), _blank(billing(field)))

    methods = pl.col("shipping_lines").list.eval(
        pl.concat_str(
            [pl.element().struct.field("method_id"), pl.element().struct.field("method_title")],
            separator=" ",
            ignore_nulls=True,
        )
    )
    status = vocabulary(pl.col("status"), ORDER_STATUSES, "received")
    orders = o.with_columns(status.alias("_status")).select(
        "order_key",
        pl.lit(CHANNEL).alias("channel"),
        pl.lit(FORMAT).alias("source_format"),
        pl.col("id").str.strip_chars().alias("external_order_id"),
        pl.coalesce(_blank(pl.col("number")), pl.col("id")).alias("order_number"),
        "ordered_at",
        pl.lit(None, pl.String).alias("ordered_at_offset"),
        pl.col("status").alias("channel_status"),
        pl.col("_status").alias("status"),
        pl.coalesce(_name("billing"), _name("shipping")).alias("customer_name"),
        _blank(billing("email")).alias("email"),
        pl.coalesce(_blank(billing("phone")), _blank(shipping("phone"))).alias("phone"),
        pl.coalesce(_name("shipping"), _name("billing")).alias("ship_name"),
        ship("company").alias("ship_company"),
        ship("address_1").alias("ship_address1"),
        ship("address_2").alias("ship_address2"),
        ship("city").alias("ship_city"),
        ship("state").alias("ship_region"),
        strip_apostrophe(ship("postcode")).alias("ship_postal_code"),
        ship("country").str.to_uppercase().alias("ship_country"),
        pl.col("currency").str.to_uppercase(),
        pl.col("lines_total").alias("subtotal"),
        pl.col("_shipping_total").alias("shipping_amount"),
        pl.col("_total_tax").alias("tax_amount"),
        (pl.col("_discount_total").fill_null(0) - pl.col("lines_discount")).alias(
            "discount_amount"
        ),
        pl.col("_total").alias("order_total"),
        "channel_refunded",
        pl.col("prices_include_tax"),
        pl.coalesce(_blank(pl.col("payment_method_title")), _blank(pl.col("payment_method"))).alias(
            "payment_method"
        ),
        vocabulary(pl.col("status"), PAYMENT_STATUSES, "unknown").alias("payment_status"),
        service_level_from_method(methods.list.join(" | ")).alias("service_level"),
        pl.lit(False).alias("ship_complete"),
        flag_vocabulary(pl.col("status"), FULFILLED_STATUSES).alias("fulfilled_by_channel"),
        pl.when(pl.col("_status") == "cancelled").then(pl.col("modified_at")).alias("cancelled_at"),
        _blank(pl.col("customer_note")).alias("notes"),
        pl.lit(source_file).alias("source_file"),
        pl.col(POSITION).alias("source_row"),
    )
    lines = li.select(
        "order_key",
        "line_no",
        "external_line_id",
        "sku",
        "product_name",
        pl.col("_quantity").alias("quantity"),
        # WooCommerce's ``price`` is total ÷ quantity (after coupons); the unit price before
        # the line's discount is subtotal ÷ quantity.
        pl.coalesce(
            half_up_division(pl.col("_subtotal"), pl.col("_quantity")), pl.col("_price")
        ).alias("unit_price"),
        "line_discount",
        "line_total",
        "requires_shipping",
        pl.lit(source_file).alias("source_file"),
        pl.col(POSITION).alias("source_row"),
    )
    return ParsedBatch(conform_orders(orders), conform_lines(lines))
