"""Amazon Seller Central order flat files (``amazon_tsv``).

Reads the layouts of docs/channel-formats.md §3 by header name: the All Orders report
(``amazon-order-id`` …, with or without ``cpf``, and the older 32-column FBA variant with
``url``), the Order Report / "New Orders" download (``order-id``, ``order-item-id``, buyer and
recipient columns, prices) and the Unshipped Orders report (the same ids, no prices).

- Tab-separated with **no quoting**: ``12" x 18"`` in a product name is plain text. Every
  non-blank line must have as many fields as the header (the reason names the line).
- Text is UTF-8 (with or without BOM) or Windows-1252.
- One row per order item, grouped by order id; ``item-price``, ``item-tax`` and
  ``shipping-price`` are totals for the row's quantity, so ``line_total`` = ``item-price``
  and ``unit_price`` = ``item-price / quantity`` rounded half-up to the cent.
- Order money: ``subtotal`` = Σ item-price, ``shipping_amount`` = Σ(shipping-price +
  gift-wrap-price), ``tax_amount`` = Σ(item-tax + shipping-tax + gift-wrap-tax),
  ``discount_amount`` = Σ(item-promotion-discount + ship-promotion-discount) (taken as
  amounts whatever their sign), ``order_total`` = subtotal + shipping + tax − discount.
  Blank tax/shipping is 0; a priced item with a blank ``item-price`` (pending orders) leaves
  ``subtotal`` and ``order_total`` null.

``source_row`` is the data record number: the file's line number minus one.
"""

from __future__ import annotations

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
    FIRST_ROW,
    GROUP,
    MONEY_TYPE,
    RECORD,
    add_timestamp,
    check_parsed,
    column_or_null,
    drop_blank_rows,
    flag_vocabulary,
    half_up_division,
    has_content,
    header_fields,
    integer,
    join_nonblank,
    money,
    number_lines,
    read_input,
    require_columns,
    require_values,
    strip_apostrophe,
    utf8_bytes,
    vocabulary,
)

CHANNEL = "amazon"
FORMAT = "amazon_tsv"

#: ``order-status`` → order status. Values from the All Orders report attributes
#: (developer-docs.amazon.com/sp-api/docs/order-tracking-reports-attributes) and the Orders
#: API ``OrderStatus`` enum. Only a cancelled order is ``cancelled``; anything else (known or
#: not) is ``received``. An order whose every item has ``item-status`` Cancelled is also
#: cancelled (see ``_CANCELLED_ITEM``).
ORDER_STATUSES: dict[str, str] = {
    "pending": "received",
    "pendingavailability": "received",
    "unshipped": "received",
    "partiallyshipped": "received",
    "partially shipped": "received",
    "shipping": "received",
    "shipped": "received",
    "invoiceunconfirmed": "received",
    "unfulfillable": "received",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}
_CANCELLED_ITEM = "cancelled"

#: ``order-status`` → payment status. Amazon authorizes the buyer's payment when the order
#: leaves Pending and charges it when the order ships (Seller Central help "Order status"):
#: Pending → pending, Unshipped/PartiallyShipped → authorized, Shipped → paid, Cancelled →
#: voided. Unknown → unknown. Layouts without ``order-status`` (Order Report, Unshipped
#: report) list only paid orders: a ``payments-date`` there means ``paid``.
PAYMENT_STATUSES: dict[str, str] = {
    "pending": "pending",
    "pendingavailability": "pending",
    "unshipped": "authorized",
    "partiallyshipped": "authorized",
    "partially shipped": "authorized",
    "shipping": "paid",
    "shipped": "paid",
    "invoiceunconfirmed": "paid",
    "cancelled": "voided",
    "canceled": "voided",
}

#: ``order-status`` → ``fulfilled_by_channel``: has the whole order already left, so that we
#: never ship it from our stock? ``Shipped`` is True, and so is ``InvoiceUnconfirmed``, which
#: the Orders API ``OrderStatus`` defines as "all items in the order have been shipped" (the
#: invoice is not yet confirmed). ``PartiallyShipped`` still has items to ship; Pending,
#: Unshipped, Shipping, Canceled/Cancelled, unknown values and blank are False, as is every
#: order of a layout without ``order-status`` (the Order and Unshipped reports list orders
#: still to ship). FBA (``fulfillment-channel`` Amazon) orders follow the same rule (their
#: lines already have ``requires_shipping = False``). The value is per order; where the layout
#: has ``item-status`` (All Orders report) the items must agree with a shipped order: each is
#: Shipped, Cancelled or blank, and not all are Cancelled. An order whose every item was
#: cancelled shipped nothing (it is ``cancelled``; the amazon_3 sample is Shipped over its one
#: Cancelled item), and an item still Unshipped or Pending means the channel does not say the
#: whole order left.
FULFILLED_ORDER_STATUSES: dict[str, bool] = {
    "shipped": True,
    "partiallyshipped": False,
    "partially shipped": False,
    "shipping": False,
    "unshipped": False,
    "pending": False,
    "pendingavailability": False,
    "invoiceunconfirmed": True,
    "unfulfillable": False,
    "cancelled": False,
    "canceled": False,
}
_CANCELLED_ITEMS = ("cancelled", "canceled")
_FULFILLED_ITEMS = ("shipped", *_CANCELLED_ITEMS)

#: ``ship-service-level`` → service level. Values are Amazon's ShipServiceLevelCategory
#: (Standard, Expedited, SecondDay, NextDay, SameDay, Priority, Scheduled, FreeEconomy) and
#: the merchant shipping-template names that start with Std/Exp ("Std US D2D Dom",
#: "Exp UK Dom"). Looked up by the whole value, then by its first word; unknown → standard.
SHIP_SERVICE_LEVELS: dict[str, str] = {
    "standard": "standard",
    "std": "standard",
    "freeeconomy": "standard",
    "economy": "standard",
    "scheduled": "standard",
    "expedited": "expedited",
    "exp": "expedited",
    "secondday": "expedited",
    "second": "expedited",
    "priority": "expedited",
    "nextday": "overnight",
    "next": "overnight",
    "sameday": "overnight",
    "same": "overnight",
}

#: ``fulfillment-channel`` → does the merchant ship the line? ``Amazon`` (FBA/AFN) orders are
#: shipped by Amazon from its own stock, so their lines get ``requires_shipping = False`` and
#: are never allocated to our warehouses; ``Merchant`` (MFN) lines, and layouts without the
#: column (the Order and Unshipped reports only list merchant-fulfilled orders), ship.
MERCHANT_SHIPS: dict[str, bool] = {
    "merchant": True,
    "mfn": True,
    "amazon": False,
    "afn": False,
}

#: ``sales-channel`` (marketplace) → currency, used when a row's ``currency`` is blank
#: (pending orders without prices).
MARKETPLACE_CURRENCIES: dict[str, str] = {
    "amazon.com": "USD",
    "amazon.ca": "CAD",
    "amazon.com.mx": "MXN",
    "amazon.com.br": "BRL",
    "amazon.co.uk": "GBP",
    "amazon.de": "EUR",
    "amazon.fr": "EUR",
    "amazon.it": "EUR",
    "amazon.es": "EUR",
    "amazon.nl": "EUR",
    "amazon.com.be": "EUR",
    "amazon.ie": "EUR",
    "amazon.se": "SEK",
    "amazon.pl": "PLN",
    "amazon.com.tr": "TRY",
    "amazon.ae": "AED",
    "amazon.sa": "SAR",
    "amazon.in": "INR",
    "amazon.co.jp": "JPY",
    "amazon.com.au": "AUD",
    "amazon.sg": "SGD",
}

COLUMNS = (
    "amazon-order-id",
    "order-id",
    "order-item-id",
    "purchase-date",
    "payments-date",
    "last-updated-date",
    "promise-date",
    "order-status",
    "fulfillment-channel",
    "sales-channel",
    "ship-service-level",
    "product-name",
    "sku",
    "item-status",
    "quantity",
    "quantity-purchased",
    "currency",
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "gift-wrap-price",
    "gift-wrap-tax",
    "item-promotion-discount",
    "ship-promotion-discount",
    "buyer-email",
    "buyer-name",
    "buyer-phone-number",
    "recipient-name",
    "ship-address-1",
    "ship-address-2",
    "ship-address-3",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "ship-phone-number",
    "delivery-instructions",
)
#: Erasure (pipelines.lib.erasure_archive), declared here so that the layout is described in
#: one place. ``ORDER_ID_FIELDS``: the columns naming each row's order (the first one the
#: header has counts) and the stored order field they equal. ``PERSONAL_FIELDS``: the columns
#: blanked for an erased customer (headers compared case-blind); a postal code maps to its
#: country column instead, and is cut to its prefix (privacy.postal_prefix_sql). ``bill-*``
#: are the optional billing columns of the Order Report (Seller Central help 201648780).
ORDER_ID_FIELDS = {"amazon-order-id": "external_order_id", "order-id": "external_order_id"}
PERSONAL_FIELDS: dict[str, str | None] = {
    "buyer-email": None,
    "buyer-name": None,
    "buyer-phone-number": None,
    "recipient-name": None,
    "ship-address-1": None,
    "ship-address-2": None,
    "ship-address-3": None,
    "ship-city": None,
    "ship-phone-number": None,
    "ship-postal-code": "ship-country",
    "delivery-instructions": None,
    "bill-name": None,
    "bill-address-1": None,
    "bill-address-2": None,
    "bill-address-3": None,
    "bill-city": None,
    "bill-postal-code": "bill-country",
}
MONEY_COLUMNS = (
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "gift-wrap-price",
    "gift-wrap-tax",
    "item-promotion-discount",
    "ship-promotion-discount",
)


class AmazonFlatFile:
    format = FORMAT

    def sniff(self, head: bytes) -> bool:
        first = head.split(b"\n", 1)[0]
        if b"\t" not in first:
            return False
        names = {n.lower() for n in header_fields(head, "\t")}
        return "amazon-order-id" in names or (
            "order-id" in names and ("order-item-id" in names or "purchase-date" in names)
        )

    def parse(self, path: Path, source_file: str) -> Iterator[ParsedBatch]:
        data = utf8_bytes(read_input(path))
        end = data.find(b"\n")
        header = data if end < 0 else data[:end]
        original = [n.strip() for n in header.decode("utf-8").rstrip("\r").split("\t")]
        names = [n.lower() for n in original]
        order_id = "amazon-order-id" if "amazon-order-id" in names else "order-id"
        quantity = "quantity" if "quantity" in names else "quantity-purchased"
        require_columns(names, (order_id, "purchase-date", "sku", quantity), "\t")
        if end < 0 or not has_content(memoryview(data)[end:]):
            raise UnreadableFile("header only: the file has a header row but no data rows", line=2)

        wanted = [o for o, n in zip(original, names, strict=True) if n in COLUMNS]
        try:
            df = pl.read_csv(
                data,
                separator="\t",
                quote_char=None,
                infer_schema=False,
                columns=wanted,
                row_index_name=RECORD,
                row_index_offset=1,
            )
        except pl.exceptions.ComputeError:
            _raise_field_count(data, len(names))
            raise
        df = df.rename({o: o.lower() for o in wanted})
        df = drop_blank_rows(df)
        if data.count(b"\t") != (len(names) - 1) * (df.height + 1):
            _raise_field_count(data, len(names))
        yield _batch(df, order_id, quantity, source_file)


def _raise_field_count(data: bytes, expected: int) -> None:
    """Find the first line whose field count differs from the header's (slow path)."""
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.rstrip(b"\r")
        if not line.strip(b" \t"):
            continue
        fields = line.count(b"\t") + 1
        if fields != expected:
            raise UnreadableFile(
                f"line {number} has {fields} tab-separated fields but the header has "
                f"{expected} (Amazon flat files are tab-separated, without quoting)",
                line=number,
            )


ORDER_LEVEL = (
    "purchase-date",
    "promise-date",
    "last-updated-date",
    "order-status",
    "payments-date",
    "sales-channel",
    "ship-service-level",
    "currency",
    "buyer-name",
    "buyer-email",
    "buyer-phone-number",
    "ship-phone-number",
    "recipient-name",
    "ship-address-1",
    "ship-address-2",
    "ship-address-3",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "delivery-instructions",
)


#: Order columns and the report columns they come from. The layouts differ: the All Orders
#: report has no buyer or recipient name, street, phone or promise date. A column none of
#: whose sources is in a file is not carried by it (see ParsedBatch.not_carried).
SOURCES = {
    "customer_name": ("buyer-name",),
    "email": ("buyer-email",),
    "phone": ("buyer-phone-number", "ship-phone-number"),
    "ship_name": ("recipient-name",),
    "ship_address1": ("ship-address-1",),
    "ship_address2": ("ship-address-2", "ship-address-3"),
    "ship_city": ("ship-city",),
    "ship_region": ("ship-state",),
    "ship_postal_code": ("ship-postal-code",),
    "ship_country": ("ship-country",),
    "ship_by": ("promise-date",),
    "notes": ("delivery-instructions",),
    # New Orders / Unshipped reports list open orders only: they cannot say an order the All
    # Orders report saw shipped is unshipped again.
    "fulfilled_by_channel": ("order-status",),
}


def _batch(df: pl.DataFrame, order_id: str, quantity: str, source_file: str) -> ParsedBatch:
    c = lambda *names: column_or_null(df, *names)  # noqa: E731
    not_carried = frozenset(
        column
        for column, sources in SOURCES.items()
        if not any(source in df.columns for source in sources)
    )
    has_prices = "item-price" in df.columns
    present = [m for m in MONEY_COLUMNS if m in df.columns]
    commas = (
        df.select(pl.col(m).str.contains(",", literal=True).any() for m in present).row(0)
        if present
        else ()
    )
    df = df.with_columns(
        pl.col(order_id).str.strip_chars().alias("order_id"),
        integer(pl.col(quantity)).alias("qty"),
        *(
            money(pl.col(m), decimal_comma=bool(comma)).alias(f"_{m}")
            for m, comma in zip(present, commas, strict=True)
        ),
        *(pl.lit(None, MONEY_TYPE).alias(f"_{m}") for m in MONEY_COLUMNS if m not in present),
    )

    def where(row: dict) -> tuple[str, int]:
        return f"line {row[RECORD] + 1} (order {row.get('order_id')})", row[RECORD] + 1

    require_values(df, {"order_id": order_id}, describe_row=where)
    check_parsed(
        df,
        {
            "qty": (quantity, "a whole number"),
            **{f"_{m}": (m, "an amount") for m in MONEY_COLUMNS},
        },
        describe_row=where,
    )

    zero = pl.lit(0, MONEY_TYPE)
    df = number_lines(df, "order_id").with_columns(
        pl.when(pl.col("_item-price").is_not_null())
        .then(pl.col("_item-price"))
        .when(pl.col("qty") == 0)
        .then(zero)
        .otherwise(None)
        .alias("line_total"),
        half_up_division(pl.col("_item-price"), pl.col("qty")).alias("unit_price"),
        pl.concat_str([pl.lit(f"{CHANNEL}:"), pl.col("order_id")]).alias("order_key"),
    )

    item_status = c("item-status").str.strip_chars().str.to_lowercase()
    item_status = pl.when(item_status != "").then(item_status)  # blank: follows the order
    money_sum = lambda *cols: sum(pl.col(f"_{x}").fill_null(0) for x in cols).sum()  # noqa: E731
    sums = df.group_by(GROUP, maintain_order=True).agg(
        (c("item-status").str.to_lowercase() == _CANCELLED_ITEM)
        .fill_null(False)
        .all()
        .alias("items_cancelled"),
        (item_status.is_null() | item_status.is_in(_FULFILLED_ITEMS)).all().alias("items_done"),
        (~item_status.is_in(_CANCELLED_ITEMS)).fill_null(True).any().alias("items_kept"),
        pl.when(pl.col("line_total").null_count() == 0)
        .then(pl.col("line_total").sum())
        .alias("subtotal"),
        money_sum("shipping-price", "gift-wrap-price").alias("shipping_amount"),
        money_sum("item-tax", "shipping-tax", "gift-wrap-tax").alias("tax_amount"),
        (
            pl.col("_item-promotion-discount").fill_null(0).abs()
            + pl.col("_ship-promotion-discount").fill_null(0).abs()
        )
        .sum()
        .alias("discount_amount"),
    )
    agg = (
        df.select(
            GROUP,
            FIRST_ROW,
            "order_id",
            "order_key",
            RECORD,
            *(c(name).alias(name) for name in ORDER_LEVEL),
        )
        .filter(pl.col(FIRST_ROW))
        .join(sums, on=GROUP, how="left", maintain_order="left")
    )
    if not has_prices:
        agg = agg.with_columns(
            pl.lit(None, MONEY_TYPE).alias(m)
            for m in ("subtotal", "shipping_amount", "tax_amount", "discount_amount")
        )
    agg = add_timestamp(agg, "purchase-date", "ordered_at", offset_target="ordered_at_offset")
    agg = add_timestamp(agg, "promise-date", "ship_by")
    agg = add_timestamp(agg, "last-updated-date", "last_updated")
    check_parsed(
        agg,
        {
            "ordered_at": ("purchase-date", "an ISO 8601 timestamp"),
            "ship_by": ("promise-date", "an ISO 8601 timestamp"),
            "last_updated": ("last-updated-date", "an ISO 8601 timestamp"),
        },
        describe_row=where,
    )
    require_values(agg, {"ordered_at": "purchase-date"}, describe_row=where)
    level_text = pl.col("ship-service-level").str.strip_chars().str.to_lowercase()

    status = vocabulary(pl.col("order-status"), ORDER_STATUSES, "received")
    status = pl.when(pl.col("items_cancelled")).then(pl.lit("cancelled")).otherwise(status)
    level = pl.coalesce(
        level_text.replace_strict(SHIP_SERVICE_LEVELS, default=None),
        level_text.str.extract(r"^([a-z]+)").replace_strict(
            SHIP_SERVICE_LEVELS, default="standard"
        ),
    )
    fulfilled = (
        flag_vocabulary(pl.col("order-status"), FULFILLED_ORDER_STATUSES)
        & pl.col("items_done")
        & pl.col("items_kept")
    )
    payment = pl.when(pl.col("order-status").is_not_null()).then(
        vocabulary(pl.col("order-status"), PAYMENT_STATUSES, "unknown")
    )
    payment = payment.when(pl.col("payments-date").is_not_null()).then(pl.lit("paid"))
    payment = payment.otherwise(pl.lit("unknown"))
    orders = agg.with_columns(status.alias("status")).select(
        "order_key",
        pl.lit(CHANNEL).alias("channel"),
        pl.lit(FORMAT).alias("source_format"),
        pl.col("order_id").alias("external_order_id"),
        pl.col("order_id").alias("order_number"),
        "ordered_at",
        "ordered_at_offset",
        pl.col("order-status").alias("channel_status"),
        "status",
        pl.col("buyer-name").alias("customer_name"),
        pl.col("buyer-email").alias("email"),
        pl.coalesce("buyer-phone-number", "ship-phone-number").alias("phone"),
        pl.col("recipient-name").alias("ship_name"),
        pl.col("ship-address-1").alias("ship_address1"),
        join_nonblank(pl.col("ship-address-2"), pl.col("ship-address-3"), separator=", ").alias(
            "ship_address2"
        ),
        pl.col("ship-city").alias("ship_city"),
        pl.col("ship-state").alias("ship_region"),
        strip_apostrophe(pl.col("ship-postal-code")).alias("ship_postal_code"),
        pl.col("ship-country").str.to_uppercase().alias("ship_country"),
        pl.coalesce(
            pl.col("currency").str.to_uppercase(),
            pl.col("sales-channel")
            .str.to_lowercase()
            .replace_strict(MARKETPLACE_CURRENCIES, default=None, return_dtype=pl.String),
        ).alias("currency"),
        "subtotal",
        "shipping_amount",
        "tax_amount",
        "discount_amount",
        (
            pl.col("subtotal")
            + pl.col("shipping_amount")
            + pl.col("tax_amount")
            - pl.col("discount_amount")
        ).alias("order_total"),
        payment.alias("payment_status"),
        level.alias("service_level"),
        "ship_by",
        pl.lit(False).alias("ship_complete"),
        fulfilled.alias("fulfilled_by_channel"),
        pl.when(pl.col("status") == "cancelled").then(pl.col("last_updated")).alias("cancelled_at"),
        pl.col("delivery-instructions").alias("notes"),
        pl.lit(source_file).alias("source_file"),
        pl.col(RECORD).alias("source_row"),
    )
    lines = df.select(
        "order_key",
        "line_no",
        c("order-item-id").alias("external_line_id"),
        c("sku").alias("sku"),
        c("product-name").alias("product_name"),
        pl.col("qty").alias("quantity"),
        "unit_price",
        pl.when(pl.col("line_total").is_not_null()).then(zero).alias("line_discount"),
        "line_total",
        c("fulfillment-channel")
        .str.to_lowercase()
        .replace_strict(MERCHANT_SHIPS, default=True, return_dtype=pl.Boolean)
        .alias("requires_shipping"),
        pl.lit(source_file).alias("source_file"),
        pl.col(RECORD).alias("source_row"),
    )
    return ParsedBatch(conform_orders(orders), conform_lines(lines), not_carried)
