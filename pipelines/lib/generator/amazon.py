"""Amazon Seller Central order reports: tab-separated, no quoting, one row per order item.

Two layouts, as sellers download them:

* the All Orders report (``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL``): no buyer
  name or street, dates in UTC ``+00:00``, ``Pending`` orders (payment not yet authorised)
  with a blank ``item-price``, ``Cancelled`` orders;
* the older "New Orders" Order Report (29 columns) with buyer and ship-to address, dates
  with the seller's Pacific offset, paid orders only.

Batches alternate between the two (even batches All Orders, odd batches New Orders). A seller
ships a merchant-fulfilled (MFN) order to the address of the order report that has it, so the
paid, uncancelled MFN orders of an All Orders batch are also written in the New Orders layout
(``amazon_new_orders_<batch>.txt``, listed with ``repeats_orders_of`` in the manifest), after
the All Orders file and sorting after it by name: intake reads files oldest first and a later
copy of an order replaces the earlier one, so the last copy it reads carries the ship-to.
Pending orders (no address until payment) and cancelled ones keep only their All Orders rows.

``item-price``, ``item-tax`` and ``shipping-price`` are totals for the row's quantity; the
order's shipping is charged on its first item. ``item-tax`` is often blank (marketplace
facilitator tax). The first New Orders file is encoded cp1252, as some downloads are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from pipelines.lib.channels.layouts import AMAZON_ALL_ORDERS_COLUMNS as ALL_ORDERS_COLUMNS
from pipelines.lib.channels.layouts import AMAZON_NEW_ORDERS_COLUMNS as NEW_ORDERS_COLUMNS
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

SELLER_TIME_ZONE = "America/Los_Angeles"
CP1252_BATCH = 1  # the first New Orders pull


def _order_fields(own: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    n = own.height
    c = pl.col
    zip4 = tokens(rng, n, 4, "0123456789")
    return own.with_columns(
        _status=pl.when(c("cancelled"))
        .then(pl.lit("Cancelled"))
        .when(c("unpaid"))
        .then(pl.lit("Pending"))
        .otherwise(pl.lit("Unshipped")),
        # Every generated order is merchant-fulfilled (the warehouse ships it).
        _fulfillment=pl.lit("Merchant"),
        _item_status=pl.when(c("cancelled"))
        .then(pl.lit("Cancelled"))
        .otherwise(pl.lit("Unshipped")),
        _updated=(
            c("ordered_at") + pl.duration(minutes=pl.Series(rng.integers(3, 240, n)))
        ).dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        _purchase_utc=c("ordered_at").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        _purchase_local=local_time("ordered_at", SELLER_TIME_ZONE, "%Y-%m-%dT%H:%M:%S%:z"),
        _payments_local=(c("ordered_at") + pl.duration(minutes=pl.Series(rng.integers(1, 45, n))))
        .dt.convert_time_zone(SELLER_TIME_ZONE)
        .dt.strftime("%Y-%m-%dT%H:%M:%S%:z"),
        # Amazon writes many US codes as ZIP+4 and upper-cases some cities.
        _postal=pl.when(
            (c("country") == "US")
            & c("postal_code").str.contains(r"^\d{5}$")
            & pl.Series(rng.random(n) < 0.4)
        )
        .then(c("postal_code") + "-" + zip4)
        .otherwise(c("postal_code")),
        _city=pl.when(pl.Series(rng.random(n) < 0.35))
        .then(c("city").str.to_uppercase())
        .otherwise(c("city")),
        _state=pl.when(c("country") == "JP").then(c("region_name")).otherwise(c("region")),
        _po=pl.when(c("is_business"))
        .then(pl.lit("PO-") + tokens(rng, n, 6, "0123456789"))
        .otherwise(None),
    )


def _item_rows(sim: Simulation, orders: pl.DataFrame, seed_base: int) -> pl.DataFrame:
    rows = orders.join(sim.lines, on="oid", how="inner").sort(
        ["out_batch", "part", "oid", "line_no"], descending=[False, False, True, False]
    )
    c = pl.col
    first = c("line_no") == 1
    # order-item-id: 14 digits, unique per (order, line), stable across re-exports.
    key = c("oid") * 8 + c("line_no")
    item_id = (key * 982_451_653 + seed_base) % 90_000_000_000_000 + 10_000_000_000_000
    taxed = ~c("tax_blank")
    return rows.with_columns(
        _item_id=item_id.cast(pl.String),
        _item_price=pl.when(c("unpaid")).then(None).otherwise(cents_text(c("line_total_cents"))),
        _item_tax=pl.when(taxed & ~c("unpaid"))
        .then(cents_text(c("line_tax_cents")))
        .otherwise(None),
        _ship_price=pl.when(first & (c("shipping_cents") > 0))
        .then(cents_text(c("shipping_cents")))
        .otherwise(None),
        _ship_tax=pl.when(first & (c("shipping_cents") > 0) & taxed)
        .then(pl.lit("0.00"))
        .otherwise(None),
    )


def _all_orders(rows: pl.DataFrame) -> pl.DataFrame:
    c = pl.col
    none = pl.lit(None, pl.String)
    values = {
        "amazon-order-id": c("external_order_id"),
        "merchant-order-id": none,
        "purchase-date": c("_purchase_utc"),
        "last-updated-date": c("_updated"),
        "order-status": c("_status"),
        "fulfillment-channel": c("_fulfillment"),
        "sales-channel": pl.lit("Amazon.com"),
        "order-channel": none,
        "ship-service-level": c("amazon_ship_level"),
        "product-name": c("product_name"),
        "sku": c("sku"),
        "asin": c("asin"),
        "item-status": c("_item_status"),
        "quantity": c("quantity").cast(pl.String),
        "currency": c("currency"),
        "item-price": c("_item_price"),
        "item-tax": c("_item_tax"),
        "shipping-price": c("_ship_price"),
        "shipping-tax": c("_ship_tax"),
        "ship-city": c("_city"),
        "ship-state": c("_state"),
        "ship-postal-code": c("_postal"),
        "ship-country": c("country"),
        "is-business-order": pl.when(c("is_business"))
        .then(pl.lit("true"))
        .otherwise(pl.lit("false")),
        "purchase-order-number": c("_po"),
        "price-designation": pl.when(c("is_business"))
        .then(pl.lit("BusinessPrice"))
        .otherwise(None),
    }
    return rows.select(
        "out_batch",
        "part",
        *(values.get(k, none).cast(pl.String).alias(k) for k in ALL_ORDERS_COLUMNS),
    )


def _new_orders(rows: pl.DataFrame) -> pl.DataFrame:
    c = pl.col
    none = pl.lit(None, pl.String)
    name = c("first_name") + " " + c("last_name")
    values = {
        "order-id": c("external_order_id"),
        "order-item-id": c("_item_id"),
        "purchase-date": c("_purchase_local"),
        "payments-date": c("_payments_local"),
        "buyer-email": c("amazon_email"),
        "buyer-name": name,
        "buyer-phone-number": c("phone_dashed"),
        "sku": c("sku"),
        "product-name": c("product_name"),
        "quantity-purchased": c("quantity").cast(pl.String),
        "currency": c("currency"),
        "item-price": c("_item_price"),
        "item-tax": c("_item_tax"),
        "shipping-price": pl.when(c("line_no") == 1)
        .then(cents_text(c("shipping_cents")))
        .otherwise(pl.lit("0.00")),
        "shipping-tax": none,
        "ship-service-level": c("amazon_ship_level"),
        "recipient-name": name,
        "ship-address-1": c("address1"),
        "ship-address-2": c("address2"),
        "ship-city": c("_city"),
        "ship-state": c("_state"),
        "ship-postal-code": c("_postal"),
        "ship-country": c("country"),
        "ship-phone-number": c("phone_dashed"),
        "delivery-Instructions": c("notes"),
    }
    return rows.select(
        "out_batch",
        "part",
        *(values.get(k, none).cast(pl.String).alias(k) for k in NEW_ORDERS_COLUMNS),
    )


def write_amazon(
    sim: Simulation, out_dir: Path, rng: np.random.Generator, seed: int
) -> list[WrittenFile]:
    own = sim.orders.filter(pl.col("channel") == "amazon")
    if own.is_empty():
        return []
    orders = assign_parts(exported_orders(_order_fields(own, rng)), ["oid"], [True])
    rows = _item_rows(sim, orders, seed * 7_919)
    all_orders = rows.filter(pl.col("out_batch") % 2 == 0)
    # The ship-to of the paid MFN orders of the All Orders batches, from the report that has
    # it, written after the All Orders files (and named so it sorts after them too).
    ship_to = all_orders.filter(
        (pl.col("_fulfillment") == "Merchant") & ~pl.col("cancelled") & ~pl.col("unpaid")
    )
    first = _write(sim, out_dir, _all_orders(all_orders), "amazon_all_orders", {})
    after = _write(
        sim,
        out_dir,
        _new_orders(pl.concat([rows.filter(pl.col("out_batch") % 2 == 1), ship_to])),
        "amazon_new_orders",
        {key: f.name for key, f in first.items()},
    )
    return sorted([*first.values(), *after.values()], key=lambda f: f.name)


def _write(
    sim: Simulation,
    out_dir: Path,
    table: pl.DataFrame,
    stem: str,
    earlier: dict[tuple[int, int], str],
) -> dict[tuple[int, int], WrittenFile]:
    """One TSV per ``(batch, part)`` of ``table``, written in that order.

    ``earlier`` names the file already written for a ``(batch, part)``: a file for the same
    key repeats (some of) its orders.
    """
    new_layout = stem == "amazon_new_orders"
    id_col = "order-id" if new_layout else "amazon-order-id"
    written = {}
    for batch, part, parts, chunk in groups(table):
        name = file_name(stem, sim, batch, part, parts, ".txt")
        body = chunk.drop("out_batch", "part")
        tsv = {"separator": "\t", "quote_style": "never", "line_terminator": "\n"}
        encoding = "cp1252" if (batch, part) == (CP1252_BATCH, 0) else "utf-8"
        if encoding == "utf-8":
            body.write_csv(out_dir / name, **tsv)
        else:
            (out_dir / name).write_bytes(body.write_csv(**tsv).encode(encoding))
        repeats = (earlier[(batch, part)],) if (batch, part) in earlier else ()
        written[(batch, part)] = WrittenFile(
            name=name,
            channel="amazon",
            format="amazon_new_orders_tsv" if new_layout else "amazon_all_orders_tsv",
            encoding=encoding,
            orders=int(body[id_col].n_unique()),
            lines=body.height,
            repeats_orders_of=repeats,
        )
    return written
