"""Direct (phone and email) orders in the platform's own template (docs/direct-orders.md).

The morning batch is written as CSV (one row per line, order-level columns repeated), the
evening batch as JSON (``{"orders": [...]}`` with each order's ``lines``). Money relations:
``order_total = sum(quantity * unit_price - line_discount) + shipping_amount + tax_amount
- discount_amount``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.lib.generator.layout import (
    WrittenFile,
    assign_parts,
    exported_orders,
    file_name,
    groups,
    local_time,
)
from pipelines.lib.generator.money import cents_text
from pipelines.lib.generator.simulate import Simulation

#: The template's header (data/templates/direct_orders.csv), in its order.
DIRECT_COLUMNS = (
    "order_id", "channel", "ordered_at", "customer_name", "email", "phone", "accepts_marketing",
    "ship_name", "ship_company", "ship_address1", "ship_address2", "ship_city", "ship_region",
    "ship_postal_code", "ship_country", "currency", "service_level", "ship_by", "ship_complete",
    "payment_method", "payment_status", "shipping_amount", "tax_amount", "discount_amount",
    "order_total", "notes", "line_no", "sku", "product_name", "quantity", "unit_price",
    "line_discount",
)  # fmt: skip
LINE_COLUMNS = ("line_no", "sku", "product_name", "quantity", "unit_price", "line_discount")

CALL_CENTRE_TIME_ZONE = "America/New_York"
_ISO = "%Y-%m-%dT%H:%M:%S%:z"


def _values() -> dict[str, pl.Expr]:
    c = pl.col
    flag = {True: "true", False: "false"}
    name = c("first_name") + " " + c("last_name")
    return {
        "order_id": c("external_order_id"),
        "channel": c("channel"),
        "ordered_at": local_time("ordered_at", CALL_CENTRE_TIME_ZONE, _ISO),
        "customer_name": name,
        "email": c("email"),
        "phone": c("phone_national"),
        "accepts_marketing": c("accepts_marketing").replace_strict(flag),
        "ship_name": name,
        "ship_company": c("company"),
        "ship_address1": c("address1"),
        "ship_address2": c("address2"),
        "ship_city": c("city"),
        "ship_region": pl.when(c("country") == "JP")
        .then(c("region_name"))
        .when(c("region") != "")
        .then(c("region"))
        .otherwise(None),
        "ship_postal_code": c("postal_code"),
        "ship_country": c("country"),
        "currency": c("currency"),
        "service_level": c("service_level"),
        "ship_by": pl.when(c("has_ship_by"))
        .then(local_time("ship_by", CALL_CENTRE_TIME_ZONE, _ISO))
        .otherwise(None),
        "ship_complete": c("ship_complete").replace_strict(flag),
        "payment_method": c("payment_method"),
        "payment_status": c("payment_status"),
        "shipping_amount": cents_text(c("shipping_cents")),
        "tax_amount": cents_text(c("tax_cents")),
        "discount_amount": cents_text(c("order_discount_cents")),
        "order_total": cents_text(c("total_cents")),
        "notes": c("notes"),
        "line_no": c("line_no").cast(pl.String),
        "sku": c("sku"),
        "product_name": c("product_name"),
        "quantity": c("quantity").cast(pl.String),
        "unit_price": cents_text(c("unit_cents")),
        "line_discount": cents_text(c("line_discount_cents")),
    }


def write_direct(sim: Simulation, out_dir: Path) -> list[WrittenFile]:
    own = sim.orders.filter(pl.col("channel").is_in(["phone", "email"]))
    if own.is_empty():
        return []
    orders = assign_parts(exported_orders(own), ["oid"], [False])
    rows = orders.join(sim.lines, on="oid", how="inner").sort("out_batch", "part", "oid", "line_no")
    values = _values()
    table = rows.select(
        "out_batch", "part", "oid", *(values[k].cast(pl.String).alias(k) for k in DIRECT_COLUMNS)
    )
    written = []
    for batch, part, parts, chunk in groups(table):
        as_json = batch % 2 == 1
        name = file_name("direct_orders", sim, batch, part, parts, ".json" if as_json else ".csv")
        if as_json:
            (out_dir / name).write_text(_as_json(chunk), encoding="utf-8")
        else:
            chunk.drop("out_batch", "part", "oid").write_csv(
                out_dir / name, quote_style="necessary", line_terminator="\n"
            )
        written.append(
            WrittenFile(
                name=name,
                channel="direct",
                format="direct_json" if as_json else "direct_csv",
                encoding="utf-8",
                orders=int(chunk["oid"].n_unique()),
                lines=chunk.height,
            )
        )
    return written


def _as_json(chunk: pl.DataFrame) -> str:
    """``{"orders": [...]}`` with the order fields once and the lines nested."""
    order_columns = [k for k in DIRECT_COLUMNS if k not in LINE_COLUMNS]
    nested = (
        chunk.with_columns(
            pl.col("line_no").cast(pl.Int64),
            pl.col("quantity").cast(pl.Int64),
            pl.col("ship_complete") == "true",
            pl.col("accepts_marketing") == "true",
        )
        .group_by("oid", maintain_order=True)
        .agg(
            *(pl.col(k).first() for k in order_columns),
            pl.struct(*LINE_COLUMNS).alias("lines"),
        )
        .drop("oid")
    )
    return '{"orders":' + nested.write_json() + "}\n"
