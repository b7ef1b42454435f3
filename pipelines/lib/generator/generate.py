"""``generate``: write a folder of channel exports, inventory files and the ground truth."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.lib.generator.amazon import write_amazon
from pipelines.lib.generator.direct import write_direct
from pipelines.lib.generator.inventory import write_inventory_movements, write_inventory_snapshot
from pipelines.lib.generator.layout import WrittenFile
from pipelines.lib.generator.reference import load_reference
from pipelines.lib.generator.shopify import write_shopify
from pipelines.lib.generator.simulate import BATCH_HOURS, DEFECT_KINDS, reference_end, simulate
from pipelines.lib.generator.woocommerce import write_woocommerce

MANIFEST_NAME = "_generator_manifest.json"

#: How each channel's external order id (the second half of ``order_key``) is read.
ORDER_KEY_SOURCES = {
    "shopify": "Id column (numeric) of the order's first row; Name (#1234) is the order number",
    "woocommerce": "id (number is the same value as a string)",
    "amazon": "amazon-order-id (All Orders) / order-id (New Orders)",
    "phone": "order_id (channel column = phone)",
    "email": "order_id (channel column = email)",
}


@dataclass(frozen=True)
class GenerateSummary:
    out_dir: Path
    #: names of the files written into ``out_dir`` (the manifest last)
    files: tuple[str, ...]
    #: distinct orders generated (duplicate-defect orders included, re-export copies not)
    orders: int
    #: order lines of those orders
    lines: int
    #: injected defects per kind
    defects: dict[str, int]
    seconds: float


def generate(
    out_dir: Path,
    *,
    orders: int | None = None,
    lines: int | None = None,
    seed: int = 7,
    days: int = 3,
    defect_rate: float = 0.02,
    end: dt.datetime | None = None,
    reference_dir: Path,
    batch_hours: int = BATCH_HOURS,
) -> GenerateSummary:
    """Write channel exports for ``orders`` orders (or ``lines`` order lines) into ``out_dir``.

    The orders fall in the ``days`` days before ``end`` (default: a fixed time derived from
    ``seed``, never the wall clock), so the same arguments always give byte-identical files.
    About ``defect_rate`` of the orders carry one injected defect each; which ones, and of
    which kind, is recorded in ``_generator_manifest.json`` (intake ignores ``_`` files).
    Each channel exports once per ``batch_hours`` hours (12: a morning and an evening file;
    1: hourly files, for a day played in hourly batches).
    """
    began = time.perf_counter()
    if (orders is None) == (lines is None):
        raise ValueError("give exactly one of orders= or lines=")
    if (orders is not None and orders < 1) or (lines is not None and lines < 1):
        raise ValueError("orders/lines must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    if batch_hours < 1 or 24 % batch_hours:
        raise ValueError("batch_hours must divide a day (1, 2, 3, 4, 6, 8, 12 or 24)")
    if not 0.0 <= defect_rate <= 0.5:
        raise ValueError("defect_rate must be between 0 and 0.5")
    if end is None:
        end = reference_end(seed)
    elif end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    end = end.astimezone(dt.UTC).replace(microsecond=0)

    ref = load_reference(reference_dir)
    sim = simulate(
        ref,
        orders=orders,
        lines=lines,
        seed=seed,
        days=days,
        defect_rate=defect_rate,
        end=end,
        batch_hours=batch_hours,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    # One stream per writer; a new writer takes the next child so the others stay unchanged.
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 1]).spawn(5)]
    written: list[WrittenFile] = [
        *write_shopify(sim, out_dir, rngs[0]),
        *write_woocommerce(sim, out_dir, rngs[1]),
        *write_amazon(sim, out_dir, rngs[2], seed),
        *write_direct(sim, out_dir),
    ]
    snapshot = write_inventory_snapshot(sim, ref, out_dir, rngs[3])
    movements = write_inventory_movements(sim, snapshot, out_dir, rngs[4])
    receipts, adjustments, counts = movements.receipts, movements.adjustments, movements.counts

    by_channel = (
        sim.orders.group_by("channel")
        .agg(orders=pl.len(), lines=pl.col("n_lines").sum())
        .sort("channel")
    )
    manifest = {
        "generator": "pipelines.lib.generator",
        "seed": seed,
        "days": days,
        "defect_rate": defect_rate,
        "window": {
            "start": sim.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": sim.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "order_key": "{channel}:{external_order_id}",
        "external_order_id": ORDER_KEY_SOURCES,
        "totals": {
            "orders": sim.orders.height,
            "lines": sim.lines.height,
            "by_channel": {
                r["channel"]: {"orders": r["orders"], "lines": r["lines"]}
                for r in by_channel.iter_rows(named=True)
            },
        },
        "files": [
            {
                "name": f.name,
                "channel": f.channel,
                "format": f.format,
                "encoding": f.encoding,
                "orders": f.orders,
                "lines": f.lines,
                "repeats_orders_of": list(f.repeats_orders_of),
            }
            for f in written
        ],
        "inventory_snapshot": {
            "name": snapshot.name,
            "rows": snapshot.rows,
            "counted_at": snapshot.counted_at,
            "on_hand_units": snapshot.on_hand_units,
            "demand_units": snapshot.demand_units,
            "coverage": snapshot.coverage,
        },
        "inventory_receipts": {
            "name": receipts.name,
            "rows": receipts.rows,
            "units": receipts.units,
            "purchase_orders": receipts.purchase_orders,
            "first_received_at": receipts.first_received_at,
            "last_received_at": receipts.last_received_at,
            "shortfall_units": receipts.shortfall_units,
            "shortfall_receipt_units": receipts.shortfall_receipt_units,
        },
        "inventory_adjustments": {
            "name": adjustments.name,
            "rows": adjustments.rows,
            "units": adjustments.units,
            "units_out": adjustments.units_out,
            "units_in": adjustments.units_in,
        },
        "inventory_count": {
            "name": counts.name,
            "rows": counts.rows,
            "units": counts.units,
            "book_units": counts.book_units,
            "expected_difference": counts.expected_difference,
            "rows_with_difference": counts.rows_with_difference,
            "first_counted_at": counts.first_counted_at,
            "last_counted_at": counts.last_counted_at,
        },
        "defects": {kind: sim.defects[kind] for kind in DEFECT_KINDS},
        "cancelled": sim.orders.filter(pl.col("cancelled"))["order_key"].to_list(),
    }
    if batch_hours != BATCH_HOURS:  # hours per export file, when not the usual 12
        manifest["batch_hours"] = batch_hours
    (out_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return GenerateSummary(
        out_dir=out_dir,
        files=(*(f.name for f in written), snapshot.name, *movements.names, MANIFEST_NAME),
        orders=sim.orders.height,
        lines=sim.lines.height,
        defects={kind: len(sim.defects[kind]) for kind in DEFECT_KINDS},
        seconds=round(time.perf_counter() - began, 3),
    )
