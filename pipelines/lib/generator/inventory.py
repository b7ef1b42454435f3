"""Inventory files sized against the generated demand: an opening snapshot, then purchase
receipts, stock adjustments and cycle counts over the order window.

Opening snapshot (``inventory_snapshot_YYYYMMDD.csv``, ``kind=snapshot``, counted at the
window's start): stock covers a seeded 62-78% of the units demanded, spread unevenly: some SKUs
are out everywhere, some have plenty, and each SKU's stock is split unequally between the
warehouses that carry it. SKUs nobody ordered get a small stock so every stocked
(warehouse, sku) pair of product_locations.csv has a row.

Receipts (``inventory_receipts_YYYYMMDD.csv``): part of the shortfall of SKUs ordered beyond
their stock (seeded 10-20% of the shortfall units) arrives in the first 60% of the window, split
over one to three of the warehouses carrying each SKU, plus a few replenishments of well-stocked
SKUs. Lines of one warehouse are grouped into purchase orders (``PO-000123``) received together.

Adjustments (``inventory_adjustments_YYYYMMDD.csv``): about 1% of the pairs, mostly damage
(-1..-3, never below the book stock), some found stock (+1..+2), before the counts.

Cycle counts (``inventory_count_YYYYMMDD.csv``, ``kind=count``): about 5% of the pairs, one
session per warehouse late in the window, after every receipt and adjustment. The counted
on_hand is the book on_hand as of counted_at (snapshot + receipts + adjustments up to then) plus
a discrepancy: mostly 0, some -1..-3, a few +1..+2, never below 0.

Everything works on the (warehouse, sku) pairs of the reference (a few thousand rows), so the
size of the order simulation only matters for the demand sums.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.lib.generator.reference import Reference
from pipelines.lib.generator.simulate import Simulation

ISO = "%Y-%m-%dT%H:%M:%SZ"
HOUR = 3600

#: Where in the window (share of its length) each kind of movement happens.
RECEIPTS_WINDOW = (0.04, 0.60)
ADJUSTMENTS_WINDOW = (0.04, 0.75)
COUNT_SESSIONS_WINDOW = (0.80, 0.88)

DAMAGE_NOTES = (
    "damaged in handling",
    "crushed carton",
    "water damage",
    "broken seal, unsellable",
)
FOUND_NOTES = ("found in returns area", "found during putaway", "found on wrong shelf")


@dataclass(frozen=True)
class Snapshot:
    name: str
    rows: int
    counted_at: str
    on_hand_units: int
    demand_units: int
    #: (on hand - safety stock) / demand over the SKUs that were ordered: what allocation
    #: can promise against demand
    coverage: float
    #: warehouse_id, sku, on_hand (the snapshot rows), safety_stock and demand (of the sku);
    #: not written
    positions: pl.DataFrame = field(repr=False, compare=False)


@dataclass(frozen=True)
class Receipts:
    name: str
    rows: int
    units: int
    purchase_orders: int
    first_received_at: str | None
    last_received_at: str | None
    #: units ordered beyond the snapshot stock, over the SKUs that were ordered
    shortfall_units: int
    #: receipt units of SKUs that were short (the rest replenish well-stocked SKUs)
    shortfall_receipt_units: int


@dataclass(frozen=True)
class Adjustments:
    name: str
    rows: int
    #: net signed units
    units: int
    units_out: int
    units_in: int


@dataclass(frozen=True)
class Counts:
    name: str
    rows: int
    #: counted on_hand summed over the rows
    units: int
    #: book on_hand as of each row's counted_at, summed
    book_units: int
    #: counted minus book, summed: the net adjustment the counts should book
    expected_difference: int
    rows_with_difference: int
    first_counted_at: str | None
    last_counted_at: str | None


@dataclass(frozen=True)
class Movements:
    receipts: Receipts
    adjustments: Adjustments
    counts: Counts

    @property
    def names(self) -> tuple[str, str, str]:
        """File names in the order they were written (the order of their events)."""
        return (self.receipts.name, self.adjustments.name, self.counts.name)


def write_inventory_snapshot(
    sim: Simulation, ref: Reference, out_dir: Path, rng: np.random.Generator
) -> Snapshot:
    locations = ref.locations.sort("warehouse_id", "sku")
    demand = (
        sim.lines.filter(pl.col("requires_shipping") & (pl.col("quantity") > 0))
        .group_by("sku")
        .agg(pl.col("quantity").sum().alias("demand"))
    )
    skus = locations.select("sku").unique().sort("sku").join(demand, on="sku", how="left")
    skus = skus.with_columns(pl.col("demand").fill_null(0))
    d = skus["demand"].to_numpy().astype(np.float64)
    target = rng.uniform(0.62, 0.78)
    spread = np.minimum(rng.gamma(1.3, 1 / 1.3, len(d)), 3.0)
    want = d * spread
    scale = target * d.sum() / want.sum() if want.sum() > 0 else 0.0
    stock = np.floor(want * scale).astype(np.int64)
    short = round(target * d.sum()) - int(stock.sum())
    if short > 0:  # hand the rounding remainder to the SKUs with the largest fractions
        frac = want * scale - stock
        stock[np.argsort(-frac, kind="stable")[:short]] += 1
    idle = d == 0
    stock[idle] = rng.integers(0, 12, int(idle.sum()))
    skus = skus.with_columns(stock=pl.Series(stock))

    rows = locations.join(skus.select("sku", "stock", "demand"), on="sku", how="left")
    # Split each SKU's stock unequally over the warehouses that carry it.
    share = rng.gamma(0.7, 1.0, rows.height) + 1e-9
    rows = rows.with_columns(share=pl.Series(share))
    rows = rows.with_columns(
        exact=pl.col("stock") * pl.col("share") / pl.col("share").sum().over("sku")
    ).with_columns(on_hand=pl.col("exact").floor().cast(pl.Int64))
    rows = rows.with_columns(
        rest=pl.col("stock") - pl.col("on_hand").sum().over("sku"),
        rank=(pl.col("exact") - pl.col("on_hand")).rank("ordinal", descending=True).over("sku"),
    ).with_columns(on_hand=pl.col("on_hand") + (pl.col("rank") <= pl.col("rest")).cast(pl.Int64))
    # The shares above are what allocation may promise: on top, each pair holds its safety
    # stock (ATP = on hand - committed - safety stock). A SKU nobody ordered sits between its
    # reorder point and max level, so only what demand ran down shows on the reorder report.
    rows = rows.join(ref.policy, on=["warehouse_id", "sku"], how="left", maintain_order="left")
    rows = rows.with_columns(pl.col("safety_stock", "reorder_point", "max_level").fill_null(0))
    idle_level = (
        pl.col("reorder_point")
        + 1
        + (pl.Series(rng.random(rows.height)) * (pl.col("max_level") - pl.col("reorder_point")))
        .floor()
        .cast(pl.Int64)
    )
    rows = rows.with_columns(
        on_hand=pl.when(pl.col("demand") > 0)
        .then(pl.col("on_hand") + pl.col("safety_stock"))
        .otherwise(pl.max_horizontal("on_hand", idle_level))
    )

    counted_at = sim.start
    stamp = counted_at.strftime(ISO)
    name = f"inventory_snapshot_{counted_at:%Y%m%d}.csv"
    out = rows.select(
        "warehouse_id", "sku", "on_hand", counted_at=pl.lit(stamp), kind=pl.lit("snapshot")
    )
    out.write_csv(out_dir / name, line_terminator="\n")
    ordered = skus.filter(pl.col("demand") > 0)
    demand_units = int(ordered["demand"].sum())
    on_hand = int(ordered["stock"].sum())
    positions = rows.select("warehouse_id", "sku", "on_hand", "safety_stock", "demand")
    return Snapshot(
        name=name,
        rows=out.height,
        counted_at=stamp,
        on_hand_units=int(out["on_hand"].sum()),
        demand_units=demand_units,
        coverage=round(on_hand / demand_units, 4) if demand_units else 0.0,
        positions=positions,
    )


def write_inventory_movements(
    sim: Simulation, snapshot: Snapshot, out_dir: Path, rng: np.random.Generator
) -> Movements:
    """Write receipts, adjustments and cycle counts (in that order) after ``snapshot``."""
    rng_receipts, rng_adjust, rng_count = rng.spawn(3)
    pos = snapshot.positions.with_columns(pl.col("demand").cast(pl.Int64)).sort(
        "warehouse_id", "sku"
    )
    start = _epoch_s(sim.start)
    span = max(_epoch_s(sim.end) - start, 4 * HOUR)

    receipts, shortfall_units = _receipts(pos, rng_receipts, start, span)
    adjustments = _adjustments(pos, receipts, rng_adjust, start, span)
    counts = _counts(pos, receipts, adjustments, rng_count, start, span)

    receipts_out = receipts.select(
        "warehouse_id",
        "sku",
        "quantity",
        received_at=_iso("at"),
        reference="reference",
        note="note",
    )
    receipts_name = f"inventory_receipts_{_file_day(receipts, sim.start)}.csv"
    receipts_out.write_csv(out_dir / receipts_name, line_terminator="\n")
    adjust_out = adjustments.select(
        "warehouse_id",
        "sku",
        "quantity",
        adjusted_at=_iso("at"),
        reference="reference",
        note="note",
    )
    adjust_name = f"inventory_adjustments_{_file_day(adjustments, sim.start)}.csv"
    adjust_out.write_csv(out_dir / adjust_name, line_terminator="\n")
    counts_out = counts.select(
        "warehouse_id",
        "sku",
        "on_hand",
        counted_at=_iso("at"),
        kind=pl.lit("count"),
        reference="reference",
        note="note",
    )
    counts_name = f"inventory_count_{_file_day(counts, sim.start)}.csv"
    counts_out.write_csv(out_dir / counts_name, line_terminator="\n")

    def stamps(times: pl.Series) -> tuple[str | None, str | None]:
        if times.is_empty():
            return None, None
        return times.min(), times.max()  # ISO strings order like the times

    first_r, last_r = stamps(receipts_out["received_at"])
    first_c, last_c = stamps(counts_out["counted_at"])
    q_adj = adjustments["quantity"]
    difference = counts["on_hand"] - counts["book"]
    return Movements(
        receipts=Receipts(
            name=receipts_name,
            rows=receipts.height,
            units=int(receipts["quantity"].sum()),
            purchase_orders=receipts["reference"].n_unique(),
            first_received_at=first_r,
            last_received_at=last_r,
            shortfall_units=shortfall_units,
            shortfall_receipt_units=int(receipts.filter(pl.col("short"))["quantity"].sum()),
        ),
        adjustments=Adjustments(
            name=adjust_name,
            rows=adjustments.height,
            units=int(q_adj.sum()),
            units_out=int(-q_adj.filter(q_adj < 0).sum()),
            units_in=int(q_adj.filter(q_adj > 0).sum()),
        ),
        counts=Counts(
            name=counts_name,
            rows=counts.height,
            units=int(counts["on_hand"].sum()),
            book_units=int(counts["book"].sum()),
            expected_difference=int(difference.sum()),
            rows_with_difference=int((difference != 0).sum()),
            first_counted_at=first_c,
            last_counted_at=last_c,
        ),
    )


def _epoch_s(t: dt.datetime) -> int:
    return int(t.timestamp())


def _iso(column: str) -> pl.Expr:
    return pl.from_epoch(pl.col(column), time_unit="s").dt.strftime(ISO)


def _file_day(frame: pl.DataFrame, default: dt.datetime) -> str:
    """YYYYMMDD of the file's last event (the day it could be exported at the earliest)."""
    if frame.is_empty():
        return f"{default:%Y%m%d}"
    last = dt.datetime.fromtimestamp(int(frame["at"].max()), tz=dt.UTC)
    return f"{last:%Y%m%d}"


def _times(rng: np.random.Generator, start: int, span: int, window: tuple[float, float], n: int):
    """``n`` epoch seconds in ``window`` (shares of the span), on whole minutes."""
    lo, hi = start + int(span * window[0]), start + int(span * window[1])
    t = rng.integers(lo, hi, n, endpoint=True)
    return np.maximum(t - t % 60, lo - lo % 60 + 60)


def _numbered(prefix: str, first: int) -> pl.Expr:
    """``PREFIX-000123`` numbers counting up from ``first`` in row order."""
    number = (pl.int_range(pl.len()) + first).cast(pl.String).str.zfill(6)
    return pl.format(prefix + "-{}", number)


def _case_round(q: pl.Expr) -> pl.Expr:
    """Whole cases: multiples of 12 from 48 units, of 6 from 12 units."""
    return pl.when(q >= 48).then(q // 12 * 12).when(q >= 12).then(q // 6 * 6).otherwise(q)


def _receipts(
    pos: pl.DataFrame, rng: np.random.Generator, start: int, span: int
) -> tuple[pl.DataFrame, int]:
    """warehouse_id, sku, quantity, at, reference, note, short; and the shortfall units."""
    skus = (
        pos.group_by("sku")
        .agg(
            demand=pl.col("demand").first(),
            stock=(pl.col("on_hand") - pl.col("safety_stock")).sum(),
            n_wh=pl.len(),
        )
        .sort("sku")
    )
    shortfall = (skus["demand"] - skus["stock"]).clip(lower_bound=0).to_numpy()
    shortfall_units = int(shortfall.sum())

    # Short SKUs in a seeded order, topped up (25-60% of their shortfall each) until the
    # receipts reach the target share of the total shortfall.
    short_idx = np.flatnonzero(shortfall > 0)
    target = rng.uniform(0.10, 0.20) * shortfall_units
    order = short_idx[rng.permutation(len(short_idx))]
    topup = np.maximum(np.floor(shortfall[order] * rng.uniform(0.25, 0.6, len(order))), 1)
    cum = np.cumsum(topup)
    keep = (cum - topup) < target
    chosen = pl.DataFrame(
        {
            "sku": skus["sku"].gather(order[keep]),
            "units": topup[keep].astype(np.int64),
            "spread": rng.integers(1, 4, int(keep.sum())),
            "short": np.ones(int(keep.sum()), dtype=bool),
        },
        schema={"sku": pl.String, "units": pl.Int64, "spread": pl.Int64, "short": pl.Boolean},
    )

    # A few replenishments of ordered SKUs with stock for all their demand, one warehouse each.
    well_idx = np.flatnonzero(((skus["stock"] >= skus["demand"]) & (skus["demand"] > 0)).to_numpy())
    n_well = min(len(well_idx), max(1, round(0.01 * skus.height)))
    well = np.sort(rng.choice(well_idx, n_well, replace=False)) if n_well else well_idx[:0]
    base = np.maximum(skus["demand"].to_numpy()[well], skus["stock"].to_numpy()[well])
    well_units = np.maximum(np.round(base * rng.uniform(0.05, 0.15, n_well)), 6)
    chosen = pl.concat(
        [
            chosen,
            pl.DataFrame(
                {
                    "sku": skus["sku"].gather(well),
                    "units": well_units.astype(np.int64),
                    "spread": np.ones(n_well, dtype=np.int64),
                    "short": np.zeros(n_well, dtype=bool),
                },
                schema=chosen.schema,
            ),
        ]
    ).sort("sku")

    # Split each SKU's units over ``spread`` of the warehouses carrying it (largest remainder).
    lines = pos.select("warehouse_id", "sku").join(chosen, on="sku", how="inner")
    lines = lines.sort("warehouse_id", "sku").with_columns(
        pick=pl.Series(rng.random(lines.height)), share=pl.Series(rng.gamma(1.5, 1.0, lines.height))
    )
    lines = lines.filter(pl.col("pick").rank("ordinal").over("sku") <= pl.col("spread"))
    lines = lines.with_columns(
        exact=pl.col("units") * pl.col("share") / pl.col("share").sum().over("sku")
    ).with_columns(quantity=pl.col("exact").floor().cast(pl.Int64))
    lines = (
        lines.with_columns(
            rest=pl.col("units") - pl.col("quantity").sum().over("sku"),
            rank=(pl.col("exact") - pl.col("quantity"))
            .rank("ordinal", descending=True)
            .over("sku"),
        )
        .with_columns(
            quantity=pl.col("quantity") + (pl.col("rank") <= pl.col("rest")).cast(pl.Int64)
        )
        .with_columns(quantity=_case_round(pl.col("quantity")))
        .filter(pl.col("quantity") > 0)
        .select("warehouse_id", "sku", "quantity", "short")
        .sort("warehouse_id", "sku")
    )

    # Purchase orders: about five lines each, per warehouse, received together; numbered in
    # the order they arrive.
    per_wh = lines.group_by("warehouse_id").agg(n=pl.len())
    lines = lines.join(per_wh, on="warehouse_id", how="left", maintain_order="left")
    slots = np.ceil(lines["n"].to_numpy() / 5).astype(np.int64)
    lines = lines.with_columns(
        slot=pl.Series(rng.integers(0, np.maximum(slots, 1)), dtype=pl.Int64)
    )
    orders = lines.select("warehouse_id", "slot").unique().sort("warehouse_id", "slot")
    orders = orders.with_columns(
        at=pl.Series(_times(rng, start, span, RECEIPTS_WINDOW, orders.height), dtype=pl.Int64)
    ).sort("at", "warehouse_id", "slot")
    orders = orders.with_columns(reference=_numbered("PO", int(rng.integers(1000, 9000))))
    receipts = (
        lines.join(orders, on=["warehouse_id", "slot"], how="left")
        .with_columns(
            note=pl.when(pl.col("short"))
            .then(pl.lit("backorder replenishment"))
            .otherwise(pl.lit("regular replenishment"))
        )
        .select("warehouse_id", "sku", "quantity", "at", "reference", "note", "short")
        .sort("at", "reference", "warehouse_id", "sku")
    )
    return receipts, shortfall_units


def _book(pos: pl.DataFrame, rows: pl.DataFrame, *movements: pl.DataFrame) -> pl.Series:
    """Book on_hand of each of ``rows`` (warehouse_id, sku, at) as of its ``at``: the snapshot
    plus every movement (warehouse_id, sku, quantity, at) of the pair up to then."""
    keyed = rows.select("warehouse_id", "sku", "at").with_row_index("_row")
    book = keyed.join(
        pos.select("warehouse_id", "sku", "on_hand"), on=["warehouse_id", "sku"], how="left"
    ).select("_row", moved=pl.col("on_hand").fill_null(0))
    for m in movements:
        moved = (
            keyed.join(
                m.select("warehouse_id", "sku", "quantity", m_at="at"),
                on=["warehouse_id", "sku"],
                how="inner",
            )
            .filter(pl.col("m_at") <= pl.col("at"))
            .select("_row", moved="quantity")
        )
        book = pl.concat([book, moved])
    total = book.group_by("_row").agg(pl.col("moved").sum()).sort("_row")
    return total["moved"].cast(pl.Int64)


def _pick_pairs(pos: pl.DataFrame, rng: np.random.Generator, share: float) -> pl.DataFrame:
    """About ``share`` of the pairs (at least one), in pair order."""
    n = min(pos.height, max(1, round(share * pos.height))) if pos.height else 0
    picked = np.sort(rng.choice(pos.height, n, replace=False)) if n else np.zeros(0, np.int64)
    return pos.select("warehouse_id", "sku")[picked]


def _adjustments(
    pos: pl.DataFrame, receipts: pl.DataFrame, rng: np.random.Generator, start: int, span: int
) -> pl.DataFrame:
    """warehouse_id, sku, quantity, at, reference, note: ~1% of the pairs, one row each.

    About three in four are damage (-1..-3) on pairs with stock, never more than the book
    on_hand then; the rest found stock (+1..+2) anywhere.
    """
    n = min(pos.height, max(1, round(0.01 * pos.height))) if pos.height else 0
    stocked = np.flatnonzero(pos["on_hand"].to_numpy() > 0)
    n_damage = min(int(rng.binomial(n, 0.75)) if n else 0, len(stocked))
    damaged = rng.choice(stocked, n_damage, replace=False)
    others = np.setdiff1d(np.arange(pos.height), damaged)
    found_at = rng.choice(others, n - n_damage, replace=False)
    picked = np.concatenate([damaged, found_at]).astype(np.int64)
    found = np.arange(n) >= n_damage
    rows = pos.select("warehouse_id", "sku")[picked].with_columns(
        at=pl.Series(_times(rng, start, span, ADJUSTMENTS_WINDOW, n), dtype=pl.Int64)
    )
    book = _book(pos, rows, receipts).to_numpy()
    size = np.where(found, rng.integers(1, 3, n), rng.integers(1, 4, n))
    found |= book == 0  # nothing there to damage (not reached: receipts only add stock)
    quantity = np.where(found, size, -np.minimum(size, book))
    note = np.where(
        found,
        np.array(FOUND_NOTES)[rng.integers(0, len(FOUND_NOTES), n)],
        np.array(DAMAGE_NOTES)[rng.integers(0, len(DAMAGE_NOTES), n)],
    )
    first_ref = int(rng.integers(100, 900))
    rows = rows.with_columns(
        quantity=pl.Series(quantity, dtype=pl.Int64), note=pl.Series(note, dtype=pl.String)
    ).sort("at", "warehouse_id", "sku")
    return rows.with_columns(reference=_numbered("ADJ", first_ref)).select(
        "warehouse_id", "sku", "quantity", "at", "reference", "note"
    )


def _counts(
    pos: pl.DataFrame,
    receipts: pl.DataFrame,
    adjustments: pl.DataFrame,
    rng: np.random.Generator,
    start: int,
    span: int,
) -> pl.DataFrame:
    """warehouse_id, sku, on_hand (counted), book, at, reference, note: ~5% of the pairs, one
    counting session per warehouse (a row every 1-4 minutes in sku order)."""
    rows = _pick_pairs(pos, rng, 0.05).sort("warehouse_id", "sku")
    n = rows.height
    sessions = rows.select("warehouse_id").unique().sort("warehouse_id")
    sessions = sessions.with_columns(
        session=pl.Series(
            _times(rng, start, span, COUNT_SESSIONS_WINDOW, sessions.height), dtype=pl.Int64
        )
    )
    latest = start + span - 60
    rows = (
        rows.join(sessions, on="warehouse_id", how="left", maintain_order="left")
        .with_columns(gap=pl.Series(rng.integers(60, 241, n), dtype=pl.Int64))
        .with_columns(
            at=pl.min_horizontal(
                pl.col("session") + pl.col("gap").cum_sum().over("warehouse_id"), pl.lit(latest)
            )
        )
    )
    rows = rows.with_columns(at=pl.col("at") - pl.col("at") % 60)
    book = _book(pos, rows, receipts, adjustments).to_numpy()
    u = rng.random(n)
    discrepancy = np.where(
        u < 0.80, 0, np.where(u < 0.95, -rng.integers(1, 4, n), rng.integers(1, 3, n))
    )
    counted = np.maximum(book + discrepancy, 0)
    return (
        rows.with_columns(
            on_hand=pl.Series(counted, dtype=pl.Int64),
            book=pl.Series(book, dtype=pl.Int64),
            reference=pl.format(
                "CC-{}-{}",
                pl.from_epoch(pl.col("session"), time_unit="s").dt.strftime("%Y%m%d"),
                pl.col("warehouse_id"),
            ),
        )
        .with_columns(note=pl.when(pl.col("on_hand") != pl.col("book")).then(pl.lit("recounted")))
        .select("warehouse_id", "sku", "on_hand", "book", "at", "reference", "note")
    )
