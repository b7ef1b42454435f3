"""Simulated demand: who ordered what, when, through which channel, and for how much.

Everything is built column-wise with numpy and Polars. Money is integer cents in the order's
currency. The money relations every channel writer relies on (and the tests check):

* line: ``line_total = quantity * unit - line_discount``
* order: ``subtotal = sum(line_total)`` and
  ``order_total = subtotal + shipping + tax - order_discount``.
  Coupons on Shopify and WooCommerce are allocated to lines (``line_discount``), as those
  platforms do, so their ``order_discount`` is 0; direct orders carry an order-level discount.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from pipelines.lib.generator.money import round_half_up
from pipelines.lib.generator.people import make_customers
from pipelines.lib.generator.reference import Reference
from pipelines.lib.generator.vocab import (
    AMAZON_DELIVERY_INSTRUCTIONS,
    DIRECT_NOTES,
    SHOPIFY_NOTES,
    US_STATES,
)

CHANNEL_SHARE = {"shopify": 0.40, "amazon": 0.30, "woocommerce": 0.20, "phone": 0.06, "email": 0.04}
LINES_PER_ORDER = (1, 2, 3, 4, 5, 6)
LINES_PER_ORDER_P = (0.32, 0.29, 0.20, 0.10, 0.05, 0.04)
QUANTITIES = (1, 2, 3, 4, 5, 6, 8, 10)
QUANTITY_P = (0.62, 0.22, 0.09, 0.03, 0.02, 0.01, 0.005, 0.005)
SERVICE_LEVELS = ("standard", "expedited", "overnight")
SERVICE_LEVEL_P = (0.80, 0.15, 0.05)
#: Exports are pulled twice a day: batch k covers [start + 12h*k, start + 12h*(k+1)).
BATCH_HOURS = 12

DEFECT_KINDS = (
    "bad_postal_code",
    "unknown_sku",
    "zero_quantity",
    "unpaid",
    "duplicate_order",
    "re_export",
)
DEFECT_WEIGHTS = (0.20, 0.20, 0.15, 0.20, 0.15, 0.10)

LOCAL_CURRENCY = {"CA": "CAD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "AU": "AUD", "JP": "JPY"}
#: Coupon codes by percentage: index (pct // 5 - 2) is 10%, 15%, 20%; +3 an alternative.
DISCOUNT_CODES = ("WELCOME10", "SPRING15", "VIP20", "SAVE10", "FRIENDS15", "VIP20")

# Order-hour profile (shop-local Eastern time), evenings busiest.
_HOUR_WEIGHTS = np.array(
    [2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 7, 6, 6, 6, 7, 8, 9, 9, 8, 6, 4], dtype=float
)


def reference_end(seed: int) -> dt.datetime:
    """The default end of the order window: fixed per seed (never the wall clock)."""
    return dt.datetime(2026, 10, 5, tzinfo=dt.UTC) + dt.timedelta(days=seed % 35)


@dataclass
class Simulation:
    orders: pl.DataFrame
    lines: pl.DataFrame
    start: dt.datetime
    end: dt.datetime
    n_batches: int
    defects: dict[str, list[dict]] = field(default_factory=dict)
    #: hours of orders per export file (each channel exports once per window)
    batch_hours: int = BATCH_HOURS


def _text(values: np.ndarray) -> pl.Series:
    """A String series from a numpy object array (None stays null)."""
    return pl.Series(values.tolist(), dtype=pl.String)


def _us(t: dt.datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def simulate(
    ref: Reference,
    *,
    orders: int | None,
    lines: int | None,
    seed: int,
    days: int,
    defect_rate: float,
    end: dt.datetime,
    batch_hours: int = BATCH_HOURS,
) -> Simulation:
    ss = np.random.SeedSequence(seed)
    rng_shape, rng_people, rng_items, rng_defects, rng_money, rng_misc = (
        np.random.default_rng(s) for s in ss.spawn(6)
    )
    start = end - dt.timedelta(days=days)
    span_us = _us(end) - _us(start)
    n_batches = max(1, -(-days * 24 // batch_hours))

    # --- shape: how many orders, how many lines each --------------------------------------
    counts = _line_counts(rng_shape, orders, lines)
    n = len(counts)

    hour_p = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()
    day = rng_shape.integers(0, max(days, 1), n)
    et_hour = rng_shape.choice(24, n, p=hour_p)
    offset = (day * 86_400 + ((et_hour + 5) % 24) * 3_600 + rng_shape.integers(0, 3_600, n)) * (
        1_000_000
    ) + rng_shape.integers(0, 1_000_000, n)
    offset = np.minimum(offset, span_us - 1)
    times = _us(start) + np.sort(offset)
    times = times - times % 1_000_000  # channels export whole seconds

    channels = np.array(list(CHANNEL_SHARE))
    channel = channels[rng_shape.choice(len(channels), n, p=list(CHANNEL_SHARE.values()))]

    # --- people ------------------------------------------------------------------------------
    pool = max(20, min(int(n * 0.7), 250_000))
    customers = make_customers(rng_people, pool)
    cust = rng_people.integers(0, pool, n)
    level = np.array(SERVICE_LEVELS)[rng_people.choice(3, n, p=SERVICE_LEVEL_P)]
    coupon = rng_people.random(n) < 0.12
    coupon_pct = np.array([10, 15, 20])[rng_people.integers(0, 3, n)]

    # --- items ------------------------------------------------------------------------------
    products = ref.products
    catalogue = products.filter(pl.col("active"))
    n_products = catalogue.height
    # Popularity: a Zipf-like curve over a seeded shuffle of the active catalogue; digital
    # goods are rare add-ons.
    rank_of = rng_items.permutation(n_products)
    weight = 1.0 / (rank_of + 3.0) ** 1.07
    weight = np.where(catalogue["requires_shipping"].to_numpy(), weight, weight / 25)
    weight /= weight.sum()
    n_lines = int(counts.sum())
    line_order = np.repeat(np.arange(n), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    line_no = np.arange(n_lines) - np.repeat(starts, counts) + 1
    item = rng_items.choice(n_products, n_lines, p=weight)
    for _ in range(4):  # avoid the same SKU twice in one order
        key = line_order.astype(np.int64) * n_products + item
        order_by_key = np.argsort(key, kind="stable")
        sorted_key = key[order_by_key]
        dup = np.zeros(n_lines, dtype=bool)
        dup[order_by_key[1:]] = sorted_key[1:] == sorted_key[:-1]
        if not dup.any():
            break
        item[dup] = rng_items.integers(0, n_products, int(dup.sum()))
    qty = np.array(QUANTITIES)[rng_items.choice(len(QUANTITIES), n_lines, p=QUANTITY_P)]
    single = ~catalogue["requires_shipping"].to_numpy() | (
        catalogue["unit_weight_g"].to_numpy() > 8_000
    )
    qty = np.where(single[item], 1, qty)

    # --- duplicates: the same customer and items again, minutes later ------------------------
    used = np.zeros(n, dtype=bool)
    defect_budget = _defect_budget(n, defect_rate)
    dup_pairs = _pick_duplicate_pairs(
        rng_defects, channel, counts, defect_budget["duplicate_order"]
    )
    if len(dup_pairs):
        i, j = dup_pairs[:, 0], dup_pairs[:, 1]
        cust[j], level[j], coupon[j], coupon_pct[j] = cust[i], level[i], coupon[i], coupon_pct[i]
        src = np.concatenate([starts[a] + np.arange(counts[a]) for a in i])
        dst = np.concatenate([starts[b] + np.arange(counts[b]) for b in j])
        item[dst], qty[dst] = item[src], qty[src]
        times[j] = times[i] + rng_defects.integers(90, 1_200, len(j)) * 1_000_000
        times[j] = np.minimum(times[j], _us(end) - 1_000_000)
        used[i] = used[j] = True

    # Re-sort by time (duplicates moved) and carry every per-order array along.
    perm = np.argsort(times, kind="stable")
    inverse = np.empty(n, dtype=np.int64)
    inverse[perm] = np.arange(n)
    times, channel, cust, level, coupon, coupon_pct, counts, used = (
        a[perm] for a in (times, channel, cust, level, coupon, coupon_pct, counts, used)
    )
    dup_pairs = inverse[dup_pairs] if len(dup_pairs) else dup_pairs
    line_sort = np.lexsort((line_no, inverse[line_order]))
    line_order = inverse[line_order][line_sort]
    item, qty, line_no = item[line_sort], qty[line_sort], line_no[line_sort]
    ships = catalogue["requires_shipping"].to_numpy()[item]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    batch = np.clip((times - _us(start)) // (batch_hours * 3_600_000_000), 0, n_batches - 1)

    # --- order frame ---------------------------------------------------------------------------
    people = customers[cust]
    country = people["country"].to_numpy()
    level = np.where((country != "US") & (level == "overnight"), "expedited", level)
    ext_id, number = _channel_ids(rng_misc, channel, seed)
    orders_df = pl.DataFrame(
        {
            "oid": np.arange(n),
            "channel": channel,
            "ordered_at_us": times,
            "batch": batch,
            "external_order_id": ext_id,
            "order_number": number,
            "service_level": level,
            "n_lines": counts,
            "customer_no": cust + 1,
        }
    ).with_columns(
        order_key=pl.col("channel") + ":" + pl.col("external_order_id"),
        ordered_at=pl.from_epoch("ordered_at_us", time_unit="us").dt.replace_time_zone("UTC"),
    )
    orders_df = pl.concat([orders_df, people], how="horizontal")
    dup_role = np.full(n, None, dtype=object)
    if len(dup_pairs):
        dup_role[dup_pairs[:, 0]] = "original"
        dup_role[dup_pairs[:, 1]] = "duplicate"
    orders_df = orders_df.with_columns(duplicate_role=_text(dup_role))

    # --- defects and cancellations --------------------------------------------------------------
    defects: dict[str, list[dict]] = {k: [] for k in DEFECT_KINDS}
    keys = orders_df["order_key"].to_numpy()
    for i, j in dup_pairs:
        defects["duplicate_order"].append({"order_key": keys[j], "duplicate_of": keys[i]})

    is_amazon = channel == "amazon"
    amazon_listing = is_amazon & (batch % 2 == 1)  # New Orders layout: paid orders only
    step = np.where(is_amazon, 2, 1)
    eligible = {
        "bad_postal_code": country == "US",
        "unknown_sku": np.ones(n, dtype=bool),
        "zero_quantity": np.ones(n, dtype=bool),
        "unpaid": ~amazon_listing,
        "re_export": batch + step < n_batches,
    }
    chosen: dict[str, np.ndarray] = {}
    for kind in ("re_export", "unpaid", "bad_postal_code", "unknown_sku", "zero_quantity"):
        pick = _pick(rng_defects, eligible[kind] & ~used, defect_budget[kind])
        used[pick] = True
        chosen[kind] = pick

    postal = orders_df["postal_code"].to_numpy().astype(object)
    for o in chosen["bad_postal_code"]:
        z = postal[o]
        postal[o] = z[1:] if z.startswith("0") else z[:4]
        defects["bad_postal_code"].append({"order_key": keys[o], "postal_code": postal[o]})

    sku_text = catalogue["sku"].to_numpy().astype(object)[item]
    for o in chosen["unknown_sku"]:
        at = starts[o] + int(rng_defects.integers(0, counts[o]))
        sku_text[at] = f"SKU-{int(rng_defects.integers(60_000, 99_999)):05d}"
        defects["unknown_sku"].append(
            {"order_key": keys[o], "line_no": int(line_no[at]), "sku": sku_text[at]}
        )
    for o in chosen["zero_quantity"]:
        at = starts[o] + int(rng_defects.integers(0, counts[o]))
        qty[at] = 0
        defects["zero_quantity"].append({"order_key": keys[o], "line_no": int(line_no[at])})
    unpaid = np.zeros(n, dtype=bool)
    unpaid[chosen["unpaid"]] = True
    for o in chosen["unpaid"]:
        defects["unpaid"].append({"order_key": keys[o]})
    reexport_batch = np.full(n, -1)
    reexport_batch[chosen["re_export"]] = batch[chosen["re_export"]] + step[chosen["re_export"]]
    for o in chosen["re_export"]:
        defects["re_export"].append(
            {"order_key": keys[o], "batch": int(batch[o]), "again_in_batch": int(reexport_batch[o])}
        )

    # Ordinary (non-defect) variety: cancellations, WooCommerce "completed", notes.
    cancellable = np.isin(channel, ["shopify", "woocommerce"]) | (is_amazon & (batch % 2 == 0))
    cancelled = np.zeros(n, dtype=bool)
    cancelled[_pick(rng_misc, cancellable & ~used, round(n * 0.015))] = True
    completed = np.zeros(n, dtype=bool)
    completed[
        _pick(rng_misc, (channel == "woocommerce") & ~used & ~cancelled, round(n * 0.002))
    ] = True
    batch_end = _us(start) + (batch + 1) * batch_hours * 3_600_000_000
    batch_end = np.minimum(batch_end, _us(end))
    later = times + ((batch_end - times) * rng_misc.uniform(0.1, 0.9, n)).astype(np.int64)
    later = later - later % 1_000_000

    orders_df = orders_df.with_columns(
        postal_code=_text(postal),
        unpaid=unpaid,
        cancelled=cancelled,
        completed=completed,
        reexport_batch=reexport_batch,
        later_at=pl.from_epoch(pl.Series(later), time_unit="us").dt.replace_time_zone("UTC"),
    )
    orders_df = _payment(orders_df, rng_misc)
    orders_df = _notes(orders_df, rng_misc)

    lines_df = pl.DataFrame(
        {
            "oid": line_order,
            "line_no": line_no,
            "sku": _text(sku_text),
            "product_name": catalogue["name"].gather(item),
            "brand": catalogue["brand"].gather(item),
            "asin": catalogue["asin"].gather(item),
            "requires_shipping": ships,
            "quantity": qty,
            "unit_usd_cents": catalogue["unit_cents"].gather(item),
            "unit_weight_g": catalogue["unit_weight_g"].gather(item),
        }
    )
    orders_df, lines_df = _price(orders_df, lines_df, ref, rng_money, coupon, coupon_pct, start)
    return Simulation(
        orders=_force_non_ascii_in_first_listing(orders_df),
        lines=lines_df,
        start=start,
        end=end,
        n_batches=n_batches,
        batch_hours=batch_hours,
        defects=defects,
    )


def _line_counts(rng: np.random.Generator, orders: int | None, lines: int | None) -> np.ndarray:
    if orders is not None:
        return rng.choice(LINES_PER_ORDER, orders, p=LINES_PER_ORDER_P)
    assert lines is not None
    guess = int(lines / 2.39 * 1.1) + 16
    counts = rng.choice(LINES_PER_ORDER, guess, p=LINES_PER_ORDER_P)
    while counts.sum() < lines:
        counts = np.concatenate([counts, rng.choice(LINES_PER_ORDER, guess, p=LINES_PER_ORDER_P)])
    total = np.cumsum(counts)
    n = int(np.searchsorted(total, lines)) + 1
    counts = counts[:n].copy()
    counts[-1] -= int(total[n - 1] - lines)
    return counts


def _defect_budget(n: int, rate: float) -> dict[str, int]:
    """Split ``round(n * rate)`` defects across the kinds (largest remainder, >=1 each if room)."""
    total = round(n * rate)
    if total <= 0:
        return dict.fromkeys(DEFECT_KINDS, 0)
    weights = np.array(DEFECT_WEIGHTS)
    if total >= len(DEFECT_KINDS):
        base = np.ones(len(DEFECT_KINDS), dtype=int)
        share = weights / weights.sum() * (total - len(DEFECT_KINDS))
    else:
        base = np.zeros(len(DEFECT_KINDS), dtype=int)
        share = weights / weights.sum() * total
    floor = np.floor(share).astype(int)
    rest = total - base.sum() - floor.sum()
    order = np.argsort(-(share - floor), kind="stable")
    floor[order[:rest]] += 1
    return dict(zip(DEFECT_KINDS, (base + floor).tolist(), strict=True))


def _pick(rng: np.random.Generator, mask: np.ndarray, k: int) -> np.ndarray:
    candidates = np.flatnonzero(mask)
    k = min(k, len(candidates))
    if k <= 0:
        return np.array([], dtype=np.int64)
    return np.sort(rng.choice(candidates, k, replace=False))


def _pick_duplicate_pairs(
    rng: np.random.Generator, channel: np.ndarray, counts: np.ndarray, k: int
) -> np.ndarray:
    """(original, duplicate) index pairs: neighbours in time with the same channel and size."""
    if k <= 0:
        return np.empty((0, 2), dtype=np.int64)
    frame = pl.DataFrame({"i": np.arange(len(channel)), "channel": channel, "n": counts})
    pairs = (
        frame.with_columns(
            rank=pl.int_range(pl.len()).over("channel", "n"),
            j=pl.col("i").shift(-1).over("channel", "n"),
        )
        .filter((pl.col("rank") % 2 == 0) & pl.col("j").is_not_null())
        .select("i", "j")
        .to_numpy()
    )
    if len(pairs) == 0:
        return np.empty((0, 2), dtype=np.int64)
    take = rng.choice(len(pairs), min(k, len(pairs)), replace=False)
    return pairs[np.sort(take)].astype(np.int64)


def _channel_ids(
    rng: np.random.Generator, channel: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """External ids and customer-facing numbers per channel, increasing with time."""
    n = len(channel)
    ext = np.empty(n, dtype=object)
    number = np.empty(n, dtype=object)

    rows = np.flatnonzero(channel == "shopify")
    if len(rows):
        first = 1001 + (seed % 90) * 100
        ids = 6_798_481_000_000 + np.cumsum(rng.integers(20_000, 90_000, len(rows)))
        ext[rows] = ids.astype(str).astype(object)
        number[rows] = np.char.add("#", (first + np.arange(len(rows))).astype(str))

    rows = np.flatnonzero(channel == "woocommerce")
    if len(rows):
        ids = 4_000 + (seed % 50) * 100 + np.cumsum(rng.integers(1, 4, len(rows)))
        ext[rows] = ids.astype(str).astype(object)
        number[rows] = ext[rows]

    rows = np.flatnonzero(channel == "amazon")
    if len(rows):
        head = np.array(["111", "112", "113", "114"])[rng.integers(0, 4, len(rows))]
        mid = rng.integers(0, 10_000_000, len(rows))
        tail = (np.arange(len(rows)) * 7_919 + seed * 104_729) % 10_000_000
        ids = [f"{h}-{m:07d}-{t:07d}" for h, m, t in zip(head, mid, tail, strict=True)]
        ext[rows] = ids
        number[rows] = ids

    for chan, prefix in (("phone", "P-"), ("email", "E-")):
        rows = np.flatnonzero(channel == chan)
        if len(rows):
            ids = np.char.add(
                prefix, (100_001 + (seed % 100) * 1000 + np.arange(len(rows))).astype(str)
            )
            ext[rows] = ids
            number[rows] = ids
    return ext.astype(str), number.astype(str)


def _payment(orders: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    n = orders.height
    roll = rng.random(n)
    direct_method = np.array(["card", "on_account", "invoice"])[
        rng.choice(3, n, p=(0.55, 0.3, 0.15))
    ]
    shopify_status = np.where(roll < 0.86, "paid", "authorized")
    direct_status = np.where(
        direct_method == "card", np.where(roll < 0.7, "paid", "authorized"), "on_account"
    )
    channel = orders["channel"].to_numpy()
    status = np.select(
        [channel == "shopify", np.isin(channel, ["phone", "email"])],
        [shopify_status, direct_status],
        "paid",
    )
    unpaid = orders["unpaid"].to_numpy()
    status = np.where(unpaid, "pending", status)
    woo_method = np.where(
        unpaid & (rng.random(n) < 0.4),
        "bacs",
        np.where(rng.random(n) < 0.7, "stripe", "ppcp-gateway"),
    )
    shopify_method = np.array(["Shopify Payments", "PayPal Express Checkout", "Shop Pay"])[
        rng.choice(3, n, p=(0.7, 0.18, 0.12))
    ]
    method = np.select(
        [channel == "shopify", channel == "woocommerce", np.isin(channel, ["phone", "email"])],
        [shopify_method, woo_method, direct_method],
        "Amazon",
    )
    return orders.with_columns(payment_status=pl.Series(status), payment_method=pl.Series(method))


def _notes(orders: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    n = orders.height
    channel = orders["channel"].to_numpy()
    roll = rng.random(n)
    shop_note = np.array(SHOPIFY_NOTES, dtype=object)[rng.integers(0, len(SHOPIFY_NOTES), n)]
    direct_note = np.array(DIRECT_NOTES, dtype=object)[rng.integers(0, len(DIRECT_NOTES), n)]
    amazon_note = np.array(AMAZON_DELIVERY_INSTRUCTIONS, dtype=object)[
        rng.integers(0, len(AMAZON_DELIVERY_INSTRUCTIONS), n)
    ]
    note = np.select(
        [
            np.isin(channel, ["shopify", "woocommerce"]) & (roll < 0.04),
            np.isin(channel, ["phone", "email"]) & (roll < 0.15),
            (channel == "amazon") & (roll < 0.02),
        ],
        [shop_note, direct_note, amazon_note],
        None,
    )
    direct = np.isin(channel, ["phone", "email"])
    day_us = 86_400_000_000
    ordered = orders["ordered_at_us"].to_numpy()
    ship_by = (ordered // day_us + rng.integers(1, 4, n)) * day_us + 22 * 3_600_000_000
    has_ship_by = direct & (rng.random(n) < 0.2)
    return orders.with_columns(
        notes=_text(note),
        ship_complete=pl.Series(direct & (rng.random(n) < 0.10)),
        ship_by=pl.from_epoch(pl.Series(np.where(has_ship_by, ship_by, 0)), time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("ship_by"),
        has_ship_by=pl.Series(has_ship_by),
        is_business=pl.Series((channel == "amazon") & (rng.random(n) < 0.03)),
        woo_local_pickup=pl.Series((channel == "woocommerce") & (rng.random(n) < 0.01)),
    )


def _price(
    orders: pl.DataFrame,
    lines: pl.DataFrame,
    ref: Reference,
    rng: np.random.Generator,
    coupon: np.ndarray,
    coupon_pct: np.ndarray,
    start: dt.datetime,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Currency, discounts, shipping, tax and totals, all in integer cents."""
    n = orders.height
    channel = orders["channel"].to_numpy()
    country = orders["country"].to_numpy()
    level = orders["service_level"].to_numpy()
    oid = lines["oid"].to_numpy()
    is_woo = channel == "woocommerce"
    direct = np.isin(channel, ["phone", "email"])

    # WooCommerce prices international orders in the customer's currency.
    local = pl.Series(country).replace_strict(LOCAL_CURRENCY, default="USD").to_numpy()
    currency = np.where(is_woo, local, "USD")
    per_usd = {c: ref.usd_to(c, start.date()) for c in np.unique(currency)}
    fx = np.array([per_usd[c] for c in currency])
    whole_units = currency == "JPY"

    unit_usd = lines["unit_usd_cents"].to_numpy()
    unit = np.round(unit_usd * fx[oid]).astype(np.int64)
    unit = np.where(whole_units[oid], np.round(unit / 100).astype(np.int64) * 100, unit)
    qty = lines["quantity"].to_numpy()
    gross = unit * qty

    line_coupon = (coupon & np.isin(channel, ["shopify", "woocommerce"]))[oid]
    line_discount = np.where(line_coupon, round_half_up(gross * coupon_pct[oid], 100), 0)
    direct_line_off = direct[oid] & (rng.random(len(oid)) < 0.04)
    line_discount = np.where(direct_line_off, np.minimum(500, gross), line_discount)
    line_total = gross - line_discount

    ships = lines["requires_shipping"].to_numpy()
    state = orders["region"].to_numpy()
    rate = np.array(
        [US_STATES[s][2] if c == "US" else 0 for s, c in zip(state, country, strict=True)]
    )
    tax_blank = (channel == "amazon") & (rng.random(n) < 0.55)
    line_rate = np.where(tax_blank, 0, rate)[oid] * ships
    line_tax = round_half_up(line_total * line_rate, 100_000)

    subtotal = np.bincount(oid, weights=line_total, minlength=n).astype(np.int64)
    has_shipping = np.bincount(oid, weights=ships, minlength=n) > 0

    order_coupon = coupon & direct
    order_discount = np.where(order_coupon, round_half_up(subtotal * coupon_pct, 100), 0)
    domestic = country == "US"
    amazon_level = np.select(
        [
            level == "overnight",
            (level == "expedited") & (rng.random(n) < 0.3),
            level == "expedited",
        ],
        ["NextDay", "SecondDay", "Expedited"],
        "Standard",
    )
    local_pickup = orders["woo_local_pickup"].to_numpy() & domestic & (level == "standard")
    usd_fee = np.select(
        [
            ~has_shipping,
            local_pickup,
            (channel == "amazon") & (amazon_level == "Standard") & (subtotal >= 2500),
            (channel == "amazon") & (amazon_level == "Standard"),
            (channel == "amazon") & (amazon_level == "Expedited"),
            (channel == "amazon") & (amazon_level == "SecondDay"),
            channel == "amazon",
            direct & (level == "standard"),
            direct & (level == "expedited"),
            direct,
            ~domestic & (level == "standard"),
            ~domestic,
            (level == "standard") & (subtotal >= 5000 * fx),
            (level == "standard") & is_woo,
            level == "standard",
            level == "expedited",
        ],
        [0, 0, 0, 499, 999, 1499, 2499, 795, 1995, 3495, 1999, 3999, 0, 695, 599, 1499],
        2999,
    )
    shipping = np.round(usd_fee * fx).astype(np.int64)
    shipping = np.where(whole_units, np.round(shipping / 100).astype(np.int64) * 100, shipping)

    line_tax_sum = np.bincount(oid, weights=line_tax, minlength=n).astype(np.int64)
    tax = np.where(direct, round_half_up((subtotal - order_discount) * rate, 100_000), line_tax_sum)
    total = subtotal + shipping + tax - order_discount
    code = np.where(
        coupon & ~direct & np.isin(channel, ["shopify", "woocommerce"]),
        np.array(DISCOUNT_CODES, dtype=object)[coupon_pct // 5 - 2 + 3 * rng.integers(0, 2, n)],
        None,
    )
    method_title = np.select(
        [
            ~has_shipping,
            local_pickup,
            level == "overnight",
            level == "expedited",
            (level == "standard") & (shipping == 0),
        ],
        ["", "Local pickup", "Overnight", "Express", "Free Shipping"],
        "Standard Shipping",
    )
    compare_at = (np.ceil(unit * 1.25 / 100) * 100 - 1).astype(np.int64)
    lines = lines.with_columns(
        unit_cents=unit,
        compare_at_cents=pl.when(pl.Series(rng.random(len(oid)) < 0.15))
        .then(pl.Series(compare_at))
        .otherwise(None),
        line_discount_cents=line_discount,
        line_total_cents=line_total,
        line_tax_cents=line_tax,
        line_tax_rate=line_rate,
    )
    orders = orders.with_columns(
        currency=pl.Series(currency),
        discount_code=_text(code),
        coupon_pct=pl.Series(np.where(coupon, coupon_pct, 0)),
        subtotal_cents=subtotal,
        lines_discount_cents=np.bincount(oid, weights=line_discount, minlength=n).astype(np.int64),
        order_discount_cents=order_discount,
        shipping_cents=shipping,
        tax_cents=tax,
        tax_rate=rate,
        tax_blank=tax_blank,
        total_cents=total,
        has_shipping=has_shipping,
        amazon_ship_level=amazon_level,
        ship_method=method_title,
        local_pickup=local_pickup,
    )
    return orders, lines


def _force_non_ascii_in_first_listing(orders: pl.DataFrame) -> pl.DataFrame:
    """Give the first Amazon "New Orders" order a non-ASCII buyer name.

    That file is written in cp1252 (as some Seller Central downloads are); an accented name
    makes the encoding observable rather than coincidentally ASCII.
    """
    mask = (pl.col("channel") == "amazon") & (pl.col("batch") == 1)
    first = orders.filter(mask & pl.col("duplicate_role").is_null()).head(1)
    if first.is_empty():
        return orders
    oid = first["oid"][0]
    return orders.with_columns(
        first_name=pl.when(pl.col("oid") == oid).then(pl.lit("Zoë")).otherwise(pl.col("first_name"))
    )
