"""Allocation: open order lines meet available-to-promise stock, one order at a time.

The rules are the contract in DESIGN.md ("Allocation semantics"). Orders are taken in
priority order — service level (overnight, expedited, standard), then ``ship_by`` (orders
without one after those with one), then ``ordered_at``, then ``order_key`` — and each order
is served from stock that every earlier order has already reduced:

1. warehouses are ranked by great-circle distance from the ship-to point (haversine, sphere
   of radius 6371 km), ties by ``warehouse_id``;
2. the nearest warehouse that can fill every open line takes the whole order
   (``rule = "single"``); the check is per SKU, against the sum of the order's lines;
3. otherwise, unless the order is ``ship_complete``, repeat: take the warehouse that covers
   the most remaining units (Σ over the order's SKUs of min(remaining, atp)), ties by
   distance then ``warehouse_id``, and let each line, in ``line_no`` order, take
   min(its remaining, atp left) there — until the order is filled, no warehouse can add a
   unit, or ``max_splits`` warehouses are used (``rule = "split"``);
4. what is left is backordered; a ``ship_complete`` order no single warehouse can fill is
   backordered whole.

Edge cases (the test oracle, ``tests/unit/allocation/oracle.py``, follows the same ones):

- A SKU missing from STOCK has ATP 0 in every warehouse, so its lines are backordered (and
  the order cannot be filled by one warehouse). A warehouse in WAREHOUSES without STOCK rows
  has ATP 0 for everything. Negative or null ``atp`` counts as 0.
- A warehouse in STOCK but not in WAREHOUSES, a duplicate ``(warehouse_id, sku)`` in STOCK,
  a duplicate ``warehouse_id`` in WAREHOUSES, a warehouse without coordinates, a duplicate
  ``(order_key, line_no)``, a null ``order_key``/``line_no``/``sku``/``quantity``, an unknown
  ``service_level`` and ``max_splits < 1`` are errors (``ValueError``).
- A line with ``quantity <= 0`` allocates nothing and is not backordered; an order with no
  such open line is skipped.
- Order-level columns (``service_level``, ``ship_by``, ``ordered_at``, ``ship_lat``,
  ``ship_lon``, ``ship_complete``) are read from the order's first line by ``line_no``; the
  other lines' values are not looked at. Null ``service_level`` means standard, null
  ``ship_complete`` means the order may split, a null ``ordered_at`` sorts after every
  ``ordered_at`` (like ``ship_by``), and a null or NaN ``ship_lat``/``ship_lon`` makes every
  warehouse equally far (so ties go by ``warehouse_id``).
- "Covers the most remaining units" is counted per SKU (two lines of one SKU share the
  warehouse's ATP), and an order that reaches step 3 is ``split`` even when a single
  warehouse ends up giving it part of its units (max_splits = 1, or the only one with stock).
- Units allocated are committed within the run: later orders see the reduced ATP
  (:attr:`Allocation.stock_after` is what is left).
- Re-brokering (an extension the batch needs; absent, the rules are exactly DESIGN's): an
  optional LINES column ``used_warehouses`` (a list of warehouse ids, read from the order's
  first line) names the warehouses the order already ships from. They count towards
  ``max_splits``: the order may take stock from them at any time, and from new warehouses
  only while the number of distinct warehouses stays within ``max_splits`` (in step 2 as in
  step 3), so an order never ships from more than ``max_splits`` warehouses in all. An
  unknown warehouse id in it is an error.

How it runs: the set work is columnar — lines sorted by (order_key, line_no) in Polars,
priority by a stable ``numpy.lexsort``, SKUs as integer codes, ATP as a SKU × warehouse
int64 matrix — and the greedy walk over orders, which is sequential by nature (each order
changes what the next one sees), is one numba-compiled loop. Distances are computed inside
that loop with ``math`` functions in the same formula order as the oracle's, so exact ties
(identical coordinates) and near-ties break the same way in both. Quantities stay int64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import polars as pl

SERVICE_LEVELS = ("overnight", "expedited", "standard")
RULES = ("single", "split")
EARTH_RADIUS_KM = 6371.0
DEFAULT_MAX_SPLITS = 3

#: Optional LINES column: the warehouses the order already ships from (see the docstring).
USED_WAREHOUSES = "used_warehouses"
LINE_COLUMNS = (
    "order_key",
    "line_no",
    "sku",
    "quantity",
    "service_level",
    "ship_by",
    "ordered_at",
    "ship_lat",
    "ship_lon",
    "ship_complete",
)
ALLOCATION_SCHEMA = pl.Schema(
    {
        "order_key": pl.String,
        "line_no": pl.Int32,
        "warehouse_id": pl.String,
        "quantity": pl.Int64,
        "rule": pl.String,
    }
)
BACKORDER_SCHEMA = pl.Schema({"order_key": pl.String, "line_no": pl.Int32, "quantity": pl.Int64})
STOCK_SCHEMA = pl.Schema({"warehouse_id": pl.String, "sku": pl.String, "atp": pl.Int64})

_RAD = math.pi / 180.0
# Per-order outcome codes of the compiled loop.
_NO_OPEN_LINES, _UNALLOCATED, _SINGLE, _SPLIT = -1, 0, 1, 2


@dataclass(frozen=True)
class Allocation:
    """What one allocation run decided.

    ``allocations``: one row per (order_key, line_no, warehouse_id) with units taken there;
    ``backorders``: one row per open line with units left over; ``stock_after``: the STOCK
    rows (validated, ATP floored at 0) less what this run allocated. All sorted by their key.
    Counts: ``orders``/``lines`` in the input, ``open_lines`` those with quantity > 0 and
    ``units_demanded`` their units; orders by outcome: ``orders_single``, ``orders_split``
    (at least one unit allocated in step 3) and ``orders_unallocated`` (open, got nothing).
    """

    allocations: pl.DataFrame = field(repr=False)
    backorders: pl.DataFrame = field(repr=False)
    stock_after: pl.DataFrame = field(repr=False)
    orders: int
    lines: int
    open_lines: int
    units_demanded: int
    units_allocated: int
    units_backordered: int
    orders_single: int
    orders_split: int
    orders_unallocated: int

    @property
    def orders_by_rule(self) -> dict[str, int]:
        return {"single": self.orders_single, "split": self.orders_split}


def allocate(
    lines: pl.DataFrame,
    stock: pl.DataFrame,
    warehouses: pl.DataFrame,
    *,
    max_splits: int = DEFAULT_MAX_SPLITS,
) -> Allocation:
    """Allocate ``lines`` against ``stock`` held in ``warehouses`` (see the module docstring)."""
    if max_splits < 1:
        raise ValueError(f"max_splits must be at least 1, got {max_splits}")
    wh_ids, wh_lat, wh_lon = _prepare_warehouses(warehouses)
    stock_rows, skus, atp = _prepare_stock(stock, wh_ids)
    table, line_start, order_frame = _prepare_lines(lines, skus)
    prior = _prior_warehouses(order_frame, wh_ids)

    n_lines, n_orders = table.height, len(line_start) - 1
    # Slots per line: the warehouses a line may take stock from in this run.
    slots = max(1, len(wh_ids) if prior.any() else min(max_splits, len(wh_ids)))
    if n_lines:
        priority = _priority(order_frame)
        slot_wh, slot_qty, left, outcome = _walk_orders(
            _array(priority, np.int64),
            _array(line_start, np.int64),
            _array(table["sku_code"], np.int64),
            _array(table["quantity"], np.int64),
            _array(order_frame["ship_complete"], np.bool_),
            _array(order_frame["ship_lat"], np.float64),
            _array(order_frame["ship_lon"], np.float64),
            wh_lat,
            wh_lon,
            atp,
            prior,
            int(max_splits),
            slots,
            int(np.diff(line_start).max()),
        )
    else:
        slot_wh = np.zeros((0, slots), np.int64)
        slot_qty = np.zeros((0, slots), np.int64)
        left = np.zeros(0, np.int64)
        outcome = np.zeros(0, np.int8)

    allocations = _allocation_frame(table, line_start, slot_wh, slot_qty, outcome, wh_ids)
    has_left = left > 0
    backorders = pl.DataFrame(
        {
            "order_key": table["order_key"].filter(has_left),
            "line_no": table["line_no"].filter(has_left),
            "quantity": left[has_left],
        },
        schema=BACKORDER_SCHEMA,
    )
    stock_after = stock_rows.select(
        "warehouse_id",
        "sku",
        pl.Series("atp", atp[stock_rows["k"].to_numpy(), stock_rows["w"].to_numpy()]),
    )
    quantity = table["quantity"].to_numpy()
    open_quantity = quantity[quantity > 0]
    return Allocation(
        allocations=allocations,
        backorders=backorders,
        stock_after=stock_after,
        orders=n_orders,
        lines=n_lines,
        open_lines=len(open_quantity),
        units_demanded=int(open_quantity.sum()),
        units_allocated=int(slot_qty.sum()),
        units_backordered=int(left.sum()),
        orders_single=int((outcome == _SINGLE).sum()),
        orders_split=int((outcome == _SPLIT).sum()),
        orders_unallocated=int((outcome == _UNALLOCATED).sum()),
    )


def read_inputs(
    lines_parquet: Path, stock_parquet: Path, warehouses_csv: Path
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The three inputs of :func:`allocate` from their standalone files.

    The warehouses CSV may have more columns (``data/reference/warehouses.csv`` does); only
    ``warehouse_id``, ``lat`` and ``lon`` are read.
    """
    lines = pl.read_parquet(lines_parquet, columns=list(LINE_COLUMNS))
    stock = pl.read_parquet(stock_parquet, columns=list(STOCK_SCHEMA))
    warehouses = pl.read_csv(
        warehouses_csv,
        columns=["warehouse_id", "lat", "lon"],
        schema_overrides={"warehouse_id": pl.String, "lat": pl.Float64, "lon": pl.Float64},
    )
    return lines, stock, warehouses


def write_outputs(allocation: Allocation, out_dir: Path) -> tuple[Path, Path]:
    """Write ``allocations.parquet`` and ``backorders.parquet`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    allocations, backorders = out_dir / "allocations.parquet", out_dir / "backorders.parquet"
    allocation.allocations.write_parquet(allocations)
    allocation.backorders.write_parquet(backorders)
    return allocations, backorders


def _array(values: pl.Series | np.ndarray, dtype: type) -> np.ndarray:
    """A writable, C-contiguous array of ``dtype``: the one array type the compiled code is
    compiled for (Polars may hand out read-only views, which numba types differently)."""
    values = values.to_numpy() if isinstance(values, pl.Series) else values
    return np.require(values, dtype=dtype, requirements=["C", "W"])


def _require(frame: pl.DataFrame, columns: tuple[str, ...] | list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}")


def _examples(values: pl.Series) -> str:
    shown = values.head(5).to_list()
    return ", ".join(map(str, shown)) + (" ..." if values.len() > 5 else "")


def _codes(column: pl.Expr, keys: pl.Series, default: int | None = None) -> pl.Expr:
    """Position of each value in ``keys`` (``default`` for a value not there) as Int64."""
    if keys.is_empty():  # (replace_strict with no keys leaves the column as it is)
        return pl.lit(-1 if default is None else default, dtype=pl.Int64)
    codes = range(keys.len())
    if default is None:
        return column.replace_strict(keys, codes, return_dtype=pl.Int64)
    return column.replace_strict(keys, codes, default=default, return_dtype=pl.Int64)


def _prepare_warehouses(warehouses: pl.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Warehouse ids sorted (their index is the tie-break order) and their coordinates."""
    _require(warehouses, ["warehouse_id", "lat", "lon"], "WAREHOUSES")
    frame = warehouses.select(
        pl.col("warehouse_id").cast(pl.String),
        pl.col("lat").cast(pl.Float64),
        pl.col("lon").cast(pl.Float64),
    ).sort("warehouse_id")
    if frame["warehouse_id"].null_count():
        raise ValueError("WAREHOUSES has a row without warehouse_id")
    repeated = frame.filter(pl.col("warehouse_id").is_duplicated())["warehouse_id"].unique()
    if repeated.len():
        raise ValueError(f"WAREHOUSES lists warehouse_id more than once: {_examples(repeated)}")
    lat, lon = frame["lat"].to_numpy(), frame["lon"].to_numpy()
    unplaced = frame.filter(pl.Series(np.isnan(lat) | np.isnan(lon)))["warehouse_id"]
    if unplaced.len():
        raise ValueError(f"WAREHOUSES has no lat/lon for: {_examples(unplaced)}")
    return frame["warehouse_id"].to_list(), _array(lat, np.float64), _array(lon, np.float64)


def _prepare_stock(
    stock: pl.DataFrame, wh_ids: list[str]
) -> tuple[pl.DataFrame, pl.Series, np.ndarray]:
    """STOCK rows with warehouse/SKU codes, the SKU dictionary, and the ATP matrix."""
    _require(stock, list(STOCK_SCHEMA), "STOCK")
    rows = stock.select(
        pl.col("warehouse_id").cast(pl.String),
        pl.col("sku").cast(pl.String),
        pl.col("atp").cast(pl.Int64).fill_null(0).clip(lower_bound=0),
    )
    if rows["warehouse_id"].null_count() or rows["sku"].null_count():
        raise ValueError("STOCK has a row without warehouse_id or sku")
    unknown = rows.filter(~pl.col("warehouse_id").is_in(wh_ids))["warehouse_id"].unique().sort()
    if unknown.len():
        raise ValueError(f"STOCK names warehouse(s) not in WAREHOUSES: {_examples(unknown)}")
    repeated = rows.filter(pl.struct("warehouse_id", "sku").is_duplicated())
    if repeated.height:
        pairs = repeated.select(pl.format("{}/{}", "warehouse_id", "sku")).to_series().unique()
        raise ValueError(f"STOCK repeats (warehouse_id, sku): {_examples(pairs.sort())}")
    skus = rows["sku"].unique().sort()
    rows = rows.sort("warehouse_id", "sku").with_columns(
        _codes(pl.col("warehouse_id"), pl.Series(wh_ids, dtype=pl.String)).alias("w"),
        _codes(pl.col("sku"), skus).alias("k"),
    )
    # SKU-major: the warehouses' ATP of one SKU share a cache line.
    atp = np.zeros((skus.len(), len(wh_ids)), dtype=np.int64)
    atp[rows["k"].to_numpy(), rows["w"].to_numpy()] = rows["atp"].to_numpy()
    return rows, skus, atp


def _prepare_lines(
    lines: pl.DataFrame, skus: pl.Series
) -> tuple[pl.DataFrame, np.ndarray, pl.DataFrame]:
    """Lines sorted by (order_key, line_no) with SKU codes, order offsets, and order headers.

    ``line_start[o]:line_start[o + 1]`` are order ``o``'s lines; ``order_frame`` row ``o``
    holds the order-level columns of its first line, orders in ``order_key`` order.
    """
    _require(lines, LINE_COLUMNS, "LINES")
    table = lines.select(
        pl.col("order_key").cast(pl.String),
        pl.col("line_no").cast(pl.Int32),
        pl.col("sku").cast(pl.String),
        pl.col("quantity").cast(pl.Int64),
    )
    for column in table.columns:
        if table[column].null_count():
            raise ValueError(f"LINES has a row without {column}")
    order_columns = [c for c in LINE_COLUMNS if c not in table.columns]
    if USED_WAREHOUSES in lines.columns:
        order_columns.append(USED_WAREHOUSES)
    table = (
        pl.concat([table, lines.select(order_columns)], how="horizontal")
        .sort("order_key", "line_no")
        .with_columns(
            _codes(pl.col("sku"), skus, default=-1).alias("sku_code"),
        )
    )
    same_order = table["order_key"] == table["order_key"].shift(1)
    repeated = table.filter(same_order & (table["line_no"] == table["line_no"].shift(1)))
    if repeated.height:
        keys = repeated.select(pl.format("{}#{}", "order_key", "line_no")).to_series()
        raise ValueError(f"LINES repeats (order_key, line_no): {_examples(keys)}")
    first = ~same_order.fill_null(False).to_numpy()
    line_start = np.append(np.flatnonzero(first), table.height).astype(np.int64)
    order_frame = table.filter(pl.Series(first)).select(order_columns)
    unknown = order_frame.filter(
        pl.col("service_level").is_not_null() & ~pl.col("service_level").is_in(SERVICE_LEVELS)
    )["service_level"].unique()
    if unknown.len():
        raise ValueError(f"unknown service_level(s): {_examples(unknown)}")
    order_frame = order_frame.with_columns(
        pl.col("ship_complete").cast(pl.Boolean).fill_null(False),
        pl.col("ship_lat").cast(pl.Float64),
        pl.col("ship_lon").cast(pl.Float64),
    )
    return table.drop(order_columns), line_start, order_frame


def _prior_warehouses(order_frame: pl.DataFrame, wh_ids: list[str]) -> np.ndarray:
    """orders x warehouses: True where the order already ships from the warehouse."""
    prior = np.zeros((order_frame.height, len(wh_ids)), dtype=np.bool_)
    if USED_WAREHOUSES not in order_frame.columns or not order_frame.height:
        return prior
    used = (
        order_frame.select(pl.col(USED_WAREHOUSES).cast(pl.List(pl.String)))
        .with_row_index("o")
        .explode(USED_WAREHOUSES)
        .drop_nulls(USED_WAREHOUSES)
    )
    unknown = used.filter(~pl.col(USED_WAREHOUSES).is_in(wh_ids))[USED_WAREHOUSES].unique()
    if unknown.len():
        raise ValueError(
            f"used_warehouses names warehouse(s) not in WAREHOUSES: {_examples(unknown)}"
        )
    codes = used.with_columns(
        _codes(pl.col(USED_WAREHOUSES), pl.Series(wh_ids, dtype=pl.String)).alias("w")
    )
    prior[codes["o"].to_numpy(), codes["w"].to_numpy()] = True
    return prior


def _sort_key(series: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(is null, value) of a timestamp column as integer arrays for ``np.lexsort``."""
    missing = series.is_null().to_numpy()
    values = series.to_physical().cast(pl.Int64).fill_null(0).to_numpy()
    return missing, values


def _priority(order_frame: pl.DataFrame) -> np.ndarray:
    """Order indexes in priority order; ties end in order_key order (the frame's order)."""
    service = (
        order_frame["service_level"]
        .replace_strict(
            list(SERVICE_LEVELS),
            list(range(len(SERVICE_LEVELS))),
            default=len(SERVICE_LEVELS) - 1,
            return_dtype=pl.Int8,
        )
        .fill_null(len(SERVICE_LEVELS) - 1)
        .to_numpy()
    )
    ship_by_missing, ship_by = _sort_key(order_frame["ship_by"])
    ordered_missing, ordered_at = _sort_key(order_frame["ordered_at"])
    # np.lexsort is stable and sorts by the last key first.
    order = np.lexsort((ordered_at, ordered_missing, ship_by, ship_by_missing, service))
    return order.astype(np.int64)


def _allocation_frame(
    table: pl.DataFrame,
    line_start: np.ndarray,
    slot_wh: np.ndarray,
    slot_qty: np.ndarray,
    outcome: np.ndarray,
    wh_ids: list[str],
) -> pl.DataFrame:
    """Rows of the per-line slots (kept in warehouse order) in (order_key, line_no) order."""
    taken = slot_qty > 0
    line_index, _ = np.nonzero(taken)
    order_of_line = np.repeat(np.arange(len(line_start) - 1), np.diff(line_start))
    rules = pl.Series(["", "", "single", "split"])  # indexed by outcome + 1
    return pl.DataFrame(
        {
            "order_key": table["order_key"].gather(line_index),
            "line_no": table["line_no"].gather(line_index),
            "warehouse_id": pl.Series(wh_ids, dtype=pl.String).gather(slot_wh[taken]),
            "quantity": slot_qty[taken],
            "rule": rules.gather(outcome[order_of_line[line_index]].astype(np.int64) + 1),
        },
        schema=ALLOCATION_SCHEMA,
    )


@numba.njit(cache=True)
def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km (same formula, same operation order as the oracle's)."""
    return _haversine(lat1, lon1, math.cos(lat1 * _RAD), lat2, lon2, math.cos(lat2 * _RAD))


@numba.njit(cache=True)
def _haversine(lat1, lon1, cos_lat1, lat2, lon2, cos_lat2):
    """:func:`haversine_km` with the latitudes' cosines given (computed once per point)."""
    half_dphi = math.sin((lat2 - lat1) * _RAD / 2.0)
    half_dlmb = math.sin((lon2 - lon1) * _RAD / 2.0)
    a = half_dphi * half_dphi + cos_lat1 * cos_lat2 * half_dlmb * half_dlmb
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(a, 1.0)))


@numba.njit(cache=True)
def _rank_warehouses(lat, lon, wh_lat, wh_lon, wh_cos, dist, rank):
    """Fill ``rank`` with warehouse indexes nearest first; ties keep index (= id) order."""
    n = wh_lat.shape[0]
    unplaced = math.isnan(lat) or math.isnan(lon)
    cos_lat = 0.0 if unplaced else math.cos(lat * _RAD)
    for w in range(n):
        if unplaced:
            dist[w] = 0.0
        else:
            dist[w] = _haversine(lat, lon, cos_lat, wh_lat[w], wh_lon[w], wh_cos[w])
        rank[w] = w
    for i in range(1, n):  # insertion sort: stable, and n is a handful
        w = rank[i]
        j = i - 1
        while j >= 0 and dist[rank[j]] > dist[w]:
            rank[j + 1] = rank[j]
            j -= 1
        rank[j + 1] = w


@numba.njit(cache=True)
def _put(slot_wh, slot_qty, line, w, qty):
    """Record ``qty`` units of ``line`` from warehouse ``w``, slots kept in warehouse order."""
    k = 0
    while slot_qty[line, k] > 0:
        k += 1
    while k > 0 and slot_wh[line, k - 1] > w:
        slot_wh[line, k] = slot_wh[line, k - 1]
        slot_qty[line, k] = slot_qty[line, k - 1]
        k -= 1
    slot_wh[line, k] = w
    slot_qty[line, k] = qty


@numba.njit(cache=True)
def _walk_orders(
    priority,
    line_start,
    sku_code,
    quantity,
    ship_complete,
    ship_lat,
    ship_lon,
    wh_lat,
    wh_lon,
    atp,
    prior,
    max_splits,
    slots,
    max_order_lines,
):
    """The greedy walk over orders in priority order; ``atp`` is reduced in place.

    ``prior[o, w]``: order ``o`` already ships from warehouse ``w`` (counts towards
    ``max_splits``; all False gives exactly the DESIGN rules).

    Returns per line up to ``slots`` (warehouse, units) pairs and the units left
    (backordered), and per order its outcome code.
    """
    n_lines = quantity.shape[0]
    n_wh = wh_lat.shape[0]
    slot_wh = np.zeros((n_lines, slots), np.int64)
    slot_qty = np.zeros((n_lines, slots), np.int64)
    left = np.zeros(n_lines, np.int64)
    outcome = np.full(line_start.shape[0] - 1, _NO_OPEN_LINES, np.int8)
    sku_slot = np.full(atp.shape[0], -1, np.int64)  # SKU code -> index in the order's SKUs
    order_sku = np.empty(max_order_lines, np.int64)
    demand = np.empty(max_order_lines, np.int64)
    remaining = np.empty(max_order_lines, np.int64)
    dist = np.empty(n_wh, np.float64)
    rank = np.empty(n_wh, np.int64)
    wh_cos = np.empty(n_wh, np.float64)
    for w in range(n_wh):
        wh_cos[w] = math.cos(wh_lat[w] * _RAD)

    for o in priority:
        first, end = line_start[o], line_start[o + 1]
        n_skus = 0
        unknown_sku = False
        open_units = 0
        for i in range(first, end):
            q = quantity[i]
            if q <= 0:
                continue
            left[i] = q
            open_units += q
            c = sku_code[i]
            if c < 0:
                unknown_sku = True
            elif sku_slot[c] < 0:
                sku_slot[c] = n_skus
                order_sku[n_skus] = c
                demand[n_skus] = q
                n_skus += 1
            else:
                demand[sku_slot[c]] += q
        if open_units == 0:
            continue
        outcome[o] = _UNALLOCATED
        _rank_warehouses(ship_lat[o], ship_lon[o], wh_lat, wh_lon, wh_cos, dist, rank)
        n_prior = 0
        for w in range(n_wh):
            if prior[o, w]:
                n_prior += 1

        single = -1
        if not unknown_sku:
            for r in range(n_wh):
                w = rank[r]
                if n_prior >= max_splits and not prior[o, w]:
                    continue
                fits = True
                for j in range(n_skus):
                    if demand[j] > atp[order_sku[j], w]:
                        fits = False
                        break
                if fits:
                    single = w
                    break

        if single >= 0:
            for i in range(first, end):
                if left[i] > 0:
                    atp[sku_code[i], single] -= left[i]
                    _put(slot_wh, slot_qty, i, single, left[i])
                    left[i] = 0
            outcome[o] = _SINGLE
        elif not ship_complete[o]:
            for j in range(n_skus):
                remaining[j] = demand[j]
            used = n_prior
            while open_units > 0:
                best = -1
                best_cover = 0
                for r in range(n_wh):
                    w = rank[r]
                    if used >= max_splits and not prior[o, w]:
                        continue
                    cover = 0
                    for j in range(n_skus):
                        cover += min(remaining[j], atp[order_sku[j], w])
                    if cover > best_cover:
                        best = w
                        best_cover = cover
                if best < 0:
                    break
                for i in range(first, end):
                    c = sku_code[i]
                    if left[i] > 0 and c >= 0:
                        take = min(left[i], atp[c, best])
                        if take > 0:
                            atp[c, best] -= take
                            _put(slot_wh, slot_qty, i, best, take)
                            left[i] -= take
                            remaining[sku_slot[c]] -= take
                            open_units -= take
                if not prior[o, best]:
                    used += 1
                outcome[o] = _SPLIT

        for j in range(n_skus):
            sku_slot[order_sku[j]] = -1
    return slot_wh, slot_qty, left, outcome
