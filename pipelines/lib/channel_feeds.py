"""Feeds back to the sales channels: shipment confirmations and available-stock feeds, each
in the channel's own import format (docs/channel-feeds.md).

After the manifests close, every parcel that left for an Amazon, Shopify or WooCommerce order
is confirmed to its channel, line by line: one row per (order line, parcel) goes to
``oms.channel_confirmations``, whose key makes a second confirmation of the same units
impossible. Partial shipments confirm only what shipped; the rest follows in a later feed.
Amazon orders read from a report without ``order-item-id`` (All Orders) can only be
confirmed whole: their parcels wait until the whole order has shipped.

The stock feed offers each channel ``max(0, ΣATP - buffer)`` per catalogue SKU, over the
warehouses that serve it (``data/reference/channels.toml``); an incremental feed holds only
the SKUs whose figure differs from what the channel was last told (``oms.channel_stock``);
a full feed (``oms feeds stock --full``) holds every SKU.

Feeds are recorded first (one transaction), then written: each to
``data/outbox/channels/<channel>/<timestamp>/`` with a ``manifest.json`` written last, which
tells a sync job the folder is complete. A crash between the two leaves feeds recorded and
unwritten, and the next run writes them; files are always rendered from the stored rows, so
``oms feeds resend ID`` writes the very same records again into a new folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lib.files import spreadsheet_safe, write_atomically
from pipelines.lib.inventory import derive_positions, stock_policy
from pipelines.lib.order_lookup import tracking_url
from pipelines.lib.reference import read_reference, read_settings
from pipelines.lib.schema import (
    CHANNEL_CONFIRMATIONS,
    CHANNEL_FEEDS,
    CHANNEL_STOCK,
    FEED_CHANNELS,
    ORDER_LINES,
    ORDERS,
    PARCELS,
    PICK_TASKS,
    SHIPMENTS,
)
from pipelines.lib.timing import Laps
from pipelines.lib.warehouse import frame, scalar, transaction

#: Where the feeds go, under the outbox.
FEEDS_DIR = "channels"
MANIFEST = "manifest.json"
#: Order statuses in which every unit we ship has left (the order is fully shipped).
FULLY_SHIPPED = ("shipped", "delivered", "partially_returned", "returned")
#: Amazon's carrier-code values for our carriers; any other carrier is "Other" with its name
#: in carrier-name (Amazon asks for carrier-name only then).
AMAZON_CARRIER_CODES = {"UPS": "UPS", "FedEx": "FedEx", "USPS": "USPS"}
#: WooCommerce Shipment Tracking's provider names for our carriers.
WOOCOMMERCE_PROVIDERS = {"UPS": "UPS", "FedEx": "Fedex", "USPS": "USPS"}
#: The most objects WooCommerce's batch endpoints take in one request.
WOOCOMMERCE_BATCH = 100

#: File names per (channel, kind).
FILES: dict[tuple[str, str], tuple[str, ...]] = {
    ("amazon", "shipment_confirmation"): ("shipping-confirmation.txt",),
    ("amazon", "stock"): ("inventory-loader.txt",),
    ("shopify", "shipment_confirmation"): ("fulfillments.csv", "fulfillments.json"),
    ("shopify", "stock"): ("inventory.csv",),
    ("woocommerce", "shipment_confirmation"): ("orders.json",),
    ("woocommerce", "stock"): ("products-stock.json",),
}

_COMMON = {
    "confirmations": True,
    "stock": True,
    "warehouses": [],
    "safety_margin": 0,
    "reserve_percent": 0,
}
_DEFAULTS: dict[str, dict[str, object]] = {
    "amazon": {**_COMMON, "fulfillment_latency": 2},
    "shopify": {**_COMMON, "location": "OMS Fulfilment Network", "notify_customer": False},
    "woocommerce": dict(_COMMON),
}


@dataclass(frozen=True)
class ChannelSettings:
    channel: str
    confirmations: bool
    stock: bool
    #: Warehouses whose ATP the channel sells; empty means every warehouse.
    warehouses: tuple[str, ...]
    safety_margin: int
    reserve_percent: int
    fulfillment_latency: int = 2
    location: str = ""
    notify_customer: bool = False


def load_settings(reference_dir: Path) -> dict[str, ChannelSettings]:
    """``channels.toml`` per feed channel, checked (a typo must not switch a feed off)."""
    path = reference_dir / "channels.toml"
    raw = read_settings(path, _DEFAULTS)
    known = set(read_reference(reference_dir, "warehouses")["warehouse_id"].to_list())
    out = {}
    for channel, values in raw.items():

        def whole(name: str, most: int | None = None, values=values, channel=channel) -> int:
            value = values[name]
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value < 0
                or (most is not None and value > most)
            ):
                limit = f" and <= {most}" if most is not None else ""
                raise ValueError(
                    f"{path}: {channel}.{name} must be a whole number >= 0{limit}, got {value!r}"
                )
            return value

        for name in ("confirmations", "stock", "notify_customer"):
            if name in values and not isinstance(values[name], bool):
                raise ValueError(f"{path}: {channel}.{name} must be true or false")
        houses = values["warehouses"]
        if not isinstance(houses, list) or not all(isinstance(h, str) for h in houses):
            raise ValueError(f"{path}: {channel}.warehouses must be a list of warehouse ids")
        unknown = sorted(set(houses) - known)
        if unknown:
            raise ValueError(
                f"{path}: {channel}.warehouses names unknown warehouse(s) {', '.join(unknown)}"
            )
        out[channel] = ChannelSettings(
            channel=channel,
            confirmations=values["confirmations"],
            stock=values["stock"],
            warehouses=tuple(houses),
            safety_margin=whole("safety_margin"),
            reserve_percent=whole("reserve_percent", 100),
            fulfillment_latency=whole("fulfillment_latency") if channel == "amazon" else 2,
            location=str(values.get("location", "")),
            notify_customer=bool(values.get("notify_customer", False)),
        )
    return out


@dataclass
class FeedsResult:
    #: One dict per feed made: feed_id, channel, kind, mode, records, units, folder.
    feeds: list[dict] = field(default_factory=list)
    items_confirmed: int = 0
    units_confirmed: int = 0
    orders_confirmed: int = 0
    #: Amazon order lines without an order-item-id whose order has not shipped whole yet.
    items_waiting: int = 0
    #: Items of a line the channel changed after it was picked, with no line of the order
    #: left to confirm them by (the SKU is gone, or its Amazon item id): never sent, left
    #: for review; they count as shipped and not confirmed.
    items_unmatched: int = 0
    skus_sent: int = 0
    folders_written: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


# --- shipment confirmations -------------------------------------------------------------------


def _new_confirmations(
    con: duckdb.DuckDBPyConnection, channels: list[str], *, everything: bool = False
) -> tuple[pl.DataFrame, int, int]:
    """(order line, parcel) rows shipped and not confirmed yet, for ``channels``; how many
    Amazon rows wait for their order to ship whole (read without order-item-ids, so it can
    only be confirmed whole); and how many rows are of a line the channel changed after it
    was picked so that no line of the order is left to confirm them by (never sent, left
    for review). ``everything``: every row, nothing held back."""
    if not channels:
        return CHANNEL_CONFIRMATIONS.empty(), 0, 0
    listed = ", ".join(f"'{c}'" for c in channels)
    fully = ", ".join(f"'{s}'" for s in FULLY_SHIPPED)
    rows = frame(
        con,
        f"""
        WITH open_parcels AS (
            SELECT p.parcel_id, p.shipment_id, p.parcel_no, p.contents, p.carrier, p.service,
                   p.tracking_number, p.shipped_at, p.ship_date, p.manifest_id
            FROM {PARCELS.qualified} p
            JOIN {SHIPMENTS.qualified} s USING (shipment_id)
            JOIN {ORDERS.qualified} o ON o.order_key = s.order_key
            WHERE p.manifest_id IS NOT NULL AND p.status <> 'cancelled'
              AND o.channel IN ({listed})
              AND p.parcel_id NOT IN (SELECT parcel_id FROM {CHANNEL_CONFIRMATIONS.qualified})
        ),
        items AS (
            SELECT parcel_id, shipment_id, parcel_no, carrier, service, tracking_number,
                   shipped_at, ship_date, manifest_id, pos,
                   regexp_extract(item, '^(.*) x([0-9]+)$', 1) AS sku,
                   CAST(regexp_extract(item, '^(.*) x([0-9]+)$', 2) AS BIGINT) AS qty
            FROM (
                SELECT *, generate_subscripts(string_split(contents, '; '), 1) AS pos,
                       unnest(string_split(contents, '; ')) AS item
                FROM open_parcels
            )
        ),
        parcel_ranges AS (
            SELECT *, sum(qty) OVER w - qty AS p0, sum(qty) OVER w AS p1
            FROM items
            WINDOW w AS (PARTITION BY shipment_id, sku ORDER BY parcel_no, pos
                         ROWS UNBOUNDED PRECEDING)
        ),
        task_ranges AS (
            SELECT t.shipment_id, t.sku, t.order_key, t.line_no,
                   sum(t.quantity) OVER w - t.quantity AS t0, sum(t.quantity) OVER w AS t1
            FROM {PICK_TASKS.qualified} t
            WHERE t.status = 'shipped'
              AND t.shipment_id IN (SELECT DISTINCT shipment_id FROM open_parcels)
            WINDOW w AS (PARTITION BY t.shipment_id, t.sku ORDER BY t.line_no, t.task_id
                         ROWS UNBOUNDED PRECEDING)
        ),
        current_lines AS (
            SELECT * FROM {ORDER_LINES.qualified}
            WHERE order_key IN (SELECT DISTINCT order_key FROM task_ranges)
        ),
        item_ids AS (
            SELECT order_key, bool_or(external_line_id IS NOT NULL) AS has_item_ids
            FROM current_lines GROUP BY ALL
        ),
        by_sku AS (
            SELECT order_key, sku, count(*) AS lines, any_value(external_line_id) AS line_id
            FROM current_lines GROUP BY ALL
        )
        SELECT t.order_key, t.line_no, p.parcel_id, o.channel, o.external_order_id,
               o.order_number,
               CASE WHEN l.line_no IS NOT NULL THEN l.external_line_id
                    WHEN b.lines = 1 THEN b.line_id END AS external_line_id,
               l.line_no IS NOT NULL OR coalesce(b.lines = 1, false) AS line_found, p.sku,
               sum(least(t.t1, p.p1) - greatest(t.t0, p.p0))::BIGINT AS quantity,
               p.carrier, p.service, p.tracking_number, p.shipped_at, p.ship_date,
               p.manifest_id, o.status IN ({fully}) AS order_complete,
               o.status IN ({fully}, 'cancelled') AS order_settled,
               coalesce(i.has_item_ids, false) AS has_item_ids
        FROM parcel_ranges p
        JOIN task_ranges t
          ON t.shipment_id = p.shipment_id AND t.sku = p.sku AND t.t0 < p.p1 AND p.p0 < t.t1
        JOIN {ORDERS.qualified} o ON o.order_key = t.order_key
        -- The line as it is now: the channel may have changed the order after the units were
        -- picked (intake renumbers lines by position), so the SKU must match too; failing
        -- that, the one line left with the SKU. A SKU gone from the order (or on several
        -- other lines) has no line to confirm.
        LEFT JOIN current_lines l
          ON l.order_key = t.order_key AND l.line_no = t.line_no AND l.sku = t.sku
        LEFT JOIN by_sku b ON b.order_key = t.order_key AND b.sku = t.sku
        LEFT JOIN item_ids i ON i.order_key = t.order_key
        GROUP BY ALL
        ORDER BY o.channel, t.order_key, t.line_no, p.parcel_id
        """,
    )
    return (rows, 0, 0) if everything else _hold_back(rows)


def _hold_back(rows: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    amazon = pl.col("channel") == "amazon"
    unmatched = ~pl.col("line_found") | (
        amazon & pl.col("has_item_ids") & pl.col("external_line_id").is_null()
    )
    # Read without item ids: the whole order waits until it has shipped (or was cancelled
    # after a part shipped), so a parcel's rows always go out together.
    waiting = amazon & ~pl.col("has_item_ids") & ~pl.col("order_settled")
    return (
        rows.filter(~unmatched & ~waiting),
        rows.filter(waiting).height,
        rows.filter(unmatched).height,
    )


def _confirmation_covers(rows: pl.DataFrame) -> str:
    manifests = sorted(rows["manifest_id"].unique().to_list())
    first, last = rows["shipped_at"].min(), rows["shipped_at"].max()
    days = f"{first:%Y-%m-%d}" + (f" to {last:%Y-%m-%d}" if last.date() != first.date() else "")
    shown = ", ".join(manifests[:4])
    if len(manifests) > 4:
        shown += f" and {len(manifests) - 4} more"
    return (
        f"{rows.height} item(s) of {rows['order_key'].n_unique()} order(s) in "
        f"{rows['parcel_id'].n_unique()} parcel(s), shipped {days} on manifest(s) {shown}"
    )


# --- stock ------------------------------------------------------------------------------------


def sellable(
    positions: pl.DataFrame, products: pl.DataFrame, settings: ChannelSettings
) -> pl.DataFrame:
    """sku, product_name, atp, buffer, quantity for every physical catalogue product.

    ``positions`` has warehouse_id, sku, atp; ``products`` sku, name, active and
    requires_shipping. atp sums the channel's warehouses; reserve is reserve_percent of it
    rounded up; quantity = max(0, atp - safety_margin - reserve), 0 for discontinued items.
    """
    served = positions
    if settings.warehouses:
        served = positions.filter(pl.col("warehouse_id").is_in(settings.warehouses))
    atp = served.group_by("sku").agg(pl.col("atp").sum().cast(pl.Int64))
    reserve = (pl.col("atp") * settings.reserve_percent + 99) // 100
    return (
        products.filter(pl.col("requires_shipping"))
        .select("sku", pl.col("name").alias("product_name"), "active")
        .join(atp, on="sku", how="left")
        .with_columns(pl.col("atp").fill_null(0))
        .with_columns(buffer=(pl.lit(settings.safety_margin, pl.Int64) + reserve))
        .with_columns(
            quantity=pl.when(pl.col("active"))
            .then(pl.max_horizontal(pl.lit(0, pl.Int64), pl.col("atp") - pl.col("buffer")))
            .otherwise(0)
        )
        .select("sku", "product_name", "atp", "buffer", "quantity")
        .sort("sku")
    )


def _last_sent(con: duckdb.DuckDBPyConnection, channel: str) -> pl.DataFrame:
    """sku → the quantity the channel was last told."""
    return frame(
        con,
        f"""
        SELECT s.sku, arg_max(s.quantity, f.seq) AS last_quantity
        FROM {CHANNEL_STOCK.qualified} s JOIN {CHANNEL_FEEDS.qualified} f USING (feed_id)
        WHERE s.channel = ? GROUP BY s.sku
        """,
        [channel],
    )


# --- recording --------------------------------------------------------------------------------


def _settings_json(settings: ChannelSettings) -> str:
    return json.dumps(asdict(settings), sort_keys=True)


def _stored_settings(feed: dict, current: dict[str, ChannelSettings]) -> ChannelSettings:
    """The settings a feed was made with (so a resend writes the same bytes); the current
    ones for a feed recorded before they were stored."""
    if not feed.get("settings"):
        return current[feed["channel"]]
    values = json.loads(feed["settings"])
    values["warehouses"] = tuple(values["warehouses"])
    return ChannelSettings(**values)


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


class _Ids:
    """Feed ids in order, and one new folder per channel for this call."""

    def __init__(self, con: duckdb.DuckDBPyConnection, outbox: Path, now: datetime):
        self.con, self.outbox, self.now = con, outbox, now
        self.seq = scalar(con, f"SELECT coalesce(max(seq), 0) FROM {CHANNEL_FEEDS.qualified}")
        self.folders: dict[str, str] = {}

    def next(self) -> tuple[str, int]:
        self.seq += 1
        return f"FD-{self.seq:06d}", self.seq

    def folder(self, channel: str) -> str:
        if channel not in self.folders:
            used = {
                r[0]
                for r in self.con.execute(
                    f"SELECT folder FROM {CHANNEL_FEEDS.qualified} WHERE channel = ?", [channel]
                ).fetchall()
            }
            base = f"{FEEDS_DIR}/{channel}/{_stamp(self.now)}"
            candidate, n = base, 1
            while candidate in used or (self.outbox / candidate).exists():
                n += 1
                candidate = f"{base}-{n}"
            self.folders[channel] = candidate
        return self.folders[channel]


def _insert(con: duckdb.DuckDBPyConnection, table, rows: pl.DataFrame) -> None:
    con.register("feed_rows", table.conform(rows).to_arrow())
    con.execute(f"INSERT INTO {table.qualified} BY NAME SELECT * FROM feed_rows")
    con.unregister("feed_rows")


def _record_feed(
    con: duckdb.DuckDBPyConnection,
    ids: _Ids,
    *,
    channel: str,
    kind: str,
    mode: str,
    records: int,
    orders: int | None,
    units: int,
    covers: str,
    run_id: str,
    settings: str | None,
    resend_of: str | None = None,
) -> dict:
    feed_id, seq = ids.next()
    row = {
        "feed_id": feed_id,
        "seq": seq,
        "channel": channel,
        "kind": kind,
        "mode": mode,
        "resend_of": resend_of,
        "records": records,
        "orders": orders,
        "units": units,
        "covers": covers,
        "folder": ids.folder(channel),
        "files": ",".join(FILES[(channel, kind)]),
        "settings": settings,
        "created_at": ids.now,
        "run_id": run_id,
    }
    _insert(con, CHANNEL_FEEDS, pl.DataFrame([row]))
    return row


def _record_confirmations(
    con: duckdb.DuckDBPyConnection,
    ids: _Ids,
    settings: dict[str, ChannelSettings],
    run_id: str,
    result: FeedsResult,
) -> None:
    channels = [c for c, s in settings.items() if s.confirmations]
    rows, result.items_waiting, result.items_unmatched = _new_confirmations(con, channels)
    for (channel,), group in rows.group_by("channel", maintain_order=True):
        feed = _record_feed(
            con,
            ids,
            channel=channel,
            kind="shipment_confirmation",
            mode="incremental",
            records=group.height,
            orders=group["order_key"].n_unique(),
            units=int(group["quantity"].sum()),
            covers=_confirmation_covers(group),
            run_id=run_id,
            settings=_settings_json(settings[channel]),
        )
        _insert(con, CHANNEL_CONFIRMATIONS, group.with_columns(feed_id=pl.lit(feed["feed_id"])))
        result.feeds.append(feed)
        result.items_confirmed += group.height
        result.units_confirmed += feed["units"]
        result.orders_confirmed += feed["orders"]


def _record_stock(
    con: duckdb.DuckDBPyConnection,
    ids: _Ids,
    settings: dict[str, ChannelSettings],
    reference_dir: Path,
    run_id: str,
    full: bool,
    result: FeedsResult,
) -> None:
    wanted = [s for s in settings.values() if s.stock]
    if not wanted:
        return
    positions = derive_positions(con, stock_policy(reference_dir), ids.now).select(
        "warehouse_id", "sku", "atp"
    )
    products = read_reference(reference_dir, "products")
    for channel_settings in wanted:
        channel = channel_settings.channel
        levels = sellable(positions, products, channel_settings)
        last = _last_sent(con, channel)
        # A SKU taken out of the catalogue (or made digital) is told 0 once, or the channel
        # would go on selling it at the last figure it had.
        gone = last.filter(
            (pl.col("last_quantity") > 0) & ~pl.col("sku").is_in(levels["sku"].implode())
        )
        if not gone.is_empty():
            levels = pl.concat(
                [
                    levels,
                    gone.select(
                        "sku",
                        pl.lit(None, pl.String).alias("product_name"),
                        *(pl.lit(0, pl.Int64).alias(c) for c in ("atp", "buffer", "quantity")),
                    ),
                ]
            ).sort("sku")
        if not full:
            levels = levels.join(last, on="sku", how="left").filter(
                pl.col("last_quantity").is_null() | (pl.col("last_quantity") != pl.col("quantity"))
            )
        if levels.is_empty():
            continue
        houses = ", ".join(channel_settings.warehouses) or "every warehouse"
        what = "every SKU" if full or last.is_empty() else "SKUs changed since the last feed"
        feed = _record_feed(
            con,
            ids,
            channel=channel,
            kind="stock",
            mode="full" if full else "incremental",
            records=levels.height,
            orders=None,
            units=int(levels["quantity"].sum()),
            covers=f"{levels.height} SKU(s), {what}; stock of {houses}",
            run_id=run_id,
            settings=_settings_json(channel_settings),
        )
        _insert(
            con,
            CHANNEL_STOCK,
            levels.with_columns(feed_id=pl.lit(feed["feed_id"]), channel=pl.lit(channel)),
        )
        result.feeds.append(feed)
        result.skus_sent += levels.height


# --- rendering --------------------------------------------------------------------------------


#: A file's bytes and the records in it (rows, objects or updates).
Rendered = tuple[bytes, int]


def _tsv(header: list[str], rows: list[list[object]]) -> Rendered:
    """Amazon flat file: tab-separated, no quoting (a tab or line break in a value is a
    space)."""

    def cell(value: object) -> str:
        return "" if value is None else re.sub(r"[\t\r\n]+", " ", str(value))

    lines = ["\t".join(header)] + ["\t".join(cell(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8"), len(rows)


def _csv(header: list[str], rows: list[list[object]]) -> Rendered:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue().encode("utf-8"), len(rows)


def _json(items: list, records: int | None = None) -> Rendered:
    """A JSON array with one element per line: readable, and encoded by json's C encoder
    (``indent`` falls back to the pure-Python one, ten times slower on 100k items)."""
    body = "[\n" + ",\n".join(json.dumps(x, ensure_ascii=False) for x in items) + "\n]\n"
    return body.encode("utf-8"), len(items) if records is None else records


def _api_id(value: str | None) -> int | str | None:
    """A channel id as its API gives it: a number when it is one (Shopify and WooCommerce ids
    are integers), else the text."""
    return int(value) if value is not None and value.isdigit() else value


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def shopify_handle(name: str) -> str:
    """Shopify's handle for a product title: accents dropped, lower case, runs of anything
    but letters and digits as one hyphen ("Café au lait mug - Teal" → cafe-au-lait-mug-teal)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")


def _amazon_confirmations(rows: pl.DataFrame) -> Rendered:
    """Amazon shipping-confirmation flat file: one row per order item and parcel; an order
    read without order-item-ids is confirmed whole: one row, item id and quantity blank,
    with its first parcel's tracking number (Amazon takes a blank item id as the whole order,
    so a second row would confirm it again)."""
    header = [
        "order-id",
        "order-item-id",
        "quantity",
        "ship-date",
        "carrier-code",
        "carrier-name",
        "tracking-number",
        "ship-method",
    ]
    out: list[list[object]] = []
    whole_done: set[str] = set()
    for r in rows.sort("shipped_at", "parcel_id", maintain_order=True).iter_rows(named=True):
        code = AMAZON_CARRIER_CODES.get(r["carrier"], "Other")
        name = r["carrier"] if code == "Other" else ""
        if r["external_line_id"] is None:
            if r["external_order_id"] in whole_done:
                continue
            whole_done.add(r["external_order_id"])
            item, quantity = "", ""
        else:
            item, quantity = r["external_line_id"], r["quantity"]
        shipped = r["ship_date"] or r["shipped_at"].date()
        out.append(
            [
                r["external_order_id"],
                item,
                quantity,
                shipped.isoformat(),
                code,
                name,
                r["tracking_number"],
                r["service"],
            ]
        )
    return _tsv(header, out)


def _shopify_confirmations(
    rows: pl.DataFrame, settings: ChannelSettings
) -> tuple[Rendered, Rendered]:
    """The bulk-fulfilment CSV (one row per order line and parcel) and the same as JSON for
    the API (one fulfilment per order and tracking number)."""
    notify = "true" if settings.notify_customer else "false"
    header = [
        "Order Name",
        "SKU",
        "Quantity",
        "Tracking Company",
        "Tracking Number",
        "Notify Customer",
    ]
    # Free text a person may open in a spreadsheet is escaped (files.spreadsheet_safe);
    # identifiers the channel matches on (SKU, tracking number) are written as they are.
    table = [
        [
            spreadsheet_safe(r["order_number"] or r["external_order_id"]),
            r["sku"],
            r["quantity"],
            r["carrier"],
            r["tracking_number"],
            notify,
        ]
        for r in rows.iter_rows(named=True)
    ]
    fulfilments = []
    grouped = rows.group_by(
        "external_order_id", "order_number", "tracking_number", "carrier", maintain_order=True
    ).agg(pl.struct("line_no", "sku", "quantity").alias("items"))
    for g in grouped.iter_rows(named=True):
        fulfilments.append(
            {
                "order_id": _api_id(g["external_order_id"]),
                "order_name": g["order_number"],
                "fulfillment": {
                    "notify_customer": settings.notify_customer,
                    "tracking_info": {
                        "company": g["carrier"],
                        "number": g["tracking_number"],
                        "url": tracking_url(g["carrier"], g["tracking_number"]),
                    },
                    "line_items": [
                        {"sku": i["sku"], "quantity": i["quantity"], "line_no": i["line_no"]}
                        for i in g["items"]
                    ],
                },
            }
        )
    return _csv(header, table), _json(fulfilments)


def _woocommerce_confirmations(rows: pl.DataFrame, so_far: pl.DataFrame) -> Rendered:
    """One order-update body per order, for ``PUT /wp-json/wc/v3/orders/<id>``: status
    ``completed`` once the order has shipped whole, and in meta_data every tracking number
    and shipped item confirmed so far (a PUT replaces a meta value, so it carries them all)."""
    history: dict[str, list[dict]] = {}
    for h in so_far.sort("shipped_at", "parcel_id", "line_no").iter_rows(named=True):
        history.setdefault(h["external_order_id"], []).append(h)
    complete = dict(
        rows.group_by("external_order_id").agg(pl.col("order_complete").any()).iter_rows()
    )
    bodies = []
    for order_id in rows["external_order_id"].unique(maintain_order=True):
        shipped = history[order_id]
        parcels: dict[str, dict] = {}  # each tracking number once, in shipping order
        for h in shipped:
            parcels.setdefault(h["tracking_number"], h)
        body: dict[str, object] = {"id": _api_id(order_id)}
        if complete[order_id]:
            body["status"] = "completed"
        body["meta_data"] = [
            {
                "key": "_wc_shipment_tracking_items",
                "value": [
                    {
                        "tracking_provider": WOOCOMMERCE_PROVIDERS.get(p["carrier"], ""),
                        "custom_tracking_provider": (
                            "" if p["carrier"] in WOOCOMMERCE_PROVIDERS else p["carrier"]
                        ),
                        "custom_tracking_link": tracking_url(p["carrier"], p["tracking_number"])
                        or "",
                        "tracking_number": p["tracking_number"],
                        "date_shipped": str(int(p["shipped_at"].timestamp())),
                        "tracking_id": hashlib.md5(
                            p["tracking_number"].encode(), usedforsecurity=False
                        ).hexdigest(),
                    }
                    for p in parcels.values()
                ],
            },
            {
                "key": "_oms_shipped_items",
                "value": [
                    {
                        "line_item_id": _api_id(h["external_line_id"]),
                        "sku": h["sku"],
                        "quantity": h["quantity"],
                        "tracking_number": h["tracking_number"],
                    }
                    for h in shipped
                ],
            },
        ]
        bodies.append(body)
    return _json(bodies)


def _amazon_stock(rows: pl.DataFrame, settings: ChannelSettings) -> Rendered:
    return _tsv(
        ["sku", "quantity", "leadtime-to-ship"],
        [
            [r["sku"], r["quantity"], settings.fulfillment_latency]
            for r in rows.iter_rows(named=True)
        ],
    )


def _shopify_stock(rows: pl.DataFrame, settings: ChannelSettings) -> Rendered:
    """Shopify's inventory CSV: the variant by handle and options (a product of one variant
    has Option1 "Title" / "Default Title") and by SKU, its location and available units."""
    return _csv(
        [
            "Handle",
            "Title",
            "Option1 Name",
            "Option1 Value",
            "Option2 Name",
            "Option2 Value",
            "Option3 Name",
            "Option3 Value",
            "SKU",
            "Location",
            "Available",
        ],
        [
            [
                shopify_handle(r["product_name"] or r["sku"]),
                spreadsheet_safe(r["product_name"]),
                "Title",
                "Default Title",
                None,
                None,
                None,
                None,
                r["sku"],
                settings.location,
                r["quantity"],
            ]
            for r in rows.iter_rows(named=True)
        ],
    )


def _woocommerce_stock(rows: pl.DataFrame) -> Rendered:
    """Bodies for ``POST /wp-json/wc/v3/products/batch``, at most 100 updates each."""
    updates = [
        {
            "sku": r["sku"],
            "manage_stock": True,
            "stock_quantity": r["quantity"],
            "stock_status": "instock" if r["quantity"] > 0 else "outofstock",
        }
        for r in rows.iter_rows(named=True)
    ]
    batches = [
        {"update": updates[i : i + WOOCOMMERCE_BATCH]}
        for i in range(0, len(updates), WOOCOMMERCE_BATCH)
    ]
    return _json(batches, records=len(updates))


def render(
    con: duckdb.DuckDBPyConnection, feed: dict, settings: dict[str, ChannelSettings]
) -> dict[str, Rendered]:
    """The files of ``feed`` (a channel_feeds row) by name (:data:`FILES`), from the stored
    records of the feed it is (or repeats)."""
    names = FILES[(feed["channel"], feed["kind"])]
    return dict(zip(names, _bodies(con, feed, settings), strict=True))


def _bodies(
    con: duckdb.DuckDBPyConnection, feed: dict, settings: dict[str, ChannelSettings]
) -> tuple[Rendered, ...]:
    """The feed's file bodies, in the order :data:`FILES` names them."""
    source = feed["resend_of"] or feed["feed_id"]
    channel, kind = feed["channel"], feed["kind"]
    chosen = _stored_settings(feed, settings)
    if kind == "stock":
        rows = frame(
            con,
            f"SELECT * FROM {CHANNEL_STOCK.qualified} WHERE feed_id = ? ORDER BY sku",
            [source],
        )
        if channel == "amazon":
            return (_amazon_stock(rows, chosen),)
        if channel == "shopify":
            return (_shopify_stock(rows, chosen),)
        return (_woocommerce_stock(rows),)
    rows = frame(
        con,
        f"""
        SELECT * FROM {CHANNEL_CONFIRMATIONS.qualified} WHERE feed_id = ?
        ORDER BY order_number, external_order_id, line_no, shipped_at, parcel_id
        """,
        [source],
    )
    if channel == "amazon":
        return (_amazon_confirmations(rows),)
    if channel == "shopify":
        return _shopify_confirmations(rows, chosen)
    so_far = frame(
        con,
        f"""
        SELECT c.* FROM {CHANNEL_CONFIRMATIONS.qualified} c
        JOIN {CHANNEL_FEEDS.qualified} f USING (feed_id)
        WHERE c.order_key IN (SELECT order_key FROM {CHANNEL_CONFIRMATIONS.qualified}
                              WHERE feed_id = $source)
          AND f.seq <= (SELECT seq FROM {CHANNEL_FEEDS.qualified} WHERE feed_id = $source)
        """,
        {"source": source},
    )
    return (_woocommerce_confirmations(rows, so_far),)


def write_pending(
    con: duckdb.DuckDBPyConnection,
    *,
    reference_dir: Path,
    outbox: Path,
    now: datetime,
) -> int:
    """Write the files of every recorded feed not written yet, folder by folder, each
    folder's manifest.json last (listing every feed in it); mark them written. Returns the
    folders written."""
    pending = frame(
        con,
        f"SELECT * FROM {CHANNEL_FEEDS.qualified} WHERE written_at IS NULL ORDER BY seq",
    )
    if pending.is_empty():
        return 0
    settings = load_settings(reference_dir)
    folders = pending["folder"].unique(maintain_order=True).to_list()
    for folder in folders:
        feeds = frame(
            con,
            f"SELECT * FROM {CHANNEL_FEEDS.qualified} WHERE folder = ? ORDER BY seq",
            [folder],
        ).to_dicts()
        listed = []
        for feed in feeds:
            files = []
            for name, (body, records) in render(con, feed, settings).items():
                write_atomically(
                    outbox / folder / name, lambda tmp, body=body: tmp.write_bytes(body)
                )
                files.append(
                    {
                        "name": name,
                        "bytes": len(body),
                        "records": records,
                        "sha256": hashlib.sha256(body).hexdigest(),
                    }
                )
            listed.append(
                {
                    "feed_id": feed["feed_id"],
                    "kind": feed["kind"],
                    "mode": feed["mode"],
                    "resend_of": feed["resend_of"],
                    "records": feed["records"],
                    "orders": feed["orders"],
                    "units": feed["units"],
                    "covers": feed["covers"],
                    "created_at": _iso(feed["created_at"]),
                    "files": files,
                }
            )
            if feed["kind"] == "shipment_confirmation":
                listed[-1]["manifests"] = [
                    r[0]
                    for r in con.execute(
                        f"SELECT DISTINCT manifest_id FROM {CHANNEL_CONFIRMATIONS.qualified} "
                        "WHERE feed_id = ? ORDER BY 1",
                        [feed["resend_of"] or feed["feed_id"]],
                    ).fetchall()
                ]
        manifest = {"channel": feeds[0]["channel"], "folder": folder, "feeds": listed}
        text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        write_atomically(
            outbox / folder / MANIFEST, lambda tmp, text=text: tmp.write_text(text, "utf-8")
        )
        with transaction(con):
            con.execute(
                f"UPDATE {CHANNEL_FEEDS.qualified} SET written_at = ? "
                "WHERE folder = ? AND written_at IS NULL",
                [now, folder],
            )
    return len(folders)


def baseline_confirmations(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Record every parcel a warehouse shipped before it had channel feeds as confirmed,
    under one ``baseline`` feed per channel with no file: the channels heard of those
    shipments some other way, and confirming them again would complete old WooCommerce
    orders, over-fulfil Shopify lines and fill Amazon's processing report with errors.
    Run by the migration that adds the feed tables to an existing warehouse (inside its
    transaction). Returns the items recorded."""
    rows, _, _ = _new_confirmations(con, list(FEED_CHANNELS), everything=True)
    ids = _Ids(con, Path("."), now)
    for (channel,), group in rows.group_by("channel", maintain_order=True):
        feed_id, seq = ids.next()
        feed = {
            "feed_id": feed_id,
            "seq": seq,
            "channel": channel,
            "kind": "shipment_confirmation",
            "mode": "baseline",
            "records": group.height,
            "orders": group["order_key"].n_unique(),
            "units": int(group["quantity"].sum()),
            "covers": f"{group.height} item(s) shipped before channel feeds existed: recorded "
            "as confirmed, never sent",
            "folder": "",
            "files": "",
            "created_at": now,
            "written_at": now,
            "run_id": "migration",
        }
        _insert(con, CHANNEL_FEEDS, pl.DataFrame([feed]))
        _insert(con, CHANNEL_CONFIRMATIONS, group.with_columns(feed_id=pl.lit(feed_id)))
    return rows.height


# --- the stage and the commands ---------------------------------------------------------------


def run_channel_feeds_stage(
    con: duckdb.DuckDBPyConnection,
    *,
    reference_dir: Path,
    outbox: Path,
    run_id: str,
    now: datetime,
    full: bool = False,
    channels: tuple[str, ...] | None = None,
    confirmations: bool = True,
) -> FeedsResult:
    """Confirm what shipped since the last feed and offer what changed (every SKU with
    ``full``), for ``channels`` (default: every feed channel), then write the files."""
    settings = load_settings(reference_dir)
    if channels is not None:
        unknown = sorted(set(channels) - set(FEED_CHANNELS))
        if unknown:
            raise ValueError(
                f"no feeds for channel(s) {', '.join(unknown)}; feed channels: "
                + ", ".join(FEED_CHANNELS)
            )
        settings = {c: s for c, s in settings.items() if c in channels}
    result = FeedsResult()
    lap = Laps(result.seconds)
    # Feeds a crash left recorded but unwritten go out first, in their own folders.
    result.folders_written += write_pending(
        con, reference_dir=reference_dir, outbox=outbox, now=now
    )
    lap("recover")
    ids = _Ids(con, outbox, now)
    with transaction(con):
        if confirmations:
            _record_confirmations(con, ids, settings, run_id, result)
        lap("confirmations")
        _record_stock(con, ids, settings, reference_dir, run_id, full, result)
        lap("stock")
    result.folders_written += write_pending(
        con, reference_dir=reference_dir, outbox=outbox, now=now
    )
    lap("files")
    return result


def resend(
    con: duckdb.DuckDBPyConnection,
    feed_id: str,
    *,
    reference_dir: Path,
    outbox: Path,
    run_id: str,
    now: datetime,
) -> dict:
    """Write feed ``feed_id``'s records again, as a new feed (mode resend) in a new folder.

    What was sent does not change: the confirmations and stock levels stay those of the
    original, so the next incremental feed is the same as without the resend.
    """
    original = frame(
        con, f"SELECT * FROM {CHANNEL_FEEDS.qualified} WHERE feed_id = ?", [feed_id]
    ).to_dicts()
    if not original:
        raise LookupError(f"no feed {feed_id!r} (list them with `oms feeds list`)")
    first = original[0]
    source = first["resend_of"] or first["feed_id"]
    ids = _Ids(con, outbox, now)
    with transaction(con):
        feed = _record_feed(
            con,
            ids,
            channel=first["channel"],
            kind=first["kind"],
            mode="resend",
            records=first["records"],
            orders=first["orders"],
            units=first["units"],
            covers=f"resend of {source}: {first['covers']}",
            run_id=run_id,
            settings=first["settings"],
            resend_of=source,
        )
    write_pending(con, reference_dir=reference_dir, outbox=outbox, now=now)
    return feed


def list_feeds(con: duckdb.DuckDBPyConnection, limit: int = 50) -> pl.DataFrame:
    """The newest feeds first."""
    return frame(
        con,
        f"""
        SELECT feed_id, channel, kind, mode, resend_of, records, orders, units, covers,
               folder, created_at, written_at
        FROM {CHANNEL_FEEDS.qualified} ORDER BY seq DESC LIMIT ?
        """,
        [limit],
    )


__all__ = [
    "ChannelSettings",
    "FeedsResult",
    "list_feeds",
    "load_settings",
    "render",
    "resend",
    "run_channel_feeds_stage",
    "sellable",
    "shopify_handle",
    "write_pending",
]
