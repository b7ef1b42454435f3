"""An opening inventory snapshot sized against the generated demand.

Stock covers a seeded 62-78% of the units demanded, spread unevenly: some SKUs are out
everywhere, some have plenty, and each SKU's stock is split unequally between the
warehouses that carry it. SKUs nobody ordered get a small stock so every stocked
(warehouse, sku) pair of product_locations.csv has a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.lib.generator.reference import Reference
from pipelines.lib.generator.simulate import Simulation


@dataclass(frozen=True)
class Snapshot:
    name: str
    rows: int
    counted_at: str
    on_hand_units: int
    demand_units: int
    #: on hand / demand over the SKUs that were ordered
    coverage: float


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

    rows = locations.join(skus.select("sku", "stock"), on="sku", how="left")
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

    counted_at = sim.start
    stamp = counted_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    name = f"inventory_snapshot_{counted_at:%Y%m%d}.csv"
    out = rows.select("warehouse_id", "sku", "on_hand", counted_at=pl.lit(stamp))
    out.write_csv(out_dir / name, line_terminator="\n")
    ordered = skus.filter(pl.col("demand") > 0)
    demand_units = int(ordered["demand"].sum())
    on_hand = int(ordered["stock"].sum())
    return Snapshot(
        name=name,
        rows=out.height,
        counted_at=stamp,
        on_hand_units=int(out["on_hand"].sum()),
        demand_units=demand_units,
        coverage=round(on_hand / demand_units, 4) if demand_units else 0.0,
    )
