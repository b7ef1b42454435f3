"""Benchmark: intake of 1M generated order lines (parse + normalise + upsert), 3 runs.

    uv run python benchmarks/bench_intake.py [--lines 1000000] [--runs 3] [--no-write]

The generator's output (every channel format) is made once under benchmarks/.work and
hard-linked into a fresh inbox for each run; each run is a fresh process with a fresh
warehouse, so its peak RSS is its own. ``intake s`` is ``ingest_inbox`` alone; ``wall s``
includes interpreter start and imports. A second case ingests one 2M-line Shopify CSV alone
(the generator's Shopify rows repeated with shifted order numbers) to show memory stays
bounded for a single big file: the adapter yields batches that never split an order and the
intake upserts them one by one inside the file's single transaction.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import generated, machine, machine_line, run_child, update_results

BAR_SECONDS = 15.0
BAR_RSS_MIB = 3 * 1024
BAR_BIG_FILE_RSS_MIB = 2 * 1024
BIG_FILE_LINES = 2_000_000

CHILD = """
import os, sys, time
from datetime import UTC, datetime
from pathlib import Path
from pipelines.lib.intake import ingest_inbox
from pipelines.lib.warehouse import connect, migrate, scalar
source, root = Path(sys.argv[1]), Path(sys.argv[2])
only = sys.argv[3] if len(sys.argv) > 3 else ""
inbox = root / "inbox"
inbox.mkdir()
for f in source.iterdir():
    if not f.name.startswith("_") and f.name.startswith(only):
        os.link(f, inbox / f.name)
with connect(root / "oms.duckdb") as con:
    migrate(con)
    began = time.perf_counter()
    r = ingest_inbox(con, inbox, archive_dir=root / "archive", rejected_dir=root / "rejected",
                     run_id="bench", now=datetime.now(UTC))
    seconds = time.perf_counter() - began
    result = {"intake_seconds": seconds, "orders": scalar(con, "SELECT count(*) FROM oms.orders"),
              "lines": scalar(con, "SELECT count(*) FROM oms.order_lines"),
              "files": len(r.files), "rejected": r.count("rejected")}
"""


def big_shopify_csv(source: Path, lines: int) -> Path:
    """One Shopify export of ``lines`` rows, made once from the generated Shopify files."""
    import polars as pl

    folder = source.parent / f"shopify-{lines}"
    target = folder / "shopify_orders_export_big.csv"
    if target.exists():
        return folder
    parts = [
        pl.read_csv(f, infer_schema=False)
        for f in sorted(source.glob("shopify_orders_export_*.csv"))
    ]
    base = pl.concat(parts, how="vertical")
    copies, frames = 0, []
    while sum(f.height for f in frames) < lines:
        shift = copies * 10_000_000
        frames.append(
            base.with_columns(
                pl.format("#{}", pl.col("Name").str.strip_prefix("#").cast(pl.Int64) + shift).alias(
                    "Name"
                ),
                (pl.col("Id").cast(pl.Int64) + shift).cast(pl.String).alias("Id"),
            )
        )
        copies += 1
    big = pl.concat(frames).head(lines)
    # Cut at an order boundary so the last order is whole.
    last = big["Name"][-1]
    big = big.filter(pl.col("Name") != last)
    folder.mkdir(parents=True, exist_ok=True)
    big.write_csv(target)
    return folder


def run_case(source: Path, runs: int, only: str = "") -> list[dict]:
    out = []
    for i in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench_intake_", dir=source.parent) as tmp:
            r = run_child(CHILD, str(source), tmp, only)
        print(
            f"  run {i + 1}: intake {r['intake_seconds']:.1f} s, wall {r['wall_seconds']:.1f} s,"
            f" peak RSS {r['peak_rss_kib'] / 1024:,.0f} MiB, {r['lines']:,} lines",
            flush=True,
        )
        out.append(r)
    return out


def table(runs: list[dict]) -> str:
    rows = "\n".join(
        f"| {i} | {r['intake_seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['wall_seconds']:.1f} | "
        f"{r['peak_rss_kib'] / 1024:,.0f} | {r['orders']:,} | {r['lines']:,} |"
        for i, r in enumerate(runs, start=1)
    )
    return (
        "| run | intake s | CPU s | wall s | peak RSS MiB | orders | lines |\n"
        "|---|---|---|---|---|---|---|\n" + rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args()

    source = generated(args.lines)
    print(f"all formats, {args.lines:,} lines:")
    mixed = run_case(source, args.runs)
    print(f"one Shopify CSV of {BIG_FILE_LINES:,} lines:")
    big = run_case(big_shopify_csv(source, BIG_FILE_LINES), args.runs)
    big_rss = max(r["peak_rss_kib"] for r in big) / 1024
    big_verdict = "meets" if big_rss <= BAR_BIG_FILE_RSS_MIB else "MISSES"
    med = statistics.median(r["intake_seconds"] for r in mixed)
    rss = max(r["peak_rss_kib"] for r in mixed) / 1024
    verdict = "meets" if med <= BAR_SECONDS and rss <= BAR_RSS_MIB else "MISSES"
    text = f"""## Intake

`uv run python benchmarks/bench_intake.py` — the generator's {args.lines:,} lines (seed 7,
3 days; Shopify CSV, WooCommerce JSON/JSONL, Amazon TSV in two layouts, direct CSV/JSON)
ingested into a fresh warehouse: detect, parse, normalise, hash, upsert with events, archive.

- **Median intake time: {med:.1f} s; peak RSS {rss:,.0f} MiB.**
  Bar: ≤ {BAR_SECONDS:.0f} s and < {BAR_RSS_MIB:,} MiB — {verdict} it.

{table(mixed)}

One Shopify CSV of {BIG_FILE_LINES:,} lines (less the last order, cut whole), alone:
peak RSS {big_rss:,.0f} MiB against a bar of about {BAR_BIG_FILE_RSS_MIB:,} MiB — {big_verdict} it.

{table(big)}

{machine_line(machine())}
"""
    print(text)
    if not args.no_write:
        update_results("Intake", text)


if __name__ == "__main__":
    main()
