"""Cartonization: which boxes each shipment goes out in.

A *shipment* is one order's lines shipped from one warehouse. :func:`cartonize` packs the
units of every shipment into boxes from the box catalogue (``data/reference/boxes.csv``),
using the product dimensions and weights of ``data/reference/products.csv``. Pure logic: no
Dagster, no DuckDB; ``docs/fulfilment.md`` ("Cartonization") describes the same rules.

Rules:

1. **What is packed.** Every unit of ``items`` (``quantity`` units per row; rows of one SKU
   in one shipment are added up). Rows whose SKU does not ship (``requires_shipping``
   false, or a length, width or height of 0 or null) are not packed; nor are rows with
   ``quantity <= 0``. A SKU missing from ``products`` is a ``ValueError`` naming it.
2. **Fit.** A unit fits a box when its three dimensions, sorted, are each at most the box's
   inner dimensions, sorted (any rotation), and its weight plus the box's tare is at most
   the box's ``max_weight_g``.
3. **First-fit decreasing by volume.** A shipment's units, one at a time, are taken by
   volume descending (ties: weight descending, then sku). Each goes into the first open
   parcel (in the order parcels were opened) where (a) it fits the parcel's box, (b) the
   parcel's used volume plus its volume is at most ``fill_factor`` × the box's volume
   (``floor(fill_factor × volume)`` in mm³), and (c) the contents' weight plus the tare
   plus its weight is at most ``max_weight_g``. If there is none, it opens a new parcel in
   the **largest** box it fits (by volume; ties by ``box_id``).
4. **Downsizing.** After packing, each parcel moves to the **smallest** box (by volume,
   then cost, then ``box_id``) that still holds its contents under the same three
   constraints: every unit fits the box, the total volume is at most ``fill_factor`` × the
   box's volume, and contents + tare is at most ``max_weight_g``. (The box it was opened in
   always qualifies, so there is always one.)
5. **Ship alone.** A unit that fits no box — or fits some but, even alone, takes more than
   ``fill_factor`` of every box it fits — ships in its own carton: one parcel per unit,
   ``box_id`` null, ``ship_alone`` true, length/width/height the product's own (as given
   in ``products``), weight the unit's (no tare).
6. **Numbering.** ``parcel_no`` runs 1..n per shipment: boxed parcels in the order they
   were opened, then ship-alone parcels in packing order (volume desc, weight desc, sku).

The result does not depend on the order of the input rows. Identical units are placed in
runs (as many as fit in a parcel at once), which is exactly what placing them one at a time
gives, since a parcel that refuses one unit refuses the next identical one too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

#: Share of a box's inner volume the contents may take (the rest is dunnage and air).
FILL_FACTOR = 0.85

ITEM_COLUMNS = ("shipment_id", "sku", "quantity")
PRODUCT_COLUMNS = (
    "sku",
    "unit_weight_g",
    "length_mm",
    "width_mm",
    "height_mm",
    "requires_shipping",
)
BOX_COLUMNS = (
    "box_id",
    "inner_length_mm",
    "inner_width_mm",
    "inner_height_mm",
    "tare_g",
    "max_weight_g",
    "cost",
)
PARCEL_SCHEMA = pl.Schema(
    {
        "shipment_id": pl.String,
        "parcel_no": pl.Int32,
        "box_id": pl.String,
        "ship_alone": pl.Boolean,
        "units": pl.Int64,
        "items_weight_g": pl.Int64,
        "weight_g": pl.Int64,
        "length_mm": pl.Int64,
        "width_mm": pl.Int64,
        "height_mm": pl.Int64,
        "contents": pl.String,
    }
)
PARCEL_ITEM_SCHEMA = pl.Schema(
    {
        "shipment_id": pl.String,
        "parcel_no": pl.Int32,
        "sku": pl.String,
        "quantity": pl.Int64,
    }
)


@dataclass(frozen=True)
class Cartonization:
    """The parcels of every shipment and what is in each.

    ``parcels``: one row per parcel, sorted by (shipment_id, parcel_no); ``parcel_items``:
    one row per (parcel, sku) with the units of that SKU in it, sorted by
    (shipment_id, parcel_no, sku). Columns as in ``PARCEL_SCHEMA`` / ``PARCEL_ITEM_SCHEMA``.
    """

    parcels: pl.DataFrame
    parcel_items: pl.DataFrame


def cartonize(
    items: pl.DataFrame,
    products: pl.DataFrame,
    boxes: pl.DataFrame,
    *,
    fill_factor: float = FILL_FACTOR,
) -> Cartonization:
    """Pack ``items`` (shipment_id, sku, quantity) into ``boxes`` (see the module docstring)."""
    if not 0 < fill_factor <= 1:
        raise ValueError(f"fill_factor must be in (0, 1], got {fill_factor!r}")
    box = _Boxes(boxes, fill_factor)
    catalogue = _products(products)
    lines = _lines(items, catalogue)

    # Per packed SKU, in packing order (volume desc, weight desc, sku): plain Python lists.
    packed = catalogue.filter(pl.col("ships")).sort(
        ["volume", "unit_weight_g", "sku"], descending=[True, True, False]
    )
    skus: list[str] = packed["sku"].to_list()
    volumes: list[int] = packed["volume"].to_list()
    weights: list[int] = packed["unit_weight_g"].to_list()
    own_dims = list(
        zip(
            packed["length_mm"].to_list(),
            packed["width_mm"].to_list(),
            packed["height_mm"].to_list(),
            strict=True,
        )
    )
    masks, opening = [], []
    for dims, volume, weight in zip(own_dims, volumes, weights, strict=True):
        mask, first = box.fitting(sorted(dims), volume, weight)
        masks.append(mask)
        opening.append(first)
    rank = pl.DataFrame(
        {"sku": skus, "rank": pl.Series(range(len(skus)), dtype=pl.Int64)},
        schema={"sku": pl.String, "rank": pl.Int64},
    )

    work = (
        lines.join(rank, on="sku", how="inner")
        .group_by("shipment_id", "rank")
        .agg(pl.col("quantity").sum())
        .sort("shipment_id", "rank")
    )
    shipment_col: list[str] = work["shipment_id"].to_list()
    rank_col: list[int] = work["rank"].to_list()
    qty_col: list[int] = work["quantity"].to_list()

    cap, room_w, box_ids, box_dims, tares = box.cap, box.room_w, box.ids, box.dims, box.tare
    order_small = range(len(box_ids))

    p_ship: list[str] = []
    p_no: list[int] = []
    p_box: list[str | None] = []
    p_alone: list[bool] = []
    p_units: list[int] = []
    p_items_w: list[int] = []
    p_weight: list[int] = []
    p_len: list[int] = []
    p_wid: list[int] = []
    p_hei: list[int] = []
    p_contents: list[str] = []
    i_ship: list[str] = []
    i_no: list[int] = []
    i_sku: list[str] = []
    i_qty: list[int] = []

    n = len(shipment_col)
    start = 0
    while start < n:
        shipment = shipment_col[start]
        end = start
        while end < n and shipment_col[end] == shipment:
            end += 1
        # parcel: [box index, used volume, used weight, {rank: units}]
        parcels: list[list] = []
        alone: list[int] = []
        for j in range(start, end):
            r = rank_col[j]
            q = qty_col[j]
            if q <= 0:
                continue
            first = opening[r]
            if first < 0:
                alone.extend([r] * q)
                continue
            v, w, mask = volumes[r], weights[r], masks[r]
            for parcel in parcels:
                b = parcel[0]
                if not (mask >> b) & 1:
                    continue
                k = (cap[b] - parcel[1]) // v
                if w:
                    k = min(k, (room_w[b] - parcel[2]) // w)
                if k <= 0:
                    continue
                k = min(k, q)
                parcel[1] += k * v
                parcel[2] += k * w
                parcel[3][r] = parcel[3].get(r, 0) + k
                q -= k
                if not q:
                    break
            while q:
                k = cap[first] // v
                if w:
                    k = min(k, room_w[first] // w)
                k = min(k, q)
                parcels.append([first, k * v, k * w, {r: k}])
                q -= k
        no = 0
        for b, used_v, used_w, content in parcels:
            mask = -1
            for r in content:
                mask &= masks[r]
            for s in order_small:
                if (mask >> s) & 1 and used_v <= cap[s] and used_w <= room_w[s]:
                    b = s
                    break
            no += 1
            names = sorted((skus[r], q) for r, q in content.items())
            length, width, height = box_dims[b]
            p_ship.append(shipment)
            p_no.append(no)
            p_box.append(box_ids[b])
            p_alone.append(False)
            p_units.append(sum(content.values()))
            p_items_w.append(used_w)
            p_weight.append(used_w + tares[b])
            p_len.append(length)
            p_wid.append(width)
            p_hei.append(height)
            p_contents.append("; ".join(f"{s} x{q}" for s, q in names))
            for s, q in names:
                i_ship.append(shipment)
                i_no.append(no)
                i_sku.append(s)
                i_qty.append(q)
        for r in alone:
            no += 1
            length, width, height = own_dims[r]
            p_ship.append(shipment)
            p_no.append(no)
            p_box.append(None)
            p_alone.append(True)
            p_units.append(1)
            p_items_w.append(weights[r])
            p_weight.append(weights[r])
            p_len.append(length)
            p_wid.append(width)
            p_hei.append(height)
            p_contents.append(f"{skus[r]} x1")
            i_ship.append(shipment)
            i_no.append(no)
            i_sku.append(skus[r])
            i_qty.append(1)
        start = end

    parcels_frame = pl.DataFrame(
        [
            p_ship,
            p_no,
            p_box,
            p_alone,
            p_units,
            p_items_w,
            p_weight,
            p_len,
            p_wid,
            p_hei,
            p_contents,
        ],
        schema=PARCEL_SCHEMA,
        orient="col",
    ).sort("shipment_id", "parcel_no")
    items_frame = pl.DataFrame(
        [i_ship, i_no, i_sku, i_qty], schema=PARCEL_ITEM_SCHEMA, orient="col"
    ).sort("shipment_id", "parcel_no", "sku")
    return Cartonization(parcels=parcels_frame, parcel_items=items_frame)


class _Boxes:
    """The catalogue in small-to-large order (volume, cost, box_id), as plain lists."""

    def __init__(self, boxes: pl.DataFrame, fill_factor: float) -> None:
        _require(boxes, BOX_COLUMNS, "boxes")
        frame = boxes.select(
            pl.col("box_id").cast(pl.String),
            *(pl.col(c).cast(pl.Int64) for c in BOX_COLUMNS[1:6]),
            pl.col("cost").cast(pl.Float64),
        )
        _no_nulls(frame, "boxes")
        duplicated = frame.filter(pl.col("box_id").is_duplicated())["box_id"].unique().sort()
        if duplicated.len():
            raise ValueError(f"boxes: duplicate box_id {', '.join(duplicated.to_list())}")
        bad = frame.filter(
            (pl.col("inner_length_mm") <= 0)
            | (pl.col("inner_width_mm") <= 0)
            | (pl.col("inner_height_mm") <= 0)
            | (pl.col("tare_g") < 0)
            | (pl.col("max_weight_g") < 0)
        )["box_id"]
        if bad.len():
            raise ValueError(
                "boxes: inner dimensions must be positive and weights not negative: "
                + ", ".join(bad.sort().to_list())
            )
        frame = frame.with_columns(
            volume=pl.col("inner_length_mm") * pl.col("inner_width_mm") * pl.col("inner_height_mm")
        ).sort("volume", "cost", "box_id")
        self.ids: list[str] = frame["box_id"].to_list()
        self.dims: list[tuple[int, int, int]] = list(
            frame.select("inner_length_mm", "inner_width_mm", "inner_height_mm").iter_rows()
        )
        self.sorted_dims = [sorted(d) for d in self.dims]
        self.volume: list[int] = frame["volume"].to_list()
        self.tare: list[int] = frame["tare_g"].to_list()
        self.max_weight: list[int] = frame["max_weight_g"].to_list()
        #: Most volume the contents may take: floor(fill_factor × volume), mm³.
        self.cap = [math.floor(fill_factor * v) for v in self.volume]
        #: Most weight the contents may have: max_weight_g − tare_g.
        self.room_w = [m - t for m, t in zip(self.max_weight, self.tare, strict=True)]
        # Opening order: largest volume first, ties by box_id.
        self.largest_first = sorted(
            range(len(self.ids)), key=lambda i: (-self.volume[i], self.ids[i])
        )

    def fitting(self, dims: list[int], volume: int, weight: int) -> tuple[int, int]:
        """Bit mask of the boxes (small-to-large index) a unit fits — sorted ``dims`` within
        the box's sorted inner dimensions and weight + tare ≤ max — and the box a new parcel
        for it opens with: the largest it fits, or -1 when it ships alone (fits none, or
        exceeds the fill factor in each box it fits)."""
        mask = 0
        for i, inner in enumerate(self.sorted_dims):
            if (
                dims[0] <= inner[0]
                and dims[1] <= inner[1]
                and dims[2] <= inner[2]
                and weight + self.tare[i] <= self.max_weight[i]
            ):
                mask |= 1 << i
        for i in self.largest_first:
            if (mask >> i) & 1:
                return mask, (i if volume <= self.cap[i] else -1)
        return mask, -1


def _products(products: pl.DataFrame) -> pl.DataFrame:
    """sku, unit_weight_g, length/width/height_mm, volume and ``ships`` per catalogue SKU."""
    _require(products, PRODUCT_COLUMNS, "products")
    frame = products.select(
        pl.col("sku").cast(pl.String),
        *(pl.col(c).cast(pl.Int64) for c in PRODUCT_COLUMNS[1:5]),
        pl.col("requires_shipping").cast(pl.Boolean),
    )
    if frame["sku"].null_count():
        raise ValueError("products: null sku")
    duplicated = frame.filter(pl.col("sku").is_duplicated())["sku"].unique().sort()
    if duplicated.len():
        raise ValueError(f"products: duplicate sku {', '.join(duplicated.head(10).to_list())}")
    dims = ("length_mm", "width_mm", "height_mm")
    frame = frame.with_columns(
        ships=pl.col("requires_shipping").fill_null(True)
        & pl.all_horizontal(pl.col(c).fill_null(0) > 0 for c in dims),
        volume=pl.col("length_mm") * pl.col("width_mm") * pl.col("height_mm"),
    )
    bad = frame.filter(
        pl.col("ships") & (pl.col("unit_weight_g").is_null() | (pl.col("unit_weight_g") < 0))
    )["sku"]
    if bad.len():
        raise ValueError(
            "products: missing or negative unit_weight_g for "
            + ", ".join(bad.sort().head(10).to_list())
        )
    return frame


def _lines(items: pl.DataFrame, catalogue: pl.DataFrame) -> pl.DataFrame:
    """``items`` typed and checked: no nulls, every SKU in the catalogue, quantity > 0."""
    _require(items, ITEM_COLUMNS, "items")
    lines = items.select(
        pl.col("shipment_id").cast(pl.String),
        pl.col("sku").cast(pl.String),
        pl.col("quantity").cast(pl.Int64),
    )
    for column in ITEM_COLUMNS:
        if lines[column].null_count():
            raise ValueError(f"items: null {column}")
    unknown = lines.join(catalogue.select("sku"), on="sku", how="anti")["sku"].unique().sort()
    if unknown.len():
        shown = ", ".join(unknown.head(10).to_list())
        more = f" and {unknown.len() - 10} more" if unknown.len() > 10 else ""
        raise ValueError(f"items: unknown sku {shown}{more}")
    return lines.filter(pl.col("quantity") > 0)


def _require(frame: pl.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}")


def _no_nulls(frame: pl.DataFrame, name: str) -> None:
    nulls = [c for c in frame.columns if frame[c].null_count()]
    if nulls:
        raise ValueError(f"{name}: null values in {', '.join(nulls)}")
