"""WooCommerce REST API v3 orders (``GET /wp-json/wc/v3/orders``), as JSON arrays and JSON Lines.

Fields and their order follow a real WooCommerce 8 response. Money is a string, except
``line_items[].price``, a JSON number (WooCommerce computes it as line total / quantity);
``date_*`` are site-local and ``date_*_gmt`` UTC, both without an offset; ``number`` is a
string; product names carry HTML entities (``&amp;``, ``&ndash;``). Money relations:
``line.total = line.subtotal - coupon share``, ``discount_total = sum(subtotal - total)``,
``total = sum(line.total) + shipping_total + total_tax``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from pipelines.lib.generator.layout import (
    WrittenFile,
    assign_parts,
    exported_orders,
    file_name,
    groups,
    local_time,
    tokens,
)
from pipelines.lib.generator.money import cents_text, round_half_up
from pipelines.lib.generator.simulate import Simulation
from pipelines.lib.generator.vocab import USER_AGENTS

SITE_TIME_ZONE = "America/Chicago"
SITE_URL = "https://shop.example.com"
WC_VERSION = "8.9.3"
_STAMP = "%Y-%m-%dT%H:%M:%S"
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CURRENCY_SYMBOL = {"USD": "$", "CAD": "$", "AUD": "$", "GBP": "£", "EUR": "€", "JPY": "¥"}
_GATEWAY_TITLE = {
    "stripe": "Credit Card (Stripe)",
    "ppcp-gateway": "PayPal",
    "bacs": "Direct bank transfer",
}


def _html_name(col: str) -> pl.Expr:
    """Product names as WooCommerce returns them: ``&`` escaped, variation dash as ``&ndash;``."""
    return (
        pl.col(col)
        .str.replace_all("&", "&amp;", literal=True)
        .str.replace_all(" - ", " &ndash; ", literal=True)
        .str.replace_all(" – ", " &ndash; ", literal=True)
    )


def _empty_list(fields: dict[str, pl.DataType]) -> pl.Expr:
    return pl.lit([], dtype=pl.List(pl.Struct(fields)))


_META = {"id": pl.Int64, "key": pl.String, "value": pl.String}
_TAX = {"id": pl.Int64, "total": pl.String, "subtotal": pl.String}


def _stamp(col: str, local: bool) -> pl.Expr:
    if local:
        return local_time(col, SITE_TIME_ZONE, _STAMP)
    return pl.col(col).dt.strftime(_STAMP)


def _line_items(sim: Simulation, own: pl.DataFrame) -> pl.DataFrame:
    """One ``line_items`` list per order (``oid``)."""
    keys = own.select("oid", "_item_base", "_tax_rate_id")
    lines = sim.lines.join(keys, on="oid", how="inner")
    gross = lines["unit_cents"].to_numpy() * lines["quantity"].to_numpy()
    subtotal_tax = round_half_up(gross * lines["line_tax_rate"].to_numpy(), 100_000)
    sku_no = lines["sku"].str.extract(r"(\d+)$").cast(pl.Int64).fill_null(0)
    variant = lines["product_name"].str.contains(" - ", literal=True)
    lines = lines.with_columns(
        _subtotal_tax=subtotal_tax,
        _gross=gross,
        _sku_no=sku_no,
        _variant=variant,
    )
    price = (
        pl.when(pl.col("quantity") > 0)
        .then((pl.col("line_total_cents") / 100) / pl.col("quantity"))
        .otherwise(0.0)
    )
    item = pl.struct(
        id=pl.col("_item_base") + pl.col("line_no"),
        name=_html_name("product_name"),
        product_id=pl.when(pl.col("_variant"))
        .then(pl.lit(9_000) + pl.col("_sku_no") // 3)
        .otherwise(pl.lit(1_000) + pl.col("_sku_no")),
        variation_id=pl.when(pl.col("_variant"))
        .then(pl.lit(20_000) + pl.col("_sku_no"))
        .otherwise(0),
        quantity=pl.col("quantity"),
        tax_class=pl.lit(""),
        subtotal=cents_text(pl.col("_gross")),
        subtotal_tax=cents_text(pl.col("_subtotal_tax")),
        total=cents_text(pl.col("line_total_cents")),
        total_tax=cents_text(pl.col("line_tax_cents")),
        taxes=pl.concat_list(
            pl.struct(
                id=pl.col("_tax_rate_id"),
                total=cents_text(pl.col("line_tax_cents")),
                subtotal=cents_text(pl.col("_subtotal_tax")),
            )
        ).list.head((pl.col("line_tax_cents") > 0).cast(pl.Int64)),
        meta_data=_empty_list(_META),
        sku=pl.col("sku"),
        price=price,
        image=pl.struct(
            id=pl.lit(30_000) + pl.col("_sku_no"),
            src=pl.lit(SITE_URL + "/wp-content/uploads/2026/04/")
            + pl.col("sku").str.to_lowercase()
            + ".jpg",
        ),
        parent_name=pl.when(pl.col("_variant"))
        .then(_html_name("product_name").str.split(" &ndash; ").list.first())
        .otherwise(None),
    )
    return (
        lines.sort("oid", "line_no")
        .group_by("oid", maintain_order=True)
        .agg(item.alias("line_items"))
    )


def _orders(own: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    n = own.height
    c = pl.col
    money = {k: cents_text(c(f"{k}_cents")) for k in ("lines_discount", "shipping", "tax", "total")}
    status = (
        pl.when(c("cancelled"))
        .then(pl.lit("cancelled"))
        .when(c("unpaid") & (c("payment_method") == "bacs"))
        .then(pl.lit("on-hold"))
        .when(c("unpaid"))
        .then(pl.lit("pending"))
        .when(c("completed"))
        .then(pl.lit("completed"))
        .otherwise(pl.lit("processing"))
    )
    ip = (
        pl.Series(rng.integers(11, 223, n)).cast(pl.String)
        + "."
        + pl.Series(rng.integers(0, 256, n)).cast(pl.String)
        + "."
        + pl.Series(rng.integers(0, 256, n)).cast(pl.String)
        + "."
        + pl.Series(rng.integers(1, 255, n)).cast(pl.String)
    )
    stripe_id = pl.lit("pi_3") + tokens(rng, n, 21, _ALNUM)
    paypal_id = tokens(rng, n, 17, "0123456789ABCDEFGHJKLMNPRSTUVWXYZ")
    frame = own.with_columns(
        _status=status,
        _modified_at=pl.when(c("cancelled") | c("completed"))
        .then(c("later_at"))
        .otherwise(c("ordered_at") + pl.duration(seconds=pl.Series(rng.integers(5, 300, n)))),
        _paid_at=pl.when(c("unpaid"))
        .then(None)
        .otherwise(c("ordered_at") + pl.duration(seconds=pl.Series(rng.integers(2, 60, n)))),
        _completed_at=pl.when(c("completed")).then(c("later_at")).otherwise(None),
        _ip=ip,
        _agent=pl.Series(USER_AGENTS).gather(rng.integers(0, len(USER_AGENTS), n)),
        _order_key=pl.lit("wc_order_") + tokens(rng, n, 13, _ALNUM),
        _cart_hash=tokens(rng, n, 32, "0123456789abcdef"),
        _transaction=pl.when(c("unpaid") | (c("payment_method") == "bacs"))
        .then(pl.lit(""))
        .when(c("payment_method") == "stripe")
        .then(stripe_id)
        .otherwise(paypal_id),
        _customer_id=pl.when(c("customer_no") % 3 == 0).then(0).otherwise(c("customer_no") + 1),
        _source_type=pl.Series(["typein", "organic", "utm", "referral"]).gather(
            rng.integers(0, 4, n)
        ),
        _meta_base=pl.lit(50_000) + pl.int_range(pl.len()) * 7,
    )
    method = (
        pl.when(c("local_pickup"))
        .then(pl.lit("local_pickup"))
        .when((c("service_level") == "standard") & (c("shipping_cents") == 0))
        .then(pl.lit("free_shipping"))
        .otherwise(pl.lit("flat_rate"))
    )
    title = (
        pl.when(c("local_pickup"))
        .then(pl.lit("Local pickup"))
        .when(c("service_level") == "overnight")
        .then(pl.lit("Overnight Shipping"))
        .when(c("service_level") == "expedited")
        .then(pl.lit("Express Shipping (2-3 business days)"))
        .when(c("shipping_cents") == 0)
        .then(pl.lit("Free shipping"))
        .otherwise(pl.lit("Flat rate"))
    )
    empty = pl.lit("")

    def address(with_email: bool) -> pl.Expr:
        fields = {
            "first_name": c("first_name"),
            "last_name": c("last_name"),
            "company": c("company").fill_null(""),
            "address_1": c("address1"),
            "address_2": c("address2").fill_null(""),
            "city": c("city"),
            "state": c("woo_state"),
            "postcode": c("postal_code"),
            "country": c("country"),
        }
        if with_email:
            fields["email"] = c("email")
            fields["phone"] = c("phone_national")
        else:
            fields["phone"] = empty
        return pl.struct(**fields)

    href = pl.lit(SITE_URL + "/wp-json/wc/v3/orders")
    return frame.select(
        "oid",
        "batch",
        "reexport_batch",
        "n_lines",
        id=c("external_order_id").cast(pl.Int64),
        parent_id=pl.lit(0),
        status=c("_status"),
        currency=c("currency"),
        version=pl.lit(WC_VERSION),
        prices_include_tax=pl.lit(False),
        date_created=_stamp("ordered_at", local=True),
        date_modified=_stamp("_modified_at", local=True),
        discount_total=money["lines_discount"],
        discount_tax=pl.lit("0.00"),
        shipping_total=money["shipping"],
        shipping_tax=pl.lit("0.00"),
        cart_tax=money["tax"],
        total=money["total"],
        total_tax=money["tax"],
        customer_id=c("_customer_id"),
        order_key=c("_order_key"),
        billing=address(with_email=True),
        shipping=address(with_email=False),
        payment_method=c("payment_method"),
        payment_method_title=c("payment_method").replace_strict(_GATEWAY_TITLE),
        transaction_id=c("_transaction"),
        customer_ip_address=c("_ip"),
        customer_user_agent=c("_agent"),
        created_via=pl.lit("checkout"),
        customer_note=c("notes").fill_null(""),
        date_completed=_stamp("_completed_at", local=True),
        date_paid=_stamp("_paid_at", local=True),
        cart_hash=c("_cart_hash"),
        number=c("order_number"),
        meta_data=pl.concat_list(
            pl.struct(id=c("_meta_base"), key=pl.lit("is_vat_exempt"), value=pl.lit("no")),
            pl.struct(
                id=c("_meta_base") + 1,
                key=pl.lit("_wc_order_attribution_source_type"),
                value=c("_source_type"),
            ),
        ),
        tax_lines=pl.concat_list(
            pl.struct(
                id=c("_item_base") + c("n_lines") + 2,
                rate_code=pl.lit("US-") + c("region") + pl.lit("-STATE TAX-1"),
                rate_id=c("_tax_rate_id"),
                label=pl.lit("State Tax"),
                compound=pl.lit(False),
                tax_total=money["tax"],
                shipping_tax_total=pl.lit("0.00"),
                meta_data=_empty_list(_META),
            )
        ).list.head((c("tax_cents") > 0).cast(pl.Int64)),
        shipping_lines=pl.concat_list(
            pl.struct(
                id=c("_item_base") + c("n_lines") + 1,
                method_title=title,
                method_id=method,
                instance_id=pl.when(method == "flat_rate")
                .then(pl.lit("3"))
                .when(method == "free_shipping")
                .then(pl.lit("5"))
                .otherwise(pl.lit("7")),
                total=money["shipping"],
                total_tax=pl.lit("0.00"),
                taxes=_empty_list(_TAX),
                meta_data=_empty_list(_META),
            )
        ).list.head(c("has_shipping").cast(pl.Int64)),
        fee_lines=_empty_list({"id": pl.Int64, "name": pl.String, "total": pl.String}),
        coupon_lines=pl.concat_list(
            pl.struct(
                id=c("_item_base") + c("n_lines") + 3,
                code=c("discount_code").fill_null("").str.to_lowercase(),
                discount=money["lines_discount"],
                discount_tax=pl.lit("0"),
                meta_data=_empty_list(_META),
            )
        ).list.head(c("discount_code").is_not_null().cast(pl.Int64)),
        refunds=_empty_list({"id": pl.Int64, "reason": pl.String, "total": pl.String}),
        payment_url=pl.lit(SITE_URL + "/checkout/order-pay/")
        + c("external_order_id")
        + "/?pay_for_order=true&key="
        + c("_order_key"),
        is_editable=c("_status").is_in(["pending", "on-hold"]),
        needs_payment=c("_status") == "pending",
        needs_processing=pl.lit(True),
        date_created_gmt=_stamp("ordered_at", local=False),
        date_modified_gmt=_stamp("_modified_at", local=False),
        date_completed_gmt=_stamp("_completed_at", local=False),
        date_paid_gmt=_stamp("_paid_at", local=False),
        currency_symbol=c("currency").replace_strict(_CURRENCY_SYMBOL),
        _links=pl.struct(
            self=pl.concat_list(pl.struct(href=href + "/" + c("external_order_id"))),
            collection=pl.concat_list(pl.struct(href=href)),
        ),
    )


#: Keys of one order object, in the order a WooCommerce 8 response has them.
WOO_ORDER_KEYS = (
    "id", "parent_id", "status", "currency", "version", "prices_include_tax", "date_created",
    "date_modified", "discount_total", "discount_tax", "shipping_total", "shipping_tax",
    "cart_tax", "total", "total_tax", "customer_id", "order_key", "billing", "shipping",
    "payment_method", "payment_method_title", "transaction_id", "customer_ip_address",
    "customer_user_agent", "created_via", "customer_note", "date_completed", "date_paid",
    "cart_hash", "number", "meta_data", "line_items", "tax_lines", "shipping_lines", "fee_lines",
    "coupon_lines", "refunds", "payment_url", "is_editable", "needs_payment", "needs_processing",
    "date_created_gmt", "date_modified_gmt", "date_completed_gmt", "date_paid_gmt",
    "currency_symbol", "_links",
)  # fmt: skip


def write_woocommerce(
    sim: Simulation, out_dir: Path, rng: np.random.Generator
) -> list[WrittenFile]:
    own = sim.orders.filter(pl.col("channel") == "woocommerce")
    if own.is_empty():
        return []
    own = own.join(_item_keys(own), on="oid")
    objects = _orders(own, rng).join(_line_items(sim, own), on="oid", how="left")
    objects = assign_parts(exported_orders(objects), ["oid"], [True])
    written = []
    for batch, part, parts, chunk in groups(objects):
        # Twice a day the export is pulled: the morning pull is saved as the API's JSON array,
        # the evening pull as JSON Lines (one order object per line).
        lines_format = batch % 2 == 1
        suffix = ".jsonl" if lines_format else ".json"
        name = file_name("woocommerce_orders", sim, batch, part, parts, suffix)
        body = chunk.select(WOO_ORDER_KEYS)
        if lines_format:
            body.write_ndjson(out_dir / name)
        else:
            body.write_json(out_dir / name)
        written.append(
            WrittenFile(
                name=name,
                channel="woocommerce",
                format="woocommerce_jsonl" if lines_format else "woocommerce_json",
                encoding="utf-8",
                orders=body.height,
                lines=int(chunk["n_lines"].sum()),
            )
        )
    return written


def _item_keys(own: pl.DataFrame) -> pl.DataFrame:
    """Order item ids (line items, then shipping, tax and coupon lines) and tax rate ids.

    WooCommerce numbers all order items from one sequence, so each order takes a block.
    """
    item_base = 100 + np.concatenate([[0], np.cumsum(own["n_lines"].to_numpy() + 3)[:-1]])
    rate_ids = {s: 10 + k for k, s in enumerate(sorted(own["region"].unique().to_list()))}
    return own.select(
        "oid",
        _item_base=pl.Series(item_base),
        _tax_rate_id=pl.col("region").replace_strict(rate_ids),
    )
