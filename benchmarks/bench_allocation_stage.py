"""Benchmark: the batch's allocation stage on a real warehouse of 1M generated order lines.

    uv run python benchmarks/bench_allocation_stage.py [--lines 1000000] [--runs 3] [--no-write]

The engine alone is bench_allocation.py. This one times the whole stage as the batch runs it
(pipelines/lib/brokering.py) on a DuckDB file: read the open lines and their orders, place
the ship-to points, derive ATP from the ledger, allocate, insert the allocations and their
commit movements, record backorders with reasons and promises, set statuses and events,
derive positions and the reorder report, all in one transaction.

Template (kept under benchmarks/.work while the generated set and the code are the same):
the generator's output (harness.generated()) is ingested, validated, and its stock files
booked, so about 410k orders are ready and the ledger holds the snapshot, receipts,
adjustments and counts. Each run is a fresh process on a fresh copy of the template:

1. ``first``: the first allocation of every ready order;
2. ``again``: the stage once more with nothing new (must change nothing);
3. ``rebroker``: a receipt of about 30% of the units still backordered, spread over the
   warehouses that stock each SKU, is booked (timed apart) and the stage re-brokers every
   backorder against it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    REPO,
    WORK,
    generated,
    machine,
    machine_line,
    run_child,
    template_warehouse,
    update_results,
)

REFERENCE = REPO / "data" / "reference"

TEMPLATE = """
import os, sys
from datetime import UTC, datetime
from pathlib import Path
from pipelines.lib.intake import ingest_inbox
from pipelines.lib.inventory import ingest_stock_files
from pipelines.lib.quality.validate import run_validation_stage
from pipelines.lib.warehouse import connect, migrate, scalar
source, root, reference = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
inbox = root / "inbox"
inbox.mkdir()
for f in source.iterdir():
    if not f.name.startswith("_"):
        os.link(f, inbox / f.name)
folders = dict(archive_dir=root / "archive", rejected_dir=root / "rejected")
with connect(root / "oms.duckdb") as con:
    migrate(con)
    now = datetime.now(UTC)
    ingest_inbox(con, inbox, run_id="template", now=now, **folders)
    run_validation_stage(con, inbox=inbox, reference_dir=reference, run_id="template",
                         now=now, **folders)
    stock = ingest_stock_files(con, inbox, reference_dir=reference, run_id="template",
                               now=now, **folders)
    con.execute("CHECKPOINT")
    result = {
        "orders": scalar(con, "SELECT count(*) FROM oms.orders"),
        "ready": scalar(con, "SELECT count(*) FROM oms.orders WHERE status = 'ready'"),
        "lines": scalar(con, "SELECT count(*) FROM oms.order_lines"),
        "stock_files": len(stock.files),
        "stock_rejected": sum(f.status == "rejected" for f in stock.files),
    }
"""

RUN = """
import shutil, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
import polars as pl
from pipelines.lib.brokering import run_allocation_stage
from pipelines.lib.inventory import ingest_stock_files
from pipelines.lib.warehouse import connect, frame, scalar
template, root, reference = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
shutil.copyfile(template, root / "oms.duckdb")
for name in ("inbox", "archive", "rejected"):
    (root / name).mkdir()
folders = dict(archive_dir=root / "archive", rejected_dir=root / "rejected")
result = {}
TABLES = ("oms.allocations", "oms.inventory_movements", "oms.order_events", "oms.orders")

def fingerprint(con):
    return [scalar(con, f"SELECT count(*) FROM {t}") for t in TABLES] + [
        scalar(con, "SELECT sum(hash(order_key, status)) FROM oms.orders")]

with connect(root / "oms.duckdb") as con:
    now = datetime.now(UTC)
    began = time.perf_counter()
    first = run_allocation_stage(con, reference_dir=reference, run_id="first", now=now)
    result["first_seconds"] = time.perf_counter() - began
    result["first_phases"] = first.seconds
    result["open_lines"] = first.open_lines
    result["units_demanded"] = first.units_demanded
    result["units_allocated"] = first.units_allocated
    result["orders_by_rule"] = first.orders_by_rule
    result["backorders_open"] = first.backorders_open
    before = fingerprint(con)
    began = time.perf_counter()
    again = run_allocation_stage(con, reference_dir=reference, run_id="again",
                                 now=now + timedelta(minutes=15))
    result["again_seconds"] = time.perf_counter() - began
    result["again_unchanged"] = fingerprint(con) == before and again.units_allocated == 0

    # A receipt of ~30% of what is still short, per SKU, into the warehouses stocking it.
    short = frame(con, "SELECT sku, sum(quantity) AS units FROM oms.backorders "
                       "WHERE status = 'open' GROUP BY sku ORDER BY sku")
    stocked = pl.read_csv(reference / "stock_policy.csv").select("warehouse_id", "sku")
    receipt = (
        short.with_columns(units=(pl.col("units") * 0.3).ceil().cast(pl.Int64))
        .join(stocked, on="sku")
        .with_columns(n=pl.len().over("sku"), i=pl.int_range(pl.len()).over("sku"))
        .with_columns(quantity=pl.col("units") // pl.col("n")
                      + (pl.col("i") < pl.col("units") % pl.col("n")).cast(pl.Int64))
        .filter(pl.col("quantity") > 0)
        .select("warehouse_id", "sku", "quantity",
                received_at=pl.lit((now + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")))
    )
    receipt.write_csv(root / "inbox" / "receipts.csv")
    result["receipt_units"] = int(receipt["quantity"].sum())
    later = now + timedelta(minutes=30)
    began = time.perf_counter()
    booked = ingest_stock_files(con, root / "inbox", reference_dir=reference, run_id="receipt",
                                now=later, **folders)
    result["receipt_seconds"] = time.perf_counter() - began
    assert [f.status for f in booked.files] == ["processed"], booked.files
    waiting = result["backorders_open"]
    began = time.perf_counter()
    rebroker = run_allocation_stage(con, reference_dir=reference, run_id="rebroker", now=later)
    result["rebroker_seconds"] = time.perf_counter() - began
    result["rebroker_phases"] = rebroker.seconds
    result["rebroker_open_lines"] = rebroker.open_lines
    result["rebroker_units_allocated"] = rebroker.units_allocated
    result["rebroker_filled"] = rebroker.backorders_filled
    result["over_committed"] = scalar(
        con, "SELECT count(*) FROM oms.inventory_positions WHERE committed > on_hand")
"""


def template(source: Path) -> tuple[Path, dict]:
    lib = REPO / "pipelines" / "lib"
    code = [
        lib / "intake.py",
        lib / "schema.py",
        lib / "inventory.py",
        *sorted((lib / "channels").glob("*.py")),
        *sorted((lib / "quality").glob("*.py")),
    ]

    def booked(result: dict) -> None:
        if result["stock_rejected"]:
            raise RuntimeError("the generated stock files were rejected")

    return template_warehouse(
        "allocation-stage",
        source,
        code + sorted(REFERENCE.glob("*.*")),
        TEMPLATE,
        str(REFERENCE),
        keep=("orders", "ready", "lines", "stock_files"),
        check=booked,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="don't update RESULTS.md")
    args = parser.parse_args()

    source = generated(args.lines)
    path, info = template(source)
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench_alloc_stage_", dir=WORK) as tmp:
            r = run_child(RUN, str(path), tmp, str(REFERENCE))
        runs.append(r)
        print(
            f"run {i + 1}: first {r['first_seconds']:.2f} s ({r['open_lines']:,} open lines), "
            f"again {r['again_seconds']:.2f} s, receipt {r['receipt_seconds']:.2f} s, "
            f"re-broker {r['rebroker_seconds']:.2f} s ({r['rebroker_open_lines']:,} lines), "
            f"peak {r['peak_rss_kib'] / 1024:.0f} MiB",
            flush=True,
        )
    med = {
        k: statistics.median(r[k] for r in runs)
        for k in ("first_seconds", "again_seconds", "receipt_seconds", "rebroker_seconds")
    }
    peak = max(r["peak_rss_kib"] for r in runs) / 1024
    last = runs[-1]
    consistent = (
        all(r["again_unchanged"] and r["over_committed"] == 0 for r in runs)
        and len({(r["units_allocated"], r["rebroker_units_allocated"]) for r in runs}) == 1
    )
    phases = " · ".join(f"{k} {v:.2f} s" for k, v in last["first_phases"].items())
    rephases = " · ".join(f"{k} {v:.2f} s" for k, v in last["rebroker_phases"].items())
    rules = last["orders_by_rule"]
    unchanged = "yes" if all(r["again_unchanged"] for r in runs) else "NO"
    rows = "\n".join(
        [
            f"| first allocation | {med['first_seconds']:.2f} s | {last['open_lines']:,} open "
            f"lines, {last['units_demanded']:,} units; {last['units_allocated']:,} allocated "
            f"({rules['single']:,} orders single, {rules['split']:,} split); "
            f"{last['backorders_open']:,} lines backordered |",
            f"| the stage again, nothing new | {med['again_seconds']:.2f} s | changes "
            f"nothing: {unchanged} |",
            f"| book a receipt | {med['receipt_seconds']:.2f} s | {last['receipt_units']:,} "
            "units (30% of the shortfall) |",
            f"| re-broker every backorder | {med['rebroker_seconds']:.2f} s | "
            f"{last['rebroker_open_lines']:,} open lines; {last['rebroker_units_allocated']:,} "
            f"units allocated, {last['rebroker_filled']:,} backorders filled |",
        ]
    )
    text = f"""## Allocation stage

`uv run python benchmarks/bench_allocation_stage.py --lines {args.lines} --runs {args.runs}`

{machine_line(machine())}

The batch's allocation stage (`pipelines/lib/brokering.py`) on a DuckDB warehouse made from
the generated set ({info["lines"]:,} lines, {info["orders"]:,} orders of which
{info["ready"]:,} ready after validation, 500 SKUs, 5 warehouses, the generator's stock
files booked), each run a fresh process on a fresh copy. Everything in one transaction:
read open lines, ship-to points, ATP from the ledger, the engine, allocations + commit
movements, backorders with reasons and promises, statuses and events, positions, reorder
report. Informational: the issue's bars are on the engine (section "Allocation").

| step | median of {args.runs} | what |
|---|---|---|
{rows}

Peak RSS {peak:.0f} MiB. Runs agree and no position commits more than it has on hand:
{"yes" if consistent else "NO"}. Phases of the first allocation: {phases}; of the
re-brokering: {rephases}.
"""
    print(text)
    if not args.no_write:
        update_results("Allocation stage", text)


if __name__ == "__main__":
    main()
