"""A straightforward pandas baseline of intake + allocation, for the end-to-end benchmark.

Issue 14: "a straightforward pandas implementation of intake + allocation for comparison". This
is what a competent analyst would write in pandas in an afternoon: correct enough that the
comparison is fair, not optimised. It reads a folder made by ``pipelines.lib.generator`` and

1. **Intake**: reads every channel export (Shopify CSV, WooCommerce JSON / JSON Lines, Amazon
   All Orders and New Orders TSV in UTF-8 or Windows-1252, direct-order CSV and JSON) with
   ``pd.read_csv`` / ``json.load`` + ``pd.json_normalize`` into an orders and a lines
   DataFrame; ``order_key = "{channel}:{external id}"``; the same order in several files is
   kept once, as the last file (in name order) has it; cancelled orders are dropped. Service
   levels, cancellation and "already fulfilled by the channel" follow the adapters' tables
   (``pipelines/lib/channels/*.py``).
2. **Stock**: on hand per (warehouse, sku) from the stock files in the folder (snapshot /
   counts set it, receipts and adjustments add, in time order); ATP = on_hand − safety_stock
   (``stock_policy.csv``) floored at 0.
3. **Ship-to points**: ZIP centroid (``zipcodes.matching``), else the US state's centroid (mean
   of its ZIP centroids), else the country centroid (``countries.csv``), as ``pipelines/lib/
   geo.py`` does; no point → every warehouse equally far.
4. **Allocation** by DESIGN.md's rules in a plain Python loop over orders, ATP in a dict keyed
   by (warehouse_id, sku): nearest single warehouse that covers the order, else greedy split
   over at most ``max_splits`` warehouses, the rest backordered; ``ship_complete`` orders
   whole or nothing.

What it does NOT do, and the real pipeline does (read the time ratio with this in mind):

- no validation of any kind: no rejected or quarantined files with reasons, no checks of
  money, timestamps, field counts, required columns or conflicting duplicates inside a file,
  no quality results; orders the real pipeline would hold (unknown SKU, bad postal code,
  unpaid, suspected duplicate, zero quantity) are allocated here as they are;
- no holds or hold decisions, no order status lifecycle, no ``order_events``;
- no persistence: nothing written to DuckDB, no transactions, no upsert against stored state,
  no re-brokering of earlier backorders, no committed stock, no backorder promised dates,
  no inventory ledger, positions or reorder report;
- no lineage (source_file / source_row / run_id), no file registry or hashing, no archive /
  rejected folders, no e-mail attachments, no privacy keys or erasure handling;
- no money columns at all (prices, totals, discounts, taxes, currency), no addresses beyond
  what the ship-to point needs, no customer fields;
- layouts are picked by file name, not sniffed from content; only what the generator writes
  is handled (e.g. WooCommerce fee lines and Airbyte records are skipped).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import re
import time
from pathlib import Path

import pandas as pd
import zipcodes

from pipelines.lib.channels.amazon import SHIP_SERVICE_LEVELS
from pipelines.lib.channels.common import SHIPPING_METHOD_KEYWORDS
from pipelines.lib.channels.direct import SERVICE_LEVELS as DIRECT_SERVICE_LEVELS

# The oracle's plain-Python distance (the engine's operation order, so ties break the same).
from tests.unit.allocation.oracle import haversine_km

SERVICE_RANK = {"overnight": 0, "expedited": 1, "standard": 2}

# --- vocabularies: the channel adapters' own (the words are data, not the implementation) ---

METHOD_PATTERNS = {
    level: re.compile(
        r"(?i)(?:^|[^0-9a-z])(?:" + "|".join(re.escape(w) for w in words) + r")(?:$|[^0-9a-z])"
    )
    for level, words in SHIPPING_METHOD_KEYWORDS.items()
}
DIRECT_CHANNELS = {"phone": "phone", "telephone": "phone", "email": "email", "e-mail": "email"}
TRUE_WORDS = {"true", "yes", "y", "1"}
WOO_CANCELLED = {"cancelled", "refunded", "trash"}
AMAZON_SHIPPED = {"shipped", "invoiceunconfirmed"}

ORDER_COLUMNS = [
    "order_key",
    "channel",
    "ordered_at",
    "service_level",
    "ship_by",
    "ship_postal_code",
    "ship_country",
    "ship_region",
    "cancelled",
    "fulfilled_by_channel",
    "ship_complete",
]
LINE_COLUMNS = ["order_key", "line_no", "sku", "quantity", "requires_shipping"]


def method_level(text) -> str:
    text = text if isinstance(text, str) else ""
    for level, pattern in METHOD_PATTERNS.items():
        if pattern.search(text):
            return level
    return "standard"


def amazon_level(text) -> str:
    text = text.strip().lower() if isinstance(text, str) else ""
    if text in SHIP_SERVICE_LEVELS:
        return SHIP_SERVICE_LEVELS[text]
    word = re.match(r"^([a-z]+)", text)
    return SHIP_SERVICE_LEVELS.get(word.group(1), "standard") if word else "standard"


def is_true(value) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in TRUE_WORDS


def blank_to_none(df: pd.DataFrame) -> pd.DataFrame:
    return df.replace({"": None})


def read_text(path: Path) -> str:
    """UTF-8 (BOM dropped), else Windows-1252, like the adapters' decode_text."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="mixed", errors="coerce")


def postal(values: pd.Series) -> pd.Series:
    return values.str.strip().str.lstrip("'")


# --- intake, one reader per layout ------------------------------------------------------------


def read_shopify(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_csv(io.StringIO(read_text(path)), dtype=str, keep_default_na=False)
    df = blank_to_none(df)
    # One row per line item; order fields only on the order's first row.
    df["line_no"] = df.groupby("Name", sort=False).cumcount() + 1
    first = df[df["line_no"] == 1].copy()
    first["external_id"] = first["Id"].fillna(first["Name"].str.strip().str.lstrip("#"))
    first["order_key"] = "shopify:" + first["external_id"].str.strip()
    df = df.merge(first[["Name", "order_key"]], on="Name", how="left")

    ship_given = (
        first[
            [
                "Shipping Address1",
                "Shipping Street",
                "Shipping City",
                "Shipping Zip",
                "Shipping Country",
            ]
        ]
        .notna()
        .any(axis=1)
    )
    orders = pd.DataFrame(
        {
            "order_key": first["order_key"],
            "channel": "shopify",
            "ordered_at": utc(first["Created at"]),
            "service_level": first["Shipping Method"].map(method_level),
            "ship_by": pd.NaT,
            "ship_postal_code": postal(
                first["Shipping Zip"].where(ship_given, first["Billing Zip"])
            ),
            "ship_country": first["Shipping Country"]
            .where(ship_given, first["Billing Country"])
            .str.strip()
            .str.upper(),
            "ship_region": first["Shipping Province"].where(ship_given, first["Billing Province"]),
            "cancelled": first["Cancelled at"].notna(),
            "fulfilled_by_channel": first["Fulfillment Status"].str.strip().str.lower()
            == "fulfilled",
            "ship_complete": False,
        }
    )
    lines = pd.DataFrame(
        {
            "order_key": df["order_key"],
            "line_no": df["line_no"],
            "sku": df["Lineitem sku"],
            "quantity": pd.to_numeric(df["Lineitem quantity"], errors="coerce"),
            "requires_shipping": df["Lineitem requires shipping"].fillna("true").map(is_true),
        }
    )
    return orders, lines


def read_woocommerce(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    text = read_text(path)
    if path.suffix == ".jsonl":
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        records = json.loads(text)
        records = records if isinstance(records, list) else [records]
    # Identical copies of one order inside a file: read once.
    seen = set()
    unique = []
    for r in records:
        if r["id"] not in seen:
            seen.add(r["id"])
            unique.append(r)
    o = pd.json_normalize(unique, max_level=1)

    def methods(shipping_lines) -> str:
        return " | ".join(
            " ".join(str(x) for x in (s.get("method_id"), s.get("method_title")) if x)
            for s in shipping_lines or []
        )

    def address(field: str) -> pd.Series:
        shipping = o.get(f"shipping.{field}", pd.Series(None, index=o.index)).replace("", None)
        billing = o.get(f"billing.{field}", pd.Series(None, index=o.index)).replace("", None)
        return shipping.fillna(billing)

    created = o["date_created_gmt"].fillna(o["date_created"])
    status = o["status"].str.strip().str.lower()
    orders = pd.DataFrame(
        {
            "order_key": "woocommerce:" + o["id"].astype(str),
            "channel": "woocommerce",
            "ordered_at": utc(created),
            "service_level": o["shipping_lines"].map(methods).map(method_level),
            "ship_by": pd.NaT,
            "ship_postal_code": postal(address("postcode")),
            "ship_country": address("country").str.upper(),
            "ship_region": address("state"),
            "cancelled": status.isin(WOO_CANCELLED),
            "fulfilled_by_channel": status == "completed",
            "ship_complete": False,
        }
    )
    items = pd.json_normalize(unique, record_path="line_items", meta="id", meta_prefix="order.")
    lines = pd.DataFrame(
        {
            "order_key": "woocommerce:" + items["order.id"].astype(str),
            "line_no": items.groupby("order.id", sort=False).cumcount() + 1,
            "sku": items["sku"].replace("", None),
            "quantity": pd.to_numeric(items["quantity"], errors="coerce"),
            "requires_shipping": True,
        }
    )
    return orders, lines


def read_amazon(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.read_csv(
        io.StringIO(read_text(path)),
        sep="\t",
        quoting=csv.QUOTE_NONE,
        dtype=str,
        keep_default_na=False,
    )
    df.columns = [c.strip().lower() for c in df.columns]
    df = blank_to_none(df)
    id_col = "amazon-order-id" if "amazon-order-id" in df.columns else "order-id"
    qty_col = "quantity" if "quantity" in df.columns else "quantity-purchased"
    df["order_key"] = "amazon:" + df[id_col].str.strip()
    df["line_no"] = df.groupby("order_key", sort=False).cumcount() + 1
    n = len(df)
    order_status = df.get("order-status", pd.Series([None] * n)).str.strip().str.lower()
    item_status = df.get("item-status", pd.Series([None] * n)).str.strip().str.lower()
    df["_item_cancelled"] = item_status.isin(["cancelled", "canceled"])
    df["_item_done"] = item_status.isna() | item_status.isin(["shipped", "cancelled", "canceled"])
    df["_order_cancelled"] = order_status.isin(["cancelled", "canceled"])
    df["_order_shipped"] = order_status.isin(AMAZON_SHIPPED)
    per_order = df.groupby("order_key", sort=False).agg(
        all_items_cancelled=("_item_cancelled", "all"),
        any_item_kept=("_item_cancelled", lambda s: not s.all()),
        items_done=("_item_done", "all"),
    )
    first = df[df["line_no"] == 1].join(per_order, on="order_key")
    channel = df.get("fulfillment-channel", pd.Series([None] * n)).str.strip().str.lower()
    orders = pd.DataFrame(
        {
            "order_key": first["order_key"],
            "channel": "amazon",
            "ordered_at": utc(first["purchase-date"]),
            "service_level": first["ship-service-level"].map(amazon_level),
            "ship_by": utc(first["promise-date"]) if "promise-date" in first else pd.NaT,
            "ship_postal_code": postal(first["ship-postal-code"]),
            "ship_country": first["ship-country"].str.upper(),
            "ship_region": first["ship-state"],
            "cancelled": (first["_order_cancelled"] | first["all_items_cancelled"]),
            "fulfilled_by_channel": (
                first["_order_shipped"] & first["items_done"] & first["any_item_kept"]
            ),
            "ship_complete": False,
        }
    )
    lines = pd.DataFrame(
        {
            "order_key": df["order_key"],
            "line_no": df["line_no"],
            "sku": df["sku"],
            "quantity": pd.to_numeric(df[qty_col], errors="coerce"),
            # Amazon-fulfilled (FBA) lines ship from Amazon's stock, not ours.
            "requires_shipping": ~channel.isin(["amazon", "afn"]),
        }
    )
    return orders, lines


def _direct_frames(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders and lines from one row per line with the order fields repeated (first row wins)."""
    channel = rows["channel"].fillna("").str.strip().str.lower()
    rows["order_key"] = (
        channel.map(DIRECT_CHANNELS).where(channel != "", "phone")
        + ":"
        + rows["order_id"].astype(str).str.strip()
    )
    first = rows.drop_duplicates("order_key", keep="first")
    ship_by = first["ship_by"].fillna("").astype(str).str.strip()
    date_only = ship_by.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    ship_by = ship_by.where(~date_only, ship_by + "T23:59:59Z")  # a date alone: end of day
    level = first["service_level"].fillna("").astype(str).str.strip().str.lower()
    orders = pd.DataFrame(
        {
            "order_key": first["order_key"],
            "channel": first["order_key"].str.split(":").str[0],
            "ordered_at": utc(first["ordered_at"]),
            "service_level": level.map(DIRECT_SERVICE_LEVELS).fillna("standard"),
            "ship_by": utc(ship_by.replace("", None)),
            "ship_postal_code": postal(first["ship_postal_code"].astype("string")),
            "ship_country": first["ship_country"].str.strip().str.upper(),
            "ship_region": first["ship_region"],
            "cancelled": False,
            "fulfilled_by_channel": False,
            "ship_complete": first["ship_complete"].map(is_true),
        }
    )
    line_no = pd.to_numeric(rows["line_no"], errors="coerce")
    position = rows.groupby("order_key", sort=False).cumcount() + 1
    lines = pd.DataFrame(
        {
            "order_key": rows["order_key"],
            "line_no": line_no.fillna(position).astype(int),
            "sku": rows["sku"].astype("string").str.strip(),
            "quantity": pd.to_numeric(rows["quantity"], errors="coerce"),
            "requires_shipping": True,
        }
    )
    return orders, lines


def read_direct_csv(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = pd.read_csv(io.StringIO(read_text(path)), dtype=str, keep_default_na=False)
    rows.columns = [c.strip().lower() for c in rows.columns]
    rows = blank_to_none(rows)
    for column in ("channel", "ship_by", "service_level", "ship_complete", "line_no"):
        if column not in rows.columns:
            rows[column] = None
    return _direct_frames(rows)


def read_direct_json(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    doc = json.loads(read_text(path))
    orders = doc["orders"] if isinstance(doc, dict) and "orders" in doc else doc
    orders = orders if isinstance(orders, list) else [orders]
    meta = ["order_id", "channel", "ordered_at", "service_level", "ship_by", "ship_complete"]
    meta += ["ship_postal_code", "ship_country", "ship_region"]
    for order in orders:  # json_normalize needs every meta key present
        for key in meta:
            order.setdefault(key, None)
    rows = pd.json_normalize(orders, record_path="lines", meta=meta, errors="ignore")
    if "line_no" not in rows.columns:
        rows["line_no"] = None
    return _direct_frames(rows)


READERS = [
    ("shopify_orders_export_*.csv", read_shopify),
    ("woocommerce_orders_*.json", read_woocommerce),
    ("woocommerce_orders_*.jsonl", read_woocommerce),
    ("amazon_all_orders_*.txt", read_amazon),
    ("amazon_new_orders_*.txt", read_amazon),
    ("direct_orders_*.csv", read_direct_csv),
    ("direct_orders_*.json", read_direct_json),
]


def intake(source: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(orders, lines) of every export in ``source``: latest version of each order, cancelled
    orders dropped."""
    files = []
    for pattern, reader in READERS:
        files += [(p, reader) for p in source.glob(pattern) if not p.name.startswith("_")]
    files.sort(key=lambda item: item[0].name)
    all_orders, all_lines = [], []
    for index, (path, reader) in enumerate(files):
        orders, lines = reader(path)
        all_orders.append(orders[ORDER_COLUMNS].assign(file_index=index))
        all_lines.append(lines[LINE_COLUMNS].assign(file_index=index))
    orders = pd.concat(all_orders, ignore_index=True)
    lines = pd.concat(all_lines, ignore_index=True)
    for column in ("ordered_at", "ship_by"):
        orders[column] = pd.to_datetime(orders[column], utc=True)

    # The same order in several files: the last file's version wins, lines included.
    orders = orders.sort_values("file_index", kind="stable")
    orders = orders.drop_duplicates("order_key", keep="last")
    lines = lines.merge(orders[["order_key", "file_index"]], on=["order_key", "file_index"])
    orders = orders[~orders["cancelled"]].drop(columns="file_index")
    lines = lines[lines["order_key"].isin(orders["order_key"])].drop(columns="file_index")
    return orders.reset_index(drop=True), lines.reset_index(drop=True)


# --- stock ------------------------------------------------------------------------------------


def read_atp(source: Path, reference_dir: Path) -> dict[tuple[str, str], int]:
    """ATP per (warehouse_id, sku) from the stock files in ``source`` and the stock policy."""
    events = []
    for path in sorted(source.glob("*.csv")):
        if path.name.startswith("_"):
            continue
        header = set(pd.read_csv(path, nrows=0).columns)
        if {"warehouse_id", "sku", "on_hand", "counted_at"} <= header:
            df = pd.read_csv(path, dtype={"warehouse_id": str, "sku": str})
            events.append(df.assign(at=utc(df["counted_at"]), kind="count", units=df["on_hand"]))
        elif {"warehouse_id", "sku", "quantity", "received_at"} <= header:
            df = pd.read_csv(path, dtype={"warehouse_id": str, "sku": str})
            events.append(df.assign(at=utc(df["received_at"]), kind="add", units=df["quantity"]))
        elif {"warehouse_id", "sku", "quantity", "adjusted_at"} <= header:
            df = pd.read_csv(path, dtype={"warehouse_id": str, "sku": str})
            events.append(df.assign(at=utc(df["adjusted_at"]), kind="add", units=df["quantity"]))
    on_hand: dict[tuple[str, str], int] = {}
    if events:
        moves = pd.concat([e[["warehouse_id", "sku", "at", "kind", "units"]] for e in events])
        moves = moves.sort_values("at", kind="stable")
        for row in moves.itertuples(index=False):  # a count sets the figure, the rest add
            key = (row.warehouse_id, row.sku)
            if row.kind == "count":
                on_hand[key] = int(row.units)
            else:
                on_hand[key] = on_hand.get(key, 0) + int(row.units)

    stock = pd.Series(on_hand, dtype="int64")
    stock.index.names = ["warehouse_id", "sku"]
    stock = stock.rename("on_hand").reset_index()
    policy_path = reference_dir / "stock_policy.csv"
    policy = pd.read_csv(policy_path, dtype={"warehouse_id": str, "sku": str})
    if "safety_stock" in policy.columns:
        stock = stock.merge(
            policy[["warehouse_id", "sku", "safety_stock"]], on=["warehouse_id", "sku"], how="left"
        )
        stock["safety_stock"] = stock["safety_stock"].fillna(0)
    else:
        stock["safety_stock"] = 0
    stock["atp"] = (stock["on_hand"] - stock["safety_stock"]).clip(lower=0).astype(int)
    return {
        (w, s): a for w, s, a in zip(stock["warehouse_id"], stock["sku"], stock["atp"], strict=True)
    }


# --- ship-to points ---------------------------------------------------------------------------


def ship_points(orders: pd.DataFrame, reference_dir: Path) -> pd.DataFrame:
    """``orders`` with ship_lat / ship_lon: ZIP centroid, else state centroid (US), else the
    country's centroid; NaN when none is known."""
    every = pd.DataFrame(zipcodes.list_all())
    every = every[every["zip_code_type"] != "MILITARY"]
    every["lat"] = every["lat"].astype(float)
    every["long"] = every["long"].astype(float)
    states = every.groupby("state")[["lat", "long"]].mean()
    countries = pd.read_csv(reference_dir / "countries.csv", keep_default_na=False)
    countries = countries.set_index("country")[["lat", "lon"]]

    zip_cache: dict[str, tuple[float, float] | None] = {}

    def zip_point(code: str) -> tuple[float, float] | None:
        if code not in zip_cache:
            found = [z for z in zipcodes.matching(code) if z["zip_code_type"] != "MILITARY"]
            zip_cache[code] = (float(found[0]["lat"]), float(found[0]["long"])) if found else None
        return zip_cache[code]

    lats, lons = [], []
    zip_re = re.compile(r"^(\d{5})(?:-\d{4})?$")
    for row in orders[["ship_country", "ship_region", "ship_postal_code"]].itertuples(index=False):
        country = row.ship_country.strip().upper() if isinstance(row.ship_country, str) else None
        point = None
        if country == "US":
            code = row.ship_postal_code.strip() if isinstance(row.ship_postal_code, str) else ""
            match = zip_re.match(code)
            if match:
                point = zip_point(match.group(1))
            state = row.ship_region.strip().upper() if isinstance(row.ship_region, str) else None
            if point is None and state in states.index:
                point = (states.at[state, "lat"], states.at[state, "long"])
        if point is None and country in countries.index:
            point = (float(countries.at[country, "lat"]), float(countries.at[country, "lon"]))
        lats.append(point[0] if point else math.nan)
        lons.append(point[1] if point else math.nan)
    return orders.assign(ship_lat=lats, ship_lon=lons)


# --- allocation -------------------------------------------------------------------------------


def allocate(
    orders: pd.DataFrame,
    lines: pd.DataFrame,
    atp: dict[tuple[str, str], int],
    warehouses: pd.DataFrame,
    max_splits: int = 3,
) -> tuple[list[tuple], list[tuple]]:
    """DESIGN.md's allocation rules; ``atp`` is reduced in place.

    Returns (allocations as (order_key, line_no, warehouse_id, units, rule), backorders as
    (order_key, line_no, units)).
    """
    open_lines = lines[
        lines["requires_shipping"].astype(bool)
        & lines["sku"].notna()
        & lines["quantity"].notna()
        & (lines["quantity"] > 0)
    ]
    shippable = orders[~orders["fulfilled_by_channel"].astype(bool)]
    shippable = shippable[shippable["order_key"].isin(open_lines["order_key"])].copy()

    # Priority: service level, ship_by (nulls last), ordered_at (nulls last), order_key.
    shippable["service_rank"] = shippable["service_level"].map(SERVICE_RANK).fillna(2)
    shippable = shippable.sort_values(
        ["service_rank", "ship_by", "ordered_at", "order_key"], na_position="last", kind="stable"
    )
    by_order = {
        key: list(group[["line_no", "sku", "quantity"]].itertuples(index=False, name=None))
        for key, group in open_lines.sort_values(["order_key", "line_no"]).groupby("order_key")
    }
    places = [
        (w, float(lat), float(lon))
        for w, lat, lon in sorted(
            zip(warehouses["warehouse_id"], warehouses["lat"], warehouses["lon"], strict=True)
        )
    ]

    allocations: list[tuple] = []
    backorders: list[tuple] = []
    for order in shippable.itertuples(index=False):
        order_lines = by_order[order.order_key]
        if math.isnan(order.ship_lat) or math.isnan(order.ship_lon):
            ranked = [w for w, _, _ in places]  # no point: every warehouse equally far
        else:
            distance = {
                w: haversine_km(order.ship_lat, order.ship_lon, lat, lon) for w, lat, lon in places
            }
            ranked = sorted(distance, key=lambda w: (distance[w], w))
        demand: dict[str, int] = {}
        for _, sku, quantity in order_lines:
            demand[sku] = demand.get(sku, 0) + int(quantity)
        left = {line_no: int(quantity) for line_no, _, quantity in order_lines}

        single = next(
            (
                w
                for w in ranked
                if all(atp.get((w, sku), 0) >= units for sku, units in demand.items())
            ),
            None,
        )
        if single is not None:
            for line_no, sku, quantity in order_lines:
                atp[(single, sku)] -= int(quantity)
                allocations.append((order.order_key, line_no, single, int(quantity), "single"))
                left[line_no] = 0
        elif not order.ship_complete:
            used = 0
            while used < max_splits and sum(left.values()) > 0:
                remaining: dict[str, int] = {}
                for line_no, sku, _ in order_lines:
                    remaining[sku] = remaining.get(sku, 0) + left[line_no]
                best, best_cover = None, 0
                for w in ranked:  # nearest first: a tie keeps the nearer warehouse
                    cover = sum(
                        min(units, atp.get((w, sku), 0)) for sku, units in remaining.items()
                    )
                    if cover > best_cover:
                        best, best_cover = w, cover
                if best is None:
                    break
                for line_no, sku, _ in order_lines:  # lines take stock in line_no order
                    take = min(left[line_no], atp.get((best, sku), 0))
                    if take > 0:
                        atp[(best, sku)] -= take
                        left[line_no] -= take
                        allocations.append((order.order_key, line_no, best, take, "split"))
                used += 1
        for line_no, _, _ in order_lines:
            if left[line_no] > 0:
                backorders.append((order.order_key, line_no, left[line_no]))
    return allocations, backorders


# --- the benchmark entry point ----------------------------------------------------------------


def run(source: Path, reference_dir: Path, max_splits: int = 3) -> dict:
    source, reference_dir = Path(source), Path(reference_dir)
    started = time.perf_counter()
    orders, lines = intake(source)
    intake_seconds = time.perf_counter() - started

    started = time.perf_counter()
    atp = read_atp(source, reference_dir)
    warehouses = pd.read_csv(reference_dir / "warehouses.csv", dtype={"warehouse_id": str})
    orders = ship_points(orders, reference_dir)
    allocations, backorders = allocate(orders, lines, atp, warehouses, max_splits)
    allocation_seconds = time.perf_counter() - started

    allocated = pd.DataFrame(
        allocations, columns=["order_key", "line_no", "warehouse_id", "units", "rule"]
    )
    backordered = pd.DataFrame(backorders, columns=["order_key", "line_no", "units"])
    rules = allocated.groupby("order_key")["rule"].first()
    units_allocated = int(allocated["units"].sum())
    units_backordered = int(backordered["units"].sum())
    return {
        "intake_seconds": round(intake_seconds, 3),
        "allocation_seconds": round(allocation_seconds, 3),
        "orders": len(orders),
        "lines": len(lines),
        "units_demanded": units_allocated + units_backordered,
        "units_allocated": units_allocated,
        "units_backordered": units_backordered,
        "orders_single": int((rules == "single").sum()),
        "orders_split": int((rules == "split").sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="folder made by pipelines.lib.generator")
    parser.add_argument(
        "--reference", type=Path, default=Path(__file__).resolve().parents[1] / "data/reference"
    )
    parser.add_argument("--max-splits", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run(args.source, args.reference, args.max_splits), indent=2))


if __name__ == "__main__":
    main()
