"""Shopify admin "Export orders" CSV, in the 79-column layout of real 2025-2026 exports.

One row per line item; order-level fields only on an order's first row (later rows carry
Name, Email, Created at, the Lineitem fields, Vendor and Lineitem discount); orders in
descending order number; local time with a numeric offset; numeric zips behind an apostrophe.

Money relations, as Shopify writes them: ``Subtotal = sum(qty * Lineitem price - Lineitem
discount)``, ``Discount Amount = sum(Lineitem discount)`` (already inside Subtotal) and
``Total = Subtotal + Shipping + Taxes``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from pipelines.lib.channels.layouts import SHOPIFY_EXPORT_COLUMNS as SHOPIFY_COLUMNS
from pipelines.lib.generator.layout import (
    WrittenFile,
    assign_parts,
    exported_orders,
    file_name,
    groups,
    local_time,
    tokens,
)
from pipelines.lib.generator.money import cents_text
from pipelines.lib.generator.simulate import Simulation

#: Columns that repeat on every row of an order; everything else is first-row only.
EVERY_ROW = frozenset(
    {"Name", "Email", "Created at", "Vendor", "Lineitem discount"}
    | {c for c in SHOPIFY_COLUMNS if c.startswith("Lineitem ")}
)

SHOP_TIME_ZONE = "America/New_York"
_STAMP = "%Y-%m-%d %H:%M:%S %z"
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _order_fields(orders: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Per-order values, drawn once per order so a re-export repeats them exactly."""
    n = orders.height
    paid_delay = rng.integers(1, 40, n)
    roll = rng.random(n)
    tag = np.array(["", "", "", "", "", "", "", "vip", "repeat-customer", "wholesale"])[
        rng.integers(0, 10, n)
    ]
    source = np.array(["web"] * 17 + ["shopify_draft_order", "294517", "1354745"])[
        rng.integers(0, 20, n)
    ]
    risk = np.where(roll < 0.96, "Low", np.where(roll < 0.99, "Medium", "High"))
    money = {
        k: cents_text(pl.col(f"{k}_cents"))
        for k in ("subtotal", "shipping", "tax", "total", "lines_discount")
    }
    rate_label = {
        r: f"{r / 1000:.3f}".rstrip("0").rstrip(".") for r in orders["tax_rate"].unique().to_list()
    }
    status = (
        pl.when(pl.col("cancelled") & (pl.col("payment_status") == "authorized"))
        .then(pl.lit("voided"))
        .when(pl.col("cancelled"))
        .then(pl.lit("refunded"))
        .otherwise(pl.col("payment_status"))
    )
    zip_code = (
        pl.when(pl.col("postal_code").str.contains(r"^\d+$"))
        .then("'" + pl.col("postal_code"))
        .otherwise(pl.col("postal_code"))
    )
    street = (
        pl.when(pl.col("address2").is_not_null())
        .then(pl.col("address1") + ", " + pl.col("address2"))
        .otherwise(pl.col("address1"))
    )
    name = pl.col("first_name") + " " + pl.col("last_name")
    payment_id = pl.lit("r") + pl.Series(tokens(rng, n, 24, _ALNUM))
    with_phone = pl.Series(rng.random(n) < 0.7)
    return orders.with_columns(
        _status=status,
        _paid_at=pl.when((status == "paid") & pl.Series(rng.random(n) < 0.85))
        .then(
            (pl.col("ordered_at") + pl.duration(seconds=pl.Series(paid_delay)))
            .dt.convert_time_zone(SHOP_TIME_ZONE)
            .dt.strftime(_STAMP)
        )
        .otherwise(None),
        _created=local_time("ordered_at", SHOP_TIME_ZONE, _STAMP),
        _cancelled_at=pl.when(pl.col("cancelled"))
        .then(local_time("later_at", SHOP_TIME_ZONE, _STAMP))
        .otherwise(None),
        _name=name,
        _street=street,
        _zip=zip_code,
        _province=pl.when(pl.col("region") != "").then(pl.col("region")).otherwise(None),
        _province_name=pl.when(pl.col("region_name") != "")
        .then(pl.col("region_name"))
        .otherwise(None),
        _phone=pl.when(with_phone).then(pl.col("phone")).otherwise(None),
        _subtotal=money["subtotal"],
        _shipping=money["shipping"],
        _taxes=money["tax"],
        _total=money["total"],
        _discount=money["lines_discount"],
        _refunded=pl.when(status == "refunded").then(money["total"]).otherwise(pl.lit("0.00")),
        _outstanding=pl.when(status.is_in(["authorized", "pending"]))
        .then(money["total"])
        .otherwise(pl.lit("0.00")),
        _payment_method=pl.when(pl.col("unpaid"))
        .then(pl.lit("Bank Deposit"))
        .otherwise(pl.col("payment_method")),
        _payment_id=pl.when(pl.col("unpaid")).then(None).otherwise(payment_id),
        _tags=pl.Series(tag),
        _risk=pl.Series(risk),
        _source=pl.Series(source),
        _tax_name=pl.when(pl.col("tax_cents") > 0)
        .then(
            pl.col("region") + " State Tax " + pl.col("tax_rate").replace_strict(rate_label) + "%"
        )
        .otherwise(None),
        _tax_value=pl.when(pl.col("tax_cents") > 0).then(money["tax"]).otherwise(None),
        _accepts=pl.when(pl.col("accepts_marketing")).then(pl.lit("yes")).otherwise(pl.lit("no")),
        _phone_top=pl.when(pl.Series(rng.random(n) < 0.3)).then(pl.col("phone")).otherwise(None),
    )


def _row_values() -> dict[str, pl.Expr]:
    c = pl.col
    flag = {True: "true", False: "false"}
    compare_at = cents_text(c("compare_at_cents"))
    return {
        "Name": c("order_number"),
        "Email": c("email"),
        "Financial Status": c("_status"),
        "Paid at": c("_paid_at"),
        "Fulfillment Status": pl.lit("unfulfilled"),
        "Fulfilled at": pl.lit(None, pl.String),
        "Accepts Marketing": c("_accepts"),
        "Currency": c("currency"),
        "Subtotal": c("_subtotal"),
        "Shipping": c("_shipping"),
        "Taxes": c("_taxes"),
        "Total": c("_total"),
        "Discount Code": c("discount_code").fill_null(""),
        "Discount Amount": c("_discount"),
        "Shipping Method": c("ship_method"),
        "Created at": c("_created"),
        "Lineitem quantity": c("quantity").cast(pl.String),
        "Lineitem name": c("product_name"),
        "Lineitem price": cents_text(c("unit_cents")),
        # Like the real files: blank on the first row, "" on later rows when there is none.
        "Lineitem compare at price": pl.when(c("compare_at_cents").is_not_null())
        .then(compare_at)
        .when(c("line_no") > 1)
        .then(pl.lit(""))
        .otherwise(None),
        "Lineitem sku": c("sku"),
        "Lineitem requires shipping": c("requires_shipping").replace_strict(flag),
        "Lineitem taxable": c("requires_shipping").replace_strict(flag),
        "Lineitem fulfillment status": pl.lit("pending"),
        "Billing Name": c("_name"),
        "Billing Street": c("_street"),
        "Billing Address1": c("address1"),
        "Billing Address2": c("address2"),
        "Billing Company": c("company"),
        "Billing City": c("city"),
        "Billing Zip": c("_zip"),
        "Billing Province": c("_province"),
        "Billing Country": c("country"),
        "Billing Phone": c("_phone"),
        "Shipping Name": c("_name"),
        "Shipping Street": c("_street"),
        "Shipping Address1": c("address1"),
        "Shipping Address2": c("address2"),
        "Shipping Company": c("company"),
        "Shipping City": c("city"),
        "Shipping Zip": c("_zip"),
        "Shipping Province": c("_province"),
        "Shipping Country": c("country"),
        "Shipping Phone": c("_phone"),
        "Notes": c("notes"),
        "Note Attributes": pl.lit(""),
        "Cancelled at": c("_cancelled_at"),
        "Payment Method": c("_payment_method"),
        "Payment Reference": c("_payment_id"),
        "Refunded Amount": c("_refunded"),
        "Vendor": c("brand"),
        "Outstanding Balance": c("_outstanding"),
        "Id": c("external_order_id"),
        "Tags": c("_tags"),
        "Risk Level": c("_risk"),
        "Source": c("_source"),
        "Lineitem discount": cents_text(c("line_discount_cents")),
        "Tax 1 Name": c("_tax_name"),
        "Tax 1 Value": c("_tax_value"),
        "Phone": c("_phone_top"),
        "Billing Province Name": c("_province_name"),
        "Shipping Province Name": c("_province_name"),
        "Payment ID": c("_payment_id"),
        "Payment References": c("_payment_id"),
    }


def write_shopify(sim: Simulation, out_dir: Path, rng: np.random.Generator) -> list[WrittenFile]:
    own = sim.orders.filter(pl.col("channel") == "shopify")
    if own.is_empty():
        return []
    orders = assign_parts(exported_orders(_order_fields(own, rng)), ["oid"], [True])
    rows = orders.join(sim.lines, on="oid", how="inner").sort(
        ["out_batch", "part", "oid", "line_no"], descending=[False, False, True, False]
    )
    values = _row_values()
    first = pl.col("line_no") == 1
    select = []
    for column in SHOPIFY_COLUMNS:
        value = values.get(column, pl.lit(None, pl.String))
        if column not in EVERY_ROW:
            value = pl.when(first).then(value).otherwise(None)
        select.append(value.cast(pl.String).alias(column))
    table = rows.select("out_batch", "part", *select)

    written = []
    for batch, part, parts, chunk in groups(table):
        name = file_name("shopify_orders_export", sim, batch, part, parts, ".csv")
        body = chunk.drop("out_batch", "part")
        body.write_csv(out_dir / name, quote_style="necessary", line_terminator="\n")
        written.append(
            WrittenFile(
                name=name,
                channel="shopify",
                format="shopify_csv",
                encoding="utf-8",
                orders=int(body["Name"].n_unique()),
                lines=body.height,
            )
        )
    return written
