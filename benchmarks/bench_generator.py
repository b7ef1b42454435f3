"""Benchmark: generate 1M order lines, several times, each in a fresh process.

    uv run python benchmarks/bench_generator.py [--lines 1000000] [--runs 3] [--no-write]

Each run is a subprocess (so its peak RSS is its own), writing into a temporary folder that is
deleted afterwards. Wall time is measured around the whole subprocess (interpreter start and
imports included); the generator's own time is reported too. The median run is compared with
the bar (60 s per 1M lines) and the figures replace the "Generator" section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPO, RESULTS, machine, machine_line, run_child, update_results

BAR_SECONDS_PER_MILLION = 60.0

CHILD = """
import sys
from pathlib import Path
from pipelines.lib.generator import generate
s = generate(Path(sys.argv[1]), lines=int(sys.argv[2]), seed=int(sys.argv[3]),
             days=3, reference_dir=Path(sys.argv[4]))
size = sum(p.stat().st_size for p in Path(sys.argv[1]).iterdir())
result = {"orders": s.orders, "lines": s.lines, "files": len(s.files),
          "generator_seconds": s.seconds, "bytes": size}
"""


def run_once(lines: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_generator_") as tmp:
        return run_child(CHILD, tmp, str(lines), str(seed), str(REPO / "data/reference"))


def section(lines: int, runs: list[dict], host: dict[str, str]) -> str:
    wall = statistics.median(r["wall_seconds"] for r in runs)
    own = statistics.median(r["generator_seconds"] for r in runs)
    rss = max(r["peak_rss_kib"] for r in runs) / 1024
    bar = BAR_SECONDS_PER_MILLION * lines / 1_000_000
    verdict = "meets" if wall <= bar else "MISSES"
    first = runs[0]  # sizes of the first run (seed 7); the others differ slightly
    rows = "\n".join(
        f"| {i} | {r['wall_seconds']:.1f} | {r['generator_seconds']:.1f} | "
        f"{r['peak_rss_kib'] / 1024:,.0f} |"
        for i, r in enumerate(runs, start=1)
    )
    return f"""## Generator

`uv run python benchmarks/bench_generator.py` — `generate(lines={lines:,}, days=3)` with
seeds 7, 8, 9..., each run in its own process writing to a temporary folder.

- Output per run: {first["orders"]:,} orders, {first["lines"]:,} lines, {first["files"]} files,
  {first["bytes"] / 1024**2:,.0f} MiB.
- **Median wall time: {wall:.1f} s** (generator itself {own:.1f} s); peak RSS {rss:,.0f} MiB.
- Bar: ≤ {bar:.0f} s for {lines:,} lines — {verdict} it.

| run | wall s | generator s | peak RSS MiB |
|---|---|---|---|
{rows}

{machine_line(host)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    args = parser.parse_args()

    runs = []
    for i in range(args.runs):
        r = run_once(args.lines, seed=7 + i)
        print(
            f"run {i + 1}: {r['wall_seconds']:.1f} s wall, {r['generator_seconds']:.1f} s "
            f"generator, peak RSS {r['peak_rss_kib'] / 1024:,.0f} MiB",
            flush=True,
        )
        runs.append(r)
    text = section(args.lines, runs, machine())
    print(text)
    if not args.no_write:
        update_results("Generator", text)
        print(f"updated {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
