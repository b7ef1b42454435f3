"""Direct (phone and email) orders in the platform's own template, docs/direct-orders.md.

``direct_csv``: one row per line, columns matched by name; order-level columns repeat on every
line of an order and the order's first row wins. ``direct_json``: one order object with its
``lines``, a list of such orders, or ``{"orders": [...]}``; money may be a string or a number.

An order is identified by (``channel``, ``order_id``): ``order_key`` is
``phone:<order_id>`` or ``email:<order_id>``. ``line_total`` = quantity × unit_price −
line_discount; ``subtotal`` = Σ line totals; a blank ``order_total`` is computed as subtotal +
shipping + tax − discount (blank amounts there count as 0). Times must carry an offset or
``Z``, as the template says: a bare local time is refused rather than guessed.

The template has no status column: a direct order is never already fulfilled elsewhere, so
``fulfilled_by_channel`` is always False (staff take the order; our warehouse ships it).

``source_row`` is the data record number (CSV, header not counted: an order gets its first
row's) or the 1-based position of the order object (JSON).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from pipelines.lib.channels.base import (
    ParsedBatch,
    UnreadableFile,
    conform_lines,
    conform_orders,
)
from pipelines.lib.channels.common import (
    RECORD,
    add_timestamp,
    boolean,
    check_parsed,
    csv_header,
    head_text,
    header_fields,
    integer,
    iter_csv_frames,
    json_items,
    money,
    money_text,
    read_input,
    record_line,
    require_columns,
    require_values,
    strip_apostrophe,
    text,
    vocabulary,
)

#: ``channel`` → canonical channel. The template allows ``phone`` and ``email``; blank means
#: phone. Any other value is refused (it is part of the order's identity, so it is not
#: guessed).
CHANNELS: dict[str, str] = {
    "phone": "phone",
    "telephone": "phone",
    "email": "email",
    "e-mail": "email",
}
DEFAULT_CHANNEL = "phone"

#: ``service_level`` → canonical service level. The template's values, plus the words staff
#: commonly type for them; unknown or blank → standard.
SERVICE_LEVELS: dict[str, str] = {
    "standard": "standard",
    "ground": "standard",
    "economy": "standard",
    "expedited": "expedited",
    "express": "expedited",
    "priority": "expedited",
    "2-day": "expedited",
    "2day": "expedited",
    "overnight": "overnight",
    "next day": "overnight",
    "next-day": "overnight",
    "nextday": "overnight",
}

#: ``payment_status`` → canonical payment status. The template allows paid, authorized,
#: pending and on_account; the other canonical values are accepted as written. Unknown or
#: blank → unknown.
PAYMENT_STATUSES: dict[str, str] = {
    "paid": "paid",
    "authorized": "authorized",
    "authorised": "authorized",
    "pending": "pending",
    "on_account": "on_account",
    "on account": "on_account",
    "partially_paid": "partially_paid",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
    "voided": "voided",
    "failed": "failed",
}

ORDER_FIELDS = (
    "order_id",
    "channel",
    "ordered_at",
    "customer_name",
    "email",
    "phone",
    "accepts_marketing",
    "ship_name",
    "ship_company",
    "ship_address1",
    "ship_address2",
    "ship_city",
    "ship_region",
    "ship_postal_code",
    "ship_country",
    "currency",
    "service_level",
    "ship_by",
    "ship_complete",
    "payment_method",
    "payment_status",
    "shipping_amount",
    "tax_amount",
    "discount_amount",
    "order_total",
    "notes",
)
#: Erasure (pipelines.lib.erasure_archive), declared here so that the layout is described in
#: one place; the same names serve the CSV columns and the JSON keys. ``ORDER_ID_FIELDS``: the
#: field naming the order and the stored order field it equals (with ``channel``, as in the
#: order key). ``PERSONAL_FIELDS``: the fields blanked for an erased customer; a postal code
#: maps to its country field instead, and is cut to its prefix (privacy.postal_prefix_sql).
ORDER_ID_FIELDS = {"order_id": "external_order_id"}
PERSONAL_FIELDS: dict[str, str | None] = {
    "customer_name": None,
    "email": None,
    "phone": None,
    "ship_name": None,
    "ship_company": None,
    "ship_address1": None,
    "ship_address2": None,
    "ship_city": None,
    "ship_postal_code": "ship_country",
    "notes": None,
}
LINE_FIELDS = ("line_no", "sku", "product_name", "quantity", "unit_price", "line_discount")
MONEY_FIELDS = ("shipping_amount", "tax_amount", "discount_amount", "order_total")
REQUIRED = ("order_id", "ordered_at", "sku", "quantity")

_JSON_DIRECT = re.compile(r'"order_id"\s*:')
_JSON_LINES = re.compile(r'"(lines|orders)"\s*:')
_JSON_WOO = re.compile(r'"line_items"\s*:')

Describe = Callable[[dict], tuple[str, int | None]]


class DirectOrderCsv:
    format = "direct_csv"

    def sniff(self, head: bytes) -> bool:
        names = {n.lower() for n in header_fields(head, ",")}
        return {"order_id", "ordered_at"} <= names

    def parse(self, path: Path, source_file: str) -> Iterator[ParsedBatch]:
        original = csv_header(path, ",")
        names = [n.lower() for n in original]
        require_columns(names, REQUIRED, ",")
        rename = {o: n for o, n in zip(original, names, strict=True)}
        wanted = [o for o, n in rename.items() if n in ORDER_FIELDS + LINE_FIELDS]
        frames = [
            f.rename({o: rename[o] for o in f.columns if o in rename})
            for f in iter_csv_frames(path, columns=wanted)
        ]
        rows = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
        rows = rows.with_columns(
            pl.lit(None, pl.String).alias(c)
            for c in ORDER_FIELDS + LINE_FIELDS
            if c not in rows.columns
        )

        def where(row: dict) -> tuple[str, int]:
            order = f" (order {row['order_id']})" if row.get("order_id") else ""
            return f"record {row[RECORD]}{order}", record_line(path, row[RECORD])

        rows = _with_channel(rows, where)
        rows = rows.with_columns(
            pl.concat_str(
                [pl.col("_channel"), pl.lit(":"), pl.col("order_id").str.strip_chars()]
            ).alias("order_key")
        )
        orders = rows.filter(pl.col("order_key").is_first_distinct())
        yield _build(orders, rows, "direct_csv", source_file, where)


class DirectOrderJson:
    format = "direct_json"

    def sniff(self, head: bytes) -> bool:
        body = head_text(head).lstrip()
        return (
            body.startswith(("{", "["))
            and bool(_JSON_DIRECT.search(body))
            and bool(_JSON_LINES.search(body))
            and not _JSON_WOO.search(body)
        )

    def parse(self, path: Path, source_file: str) -> Iterator[ParsedBatch]:
        orders: dict[str, list] = {f: [] for f in (*ORDER_FIELDS, RECORD)}
        lines: dict[str, list] = {f: [] for f in (*LINE_FIELDS, "_order", RECORD)}
        seen: dict[tuple[str, str], tuple[int, dict]] = {}
        for position, order in _json_orders(read_input(path)):
            # The same order twice: identical copies are read once, different ones refused.
            key = (text(order.get("channel")) or "phone", text(order.get("order_id")) or "")
            if key in seen:
                first, first_order = seen[key]
                if first_order != order:
                    raise UnreadableFile(
                        f"the same order id appears more than once with conflicting data: "
                        f"{key[0]}:{key[1]} at records [{first}, {position}]"
                    )
                continue
            seen[key] = (position, order)
            for field in ORDER_FIELDS:
                value = order.get(field)
                orders[field].append(money_text(value) if field in MONEY_FIELDS else text(value))
            orders[RECORD].append(position)
            raw_lines = order.get("lines")
            if not isinstance(raw_lines, list):
                raise UnreadableFile(f"order {position}: 'lines' is missing or not a list")
            for line in raw_lines:
                if not isinstance(line, dict):
                    raise UnreadableFile(f"order {position}: a line is not a JSON object")
                for field in LINE_FIELDS:
                    value = line.get(field)
                    money_like = field in ("unit_price", "line_discount", "quantity", "line_no")
                    lines[field].append(money_text(value) if money_like else text(value))
                lines["_order"].append(len(orders[RECORD]) - 1)
                lines[RECORD].append(position)
        if not orders[RECORD]:
            raise UnreadableFile("no orders in the file (the orders list is empty)")

        string = {f: pl.String for f in ORDER_FIELDS}
        o = pl.DataFrame(orders, schema={**string, RECORD: pl.Int64}).with_row_index("_order")
        li = pl.DataFrame(
            lines,
            schema={**{f: pl.String for f in LINE_FIELDS}, "_order": pl.UInt32, RECORD: pl.Int64},
        )

        def where(row: dict) -> tuple[str, None]:
            order = f" ({row['order_id']})" if row.get("order_id") else ""
            return f"order {row[RECORD]}{order}", None

        o = _with_channel(o, where)
        o = o.with_columns(
            pl.concat_str(
                [pl.col("_channel"), pl.lit(":"), pl.col("order_id").str.strip_chars()]
            ).alias("order_key")
        )
        li = li.join(o.select("_order", "order_key", "order_id"), on="_order", how="left")
        yield _build(o, li, "direct_json", source_file, where)


def _json_orders(data: bytes) -> Iterator[tuple[int, dict]]:
    for position, item in json_items(data):
        if isinstance(item, dict) and isinstance(item.get("orders"), list):
            for index, order in enumerate(item["orders"], start=1):
                yield _order_object(order, index)
        else:
            yield _order_object(item, position)


def _order_object(value: object, position: int) -> tuple[int, dict]:
    if not isinstance(value, dict):
        raise UnreadableFile(f"order {position} is a JSON {type(value).__name__}, not an object")
    return position, value


def _with_channel(df: pl.DataFrame, where: Describe) -> pl.DataFrame:
    df = df.with_columns(
        pl.when(pl.col("channel").is_null() | (pl.col("channel").str.strip_chars() == ""))
        .then(pl.lit(DEFAULT_CHANNEL))
        .otherwise(vocabulary(pl.col("channel"), CHANNELS, "?"))
        .alias("_channel")
    )
    require_values(df, {"order_id": "order_id"}, describe_row=where)
    bad = df.filter(pl.col("_channel") == "?")
    if bad.height:
        row = bad.row(0, named=True)
        place, line = where(row)
        raise UnreadableFile(
            f"{place}: channel {row['channel']!r} is not phone or email", line=line
        )
    return df


def _build(
    orders: pl.DataFrame, lines: pl.DataFrame, fmt: str, source_file: str, where: Describe
) -> ParsedBatch:
    orders = orders.with_columns(
        *(money(pl.col(f)).alias(f"_{f}") for f in MONEY_FIELDS),
    )
    orders = add_timestamp(orders, "ordered_at", "_ordered_at", offset_target="_offset")
    orders = add_timestamp(
        orders, "ship_by", "_ship_by", offset_target="_ship_by_offset", date_only_time="23:59:59"
    )
    check_parsed(
        orders,
        {
            "_ordered_at": ("ordered_at", "an ISO 8601 time with an offset"),
            "_ship_by": ("ship_by", "an ISO 8601 time with an offset"),
            **{f"_{f}": (f, "an amount") for f in MONEY_FIELDS},
        },
        describe_row=where,
    )
    require_values(orders, {"_ordered_at": "ordered_at"}, describe_row=where)
    for column, offset in (("ordered_at", "_offset"), ("ship_by", "_ship_by_offset")):
        # A date alone is allowed for ship_by (the end of that day, UTC; see the template).
        date_only = pl.col(column).str.strip_chars().str.contains(r"^\d{4}-\d{2}-\d{2}$")
        bare = orders.filter(
            pl.col(column).is_not_null()
            & pl.col(offset).is_null()
            & ~(date_only.fill_null(False) & pl.lit(column == "ship_by"))
        )
        if bare.height:
            row = bare.row(0, named=True)
            place, line = where(row)
            raise UnreadableFile(
                f"{place}: {column} {row[column]!r} has no UTC offset "
                "(write it like 2026-11-20T14:05:00-05:00 or with Z)",
                line=line,
            )

    lines = lines.with_columns(
        integer(pl.col("line_no")).alias("_line_no"),
        integer(pl.col("quantity")).alias("_quantity"),
        money(pl.col("unit_price")).alias("_unit_price"),
        money(pl.col("line_discount")).alias("_line_discount"),
    )
    check_parsed(
        lines,
        {
            "_line_no": ("line_no", "a whole number"),
            "_quantity": ("quantity", "a whole number"),
            "_unit_price": ("unit_price", "an amount"),
            "_line_discount": ("line_discount", "an amount"),
        },
        describe_row=where,
    )
    require_values(lines, {"sku": "sku", "_quantity": "quantity"}, describe_row=where)
    lines = lines.with_columns(
        pl.coalesce(
            pl.col("_line_no").cast(pl.Int32),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("order_key"),
        ).alias("_line_no"),
        pl.col("_line_discount").fill_null(0),
    ).with_columns(
        (pl.col("_quantity") * pl.col("_unit_price") - pl.col("_line_discount")).alias(
            "_line_total"
        )
    )
    dupes = lines.filter(pl.struct("order_key", "_line_no").is_duplicated())
    if dupes.height:
        row = dupes.row(0, named=True)
        place, line = where(row)
        raise UnreadableFile(
            f"{place}: line_no {row['_line_no']} appears twice in order {row['order_id']}",
            line=line,
        )

    sums = lines.group_by("order_key").agg(
        pl.when(pl.col("_line_total").null_count() == 0)
        .then(pl.col("_line_total").sum())
        .alias("_subtotal")
    )
    orders = orders.join(sums, on="order_key", how="left")
    computed_total = (
        pl.col("_subtotal")
        + pl.col("_shipping_amount").fill_null(0)
        + pl.col("_tax_amount").fill_null(0)
        - pl.col("_discount_amount").fill_null(0)
    )
    out_orders = orders.select(
        "order_key",
        pl.col("_channel").alias("channel"),
        pl.lit(fmt).alias("source_format"),
        pl.col("order_id").str.strip_chars().alias("external_order_id"),
        pl.col("order_id").str.strip_chars().alias("order_number"),
        pl.col("_ordered_at").alias("ordered_at"),
        pl.col("_offset").alias("ordered_at_offset"),
        pl.lit(None, pl.String).alias("channel_status"),
        pl.lit("received").alias("status"),
        "customer_name",
        "email",
        "phone",
        boolean(pl.col("accepts_marketing")).alias("accepts_marketing"),
        "ship_name",
        "ship_company",
        "ship_address1",
        "ship_address2",
        "ship_city",
        "ship_region",
        strip_apostrophe(pl.col("ship_postal_code")).alias("ship_postal_code"),
        pl.col("ship_country").str.strip_chars().str.to_uppercase(),
        pl.coalesce(pl.col("currency").str.strip_chars().str.to_uppercase(), pl.lit("USD")).alias(
            "currency"
        ),
        pl.col("_subtotal").alias("subtotal"),
        pl.col("_shipping_amount").fill_null(0).alias("shipping_amount"),
        pl.col("_tax_amount").fill_null(0).alias("tax_amount"),
        pl.col("_discount_amount").fill_null(0).alias("discount_amount"),
        pl.coalesce("_order_total", computed_total).alias("order_total"),
        "payment_method",
        vocabulary(pl.col("payment_status"), PAYMENT_STATUSES, "unknown").alias("payment_status"),
        vocabulary(pl.col("service_level"), SERVICE_LEVELS, "standard").alias("service_level"),
        pl.col("_ship_by").alias("ship_by"),
        boolean(pl.col("ship_complete")).fill_null(False).alias("ship_complete"),
        pl.lit(False).alias("fulfilled_by_channel"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("cancelled_at"),
        "notes",
        pl.lit(source_file).alias("source_file"),
        pl.col(RECORD).alias("source_row"),
    )
    out_lines = lines.select(
        "order_key",
        pl.col("_line_no").alias("line_no"),
        pl.lit(None, pl.String).alias("external_line_id"),
        pl.col("sku").str.strip_chars(),
        "product_name",
        pl.col("_quantity").alias("quantity"),
        pl.col("_unit_price").alias("unit_price"),
        pl.col("_line_discount").alias("line_discount"),
        pl.col("_line_total").alias("line_total"),
        pl.lit(True).alias("requires_shipping"),
        pl.lit(source_file).alias("source_file"),
        pl.col(RECORD).alias("source_row"),
    )
    return ParsedBatch(conform_orders(out_orders), conform_lines(out_lines))
