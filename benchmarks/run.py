"""Benchmark: the whole batch end to end at 10k, 100k and 1M order lines (issue 14).

    uv run python benchmarks/run.py [--lines 10000 100000 1000000] [--runs 3]
        [--hourly-lines 100000] [--hourly-runs 1] [--sample 50] [--pause 10]
        [--skip batch hourly baselines] [--no-write] [--report-only]

Bars (2 cores, 24 GB): 1M order lines end to end in at most 5 minutes with peak RSS under
6 GB; a no-op re-run in at most 30 s; in the hourly scenario, the batch at hour 24 within 1.5x
of hour 1.

**Batch** (``benchmarks/e2e.py``, ``play_batch``): the generator's set of ``--lines`` lines
(seed 7, 3 days of exports, stock files) in a fresh platform (warehouse, data folders, Dagster
home), through the real jobs on one Dagster instance, in process, on a simulated clock:
``order_batch`` with every file in the inbox, ``carrier_cutoff`` after the day's last
warehouse cutoff, ``order_batch`` three days later with the carriers' tracking events, and
``order_batch`` an hour later with return requests from 15% of the delivered orders, analytics
(dbt build, snapshots) included. End to end is the sum of those four runs; making the
tracking and return files is the outside world's work and is not counted. Then the same
``order_batch`` again with nothing new: timed, and every table and file compared before and
after. Each run is a fresh process (its peak RSS its own); ``--runs`` of them, the median
reported.

**Hourly** (``play_hourly``): ``--hourly-lines`` lines generated over one day, one export per
channel and hour; each hour the files due reach the inbox and the real ``order_batch`` runs,
analytics included, as its schedule runs it.

**Baselines**, on the 100k-line set: the allocation oracle loop (tests/unit/allocation/
oracle.py) against the engine on the very inputs the batch's allocation stage handed the
engine (captured in the first 100k run); and a straightforward pandas intake + allocation
(``benchmarks/baseline_pandas.py``) against the batch's intake and allocation stages.

Documents are drawn for one wave in ``--sample`` (see ``benchmarks/e2e.py``); the results
extrapolate the rest from the rates the stages' own benchmarks measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness
from benchmarks.e2e import STAGES

CHART = harness.REPO / "benchmarks" / "e2e_stages.png"
RAW = harness.WORK / "e2e-results.json"
TITLE = "End to end"
#: The runs of the batch flow, in order; the first four are the end-to-end time.
FLOW = ("batch", "cutoff", "tracking", "returns+analytics")
BARS = {"end_to_end_s": 300.0, "peak_rss_mib": 6144.0, "noop_s": 30.0, "hourly_ratio": 1.5}
#: Pages per second the stages' own benchmarks measured (RESULTS.md), to extrapolate the
#: documents not drawn: pick lists + packing slips, shipping labels (PDF), return labels.
PAGE_RATES = {"fulfilment": 284.0, "labels": 1384.0, "return labels": 715.0}

BATCH_CHILD = """
import sys
from pathlib import Path
from benchmarks.e2e import play_batch
capture = Path(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else None
result = play_batch(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), capture=capture)
"""
HOURLY_CHILD = """
import sys
from pathlib import Path
from benchmarks.e2e import play_hourly
result = play_hourly(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
"""
ORACLE_CHILD = """
import sys
from pathlib import Path
from benchmarks.e2e import compare_allocation
result = compare_allocation(Path(sys.argv[1]))
"""
PANDAS_CHILD = """
import sys
from pathlib import Path
from benchmarks.baseline_pandas import run
result = run(Path(sys.argv[1]), Path(sys.argv[2]))
"""


def _rest(pause: float) -> None:
    """This VM's disk slows down after bursts of small-file writes: sync and rest first."""
    os.sync()
    time.sleep(pause)


def _child(code: str, *args: str) -> dict:
    # dbt is started by name: the environment's scripts must be on PATH (``uv run`` does it).
    env_bin = str(Path(sys.executable).parent)
    if env_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = env_bin + os.pathsep + os.environ.get("PATH", "")
    return harness.run_child(code, *args)


def _fresh(name: str) -> Path:
    work = harness.WORK / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work


def run_batch(lines: int, runs: int, sample: int, pause: float, capture: Path | None) -> list:
    source = harness.generated(lines)
    results = []
    for number in range(runs):
        _rest(pause)
        work = _fresh(f"e2e-batch-{lines}")
        wanted = str(capture) if capture is not None and number == 0 else ""
        print(f"batch {lines:,} lines, run {number + 1} of {runs} ...", flush=True)
        result = _child(BATCH_CHILD, str(source), str(work), str(sample), wanted)
        shutil.rmtree(work, ignore_errors=True)
        flow = [r for r in result["runs"] if r["run"] in FLOW]
        noop = next(r for r in result["runs"] if r["run"] == "no-op")
        print(
            f"  end to end {sum(r['wall_seconds'] for r in flow):.1f} s, no-op "
            f"{noop['wall_seconds']:.1f} s, peak RSS {_process_peak(result) / 1024:,.0f} MiB, "
            f"no-op changes: {len(result['noop_changes'])}",
            flush=True,
        )
        results.append(result)
    return results


def run_hourly(lines: int, runs: int, sample: int, pause: float) -> list:
    source = harness.generated(lines, days=1, batch_hours=1)
    results = []
    for number in range(runs):
        _rest(pause)
        work = _fresh(f"e2e-hourly-{lines}")
        print(f"hourly {lines:,} lines, run {number + 1} of {runs} ...", flush=True)
        result = _child(HOURLY_CHILD, str(source), str(work), str(sample))
        shutil.rmtree(work, ignore_errors=True)
        walls = [r["wall_seconds"] for r in result["runs"]]
        print(f"  hour 1 {walls[0]:.1f} s, hour {len(walls)} {walls[-1]:.1f} s", flush=True)
        results.append(result)
    return results


def run_baselines(lines: int, capture: Path, pause: float) -> dict:
    _rest(pause)
    print("baseline: the allocation oracle loop on the captured inputs ...", flush=True)
    oracle = _child(ORACLE_CHILD, str(capture))
    _rest(pause)
    print(f"baseline: pandas intake + allocation on {lines:,} lines ...", flush=True)
    pandas = _child(
        PANDAS_CHILD, str(harness.generated(lines)), str(harness.REPO / "data/reference")
    )
    return {"oracle": oracle, "pandas": pandas}


# --- the report -------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _stage_sums(result: dict, runs: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Per stage, the figures summed over the flow's ``runs`` (peaks: the highest)."""
    sums: dict[str, dict[str, float]] = {}
    for s in result["stages"]:
        if s["run"] not in runs:
            continue
        total = sums.setdefault(s["stage"], {"wall": 0.0, "cpu": 0.0, "peak": 0, "kids": 0})
        total["wall"] += s["wall_seconds"]
        total["cpu"] += s["cpu_seconds"] + s["children_cpu_seconds"]
        total["peak"] = max(total["peak"], s["peak_rss_kib"])
        total["kids"] = max(total["kids"], s["children_peak_rss_kib"])
    return sums


def _meta(result: dict, run: str) -> dict[str, dict]:
    return next(r["materialized"] for r in result["runs"] if r["run"] == run)


def _n(value) -> str:
    return f"{int(value or 0):,}"


def rows_in_out(result: dict) -> dict[str, tuple[str, str]]:
    """Per stage, what came in and what went out, over the flow's runs (asset metadata)."""
    total: dict[str, dict[str, float]] = {}
    for run in FLOW:
        for asset, meta in _meta(result, run).items():
            bucket = total.setdefault(asset, {})
            for key, value in meta.items():
                if key not in ("total", "seconds", "outbox_queued", "open_holds", "ledger_rows"):
                    bucket[key] = bucket.get(key, 0) + value
    g = lambda asset, key: total.get(asset, {}).get(key, 0)  # noqa: E731
    marts = sum(1 for a in _meta(result, "returns+analytics") if a.startswith("analytics/"))
    events = sum(1 for r in result["runs"] if r["run"] in FLOW)
    return {
        "intake": (
            f"{_n(g('inbox_files', 'processed'))} files",
            f"{_n(g('orders', 'new'))} orders, {_n(g('order_lines', 'written'))} lines written",
        ),
        "returns": (
            f"{_n(g('returns', 'requests_read'))} return requests",
            f"{_n(g('returns', 'rmas_issued'))} RMAs, {_n(g('returns', 'labels_written'))} labels",
        ),
        "validation": (
            f"{_n(g('order_holds', 'validated'))} orders",
            f"{_n(g('order_holds', 'ready'))} ready, {_n(g('order_holds', 'on_hold'))} on hold",
        ),
        "inventory_movements": (f"{_n(g('inventory_movements', 'files'))} stock files", "ledger"),
        "allocation": (
            f"{_n(g('allocations', 'open_lines'))} open lines (over {events} runs)",
            f"{_n(g('allocations', 'units_allocated'))} units allocated",
        ),
        "fulfilment": (
            "committed allocations",
            f"{_n(g('waves', 'waves'))} waves, {_n(g('shipments', 'shipments'))} shipments, "
            f"{_n(g('parcels', 'parcels'))} parcels",
        ),
        "shipping": (
            f"{_n(g('rate_quotes', 'parcels_rated'))} parcels, "
            f"{_n(g('tracking_events', 'events_read'))} carrier events",
            f"{_n(g('rate_quotes', 'labelled'))} labelled, "
            f"{_n(g('manifests', 'parcels_shipped'))} shipped, "
            f"{_n(g('tracking_events', 'orders_delivered'))} orders delivered",
        ),
        "channel_feeds": (
            "shipments, stock",
            f"{_n(g('channel_feeds', 'items_confirmed'))} items confirmed, "
            f"{_n(g('channel_feeds', 'skus_sent'))} stock rows",
        ),
        "notifications": ("order events", f"{_n(g('notifications', 'queued_now'))} messages"),
        "dbt_models": ("the warehouse", f"{marts} models and their tests"),
        "reporting_snapshot": ("the warehouse", f"{_n(g('reporting_snapshot', 'tables'))} tables"),
    }


def _process_peak(result: dict) -> int:
    """The batch process's peak RSS: the highest of its steps' peaks (KiB)."""
    return max(s["peak_rss_kib"] for s in result["stages"])


def _together_peak(result: dict) -> tuple[int, bool]:
    """The most the batch's processes held at one time (KiB): per step, the process's peak
    plus its children's together, and whether that was sampled. Runs measured before the
    sampling count every child at the largest child's peak, as many as run at once (the
    message renderers: one per core), an upper bound."""
    sampled = all("children_together_rss_kib" in s for s in result["stages"])
    at_once = min(os.cpu_count() or 1, 4)
    return max(
        s["peak_rss_kib"]
        + (
            s["children_together_rss_kib"]
            if sampled
            else s["children_peak_rss_kib"] * (at_once if s["stage"] == "notifications" else 1)
        )
        for s in result["stages"]
    ), sampled


def _noop_line(results: list[dict]) -> str:
    changed = [c for r in results for c in r["noop_changes"]]
    return "nothing changed in any run" if not changed else f"CHANGED: {changed[:5]}"


def _verdict(ok: bool) -> str:
    return "meets it" if ok else "**misses it**"


def batch_section(by_volume: dict[int, list[dict]], sample: int) -> tuple[list[str], dict]:
    out: list[str] = []
    summary: dict[int, dict] = {}
    for lines, results in by_volume.items():
        e2e = [sum(r["wall_seconds"] for r in x["runs"] if r["run"] in FLOW) for x in results]
        noop = [next(r["wall_seconds"] for r in x["runs"] if r["run"] == "no-op") for x in results]
        peak = max(_process_peak(x) for x in results) / 1024
        kids = max(max(s["children_peak_rss_kib"] for s in x["stages"]) for x in results) / 1024
        together = max(_together_peak(x)[0] for x in results) / 1024
        sampled = all(_together_peak(x)[1] for x in results)
        summary[lines] = {
            "e2e": _median(e2e),
            "e2e_runs": e2e,
            "noop": _median(noop),
            "noop_runs": noop,
            "peak": peak,
            "kids": kids,
            "together": together,
            "together_sampled": sampled,
            "cpu": _median([x["cpu_seconds"] for x in results]),
            "noop_line": _noop_line(results),
        }
    out += [
        "| order lines | end to end s (median) | runs s | no-op s (median) | runs s | "
        "peak RSS MiB | children's peak MiB | no-op changed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for lines, s in summary.items():
        out.append(
            f"| {lines:,} | **{s['e2e']:.1f}** | {' · '.join(f'{v:.1f}' for v in s['e2e_runs'])} "
            f"| **{s['noop']:.1f}** | {' · '.join(f'{v:.1f}' for v in s['noop_runs'])} "
            f"| {s['peak']:,.0f} | {s['kids']:,.0f} | {s['noop_line']} |"
        )
    return out, summary


def stage_table(by_volume: dict[int, list[dict]]) -> list[str]:
    """Time per stage over the flow's four runs, per volume (medians), and the largest
    volume's CPU, peak RSS and rows."""
    volumes = list(by_volume)
    top = volumes[-1]
    medians: dict[int, dict[str, dict[str, float]]] = {}
    for lines, results in by_volume.items():
        sums = [_stage_sums(x, FLOW) for x in results]
        medians[lines] = {
            stage: {
                key: _median([s.get(stage, {}).get(key, 0) for s in sums])
                for key in ("wall", "cpu", "peak", "kids")
            }
            for stage in STAGES
        }
    rows = rows_in_out(by_volume[top][len(by_volume[top]) // 2])
    head = " | ".join(f"{v:,} s" for v in volumes)
    out = [
        f"| stage | {head} | {top:,}: CPU s | peak RSS MiB | in | out |",
        "|---|" + "---|" * len(volumes) + "---|---|---|---|",
    ]
    for stage in STAGES:
        m = medians[top][stage]
        peak = f"{m['peak'] / 1024:,.0f}"
        if m["kids"] > 20 * 1024:  # a process of its own worth naming (dbt, the renderers)
            peak += f" (children {m['kids'] / 1024:,.0f})"
        cells = " | ".join(f"{medians[v][stage]['wall']:.1f}" for v in volumes)
        rin, rout = rows.get(stage, ("", ""))
        out.append(f"| {stage} | {cells} | {m['cpu']:.1f} | {peak} | {rin} | {rout} |")
    return out


def flow_table(results: list[dict]) -> list[str]:
    """The largest volume's runs, stage by stage (the median run by end-to-end time; stages
    under half a second left out)."""
    ordered = sorted(
        results, key=lambda x: sum(r["wall_seconds"] for r in x["runs"] if r["run"] in FLOW)
    )
    result = ordered[len(ordered) // 2]
    out = [
        "| run | job, clock | stage | wall s | CPU s | children's CPU s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        out.append(
            f"| **{run['run']}** | {run['job']}, {run['at'][:16]} | (whole run, Dagster "
            f"included) | **{run['wall_seconds']:.1f}** | | | |"
        )
        for s in result["stages"]:
            if s["run"] == run["run"] and s["wall_seconds"] >= 0.5:
                out.append(
                    f"| | | {s['stage']} | {s['wall_seconds']:.1f} | {s['cpu_seconds']:.1f} | "
                    f"{s['children_cpu_seconds']:.1f} | {s['peak_rss_kib'] / 1024:,.0f} |"
                )
    return out


def undrawn_seconds(result: dict) -> tuple[float, dict]:
    """The documents one run did not draw, and how long drawing them would take at the
    rates the stages' own benchmarks measured: pick lists and packing slips at the pages a
    drawn wave had, labels and return labels one page each."""
    docs = result["documents"]
    pages = sum(
        r["materialized"].get("waves", {}).get("pages", 0)
        for r in result["runs"]
        if r["run"] in FLOW
    )
    per_wave = pages / docs["waves_drawn"] if docs["waves_drawn"] else 0.0
    wave_pages = docs["waves_skipped"] * per_wave
    seconds = (
        wave_pages / PAGE_RATES["fulfilment"]
        + docs["labels_skipped"] / PAGE_RATES["labels"]
        + docs["return_labels_skipped"] / PAGE_RATES["return labels"]
    )
    return seconds, {"per_wave": per_wave, "wave_pages": wave_pages, **docs}


def documents_line(results: list[dict], sample: int) -> str:
    seconds, d = undrawn_seconds(results[len(results) // 2])
    return (
        f"**Documents were drawn for one wave in {sample}** ({d['waves_drawn']:,} waves' pick "
        f"lists, packing slips and labels, {d['per_wave']:.1f} pages a wave; "
        f"{d['return_labels_drawn']:,} return labels). Not drawn: the pick lists and packing "
        f"slips of {d['waves_skipped']:,} waves ({d['slips_skipped']:,} slips, about "
        f"{d['wave_pages']:,.0f} pages, with the queries that gather each slip's data), "
        f"{d['labels_skipped']:,} shipping labels and {d['return_labels_skipped']:,} "
        f"return labels. At the rates the stages' own benchmarks measured "
        f"({PAGE_RATES['fulfilment']:.0f} pick-list or slip pages/s including those queries, "
        f"{PAGE_RATES['labels']:,.0f} labels/s, {PAGE_RATES['return labels']:.0f} return labels/s;"
        " measured before reportlab's C accelerators were installed, so an upper bound) drawing"
        f" them all would add about **{seconds / 60:,.0f} minutes** on one core."
    )


def hourly_section(results: list[dict]) -> tuple[list[str], dict]:
    hours = len(results[0]["runs"])
    per_hour = [_median([x["runs"][h]["wall_seconds"] for x in results]) for h in range(hours)]
    analytics = []
    for h in range(hours):
        label = results[0]["runs"][h]["run"]
        analytics.append(
            _median(
                [
                    sum(
                        s["wall_seconds"]
                        for s in x["stages"]
                        if s["run"] == label and s["stage"] in ("dbt_models", "reporting_snapshot")
                    )
                    for x in results
                ]
            )
        )
    first, last = per_hour[0], per_hour[-1]
    steady = _median(per_hour[1:4]) if hours > 3 else first
    # The first hour also takes the opening stock count; the steady state is hours 2-4.
    out = [
        "| hour | batch s | of which analytics s | operational stages s | lines in |",
        "|---|---|---|---|---|",
    ]
    lines_in = [
        _meta_total(results[0]["runs"][h]["materialized"], "order_lines", "written")
        for h in range(hours)
    ]
    for h in range(hours):
        out.append(
            f"| {h + 1} | {per_hour[h]:.1f} | {analytics[h]:.1f} | "
            f"{per_hour[h] - analytics[h]:.1f} | {lines_in[h]:,} |"
        )
    return out, {
        "first": first,
        "last": last,
        "steady": steady,
        "ratio": last / first if first else 0.0,
        "steady_ratio": last / steady if steady else 0.0,
    }


def _meta_total(materialized: dict, asset: str, key: str) -> int:
    return int(materialized.get(asset, {}).get(key, 0))


def chart(by_volume: dict[int, list[dict]], path: Path) -> None:
    """Time per stage against volume (log-log), one line per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    volumes = list(by_volume)
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    for stage in STAGES:
        walls = [
            _median([_stage_sums(x, FLOW).get(stage, {}).get("wall", 0) for x in by_volume[v]])
            for v in volumes
        ]
        ax.plot(volumes, [max(w, 0.01) for w in walls], marker="o", label=stage)
    totals = [
        _median(
            [sum(r["wall_seconds"] for r in x["runs"] if r["run"] in FLOW) for x in by_volume[v]]
        )
        for v in volumes
    ]
    ax.plot(volumes, totals, marker="s", color="black", linewidth=2.5, label="end to end")
    ax.axhline(BARS["end_to_end_s"], color="red", linestyle="--", linewidth=1, label="5 min bar")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("order lines")
    ax.set_ylabel("seconds (median; summed over the flow's runs)")
    ax.set_title("End to end: time per stage against volume")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(args, raw: dict) -> str:
    host = harness.machine()
    command = f"uv run python benchmarks/run.py {args.command_line}".rstrip()
    parts = [f"## {TITLE}", "", f"`{command}`", ""]
    parts += [harness.machine_line(host), ""]
    parts += [__doc__.split("\n\n", 2)[2].split("\n\n**Batch**")[0].strip(), ""]
    verdicts = []
    if raw.get("batch"):
        by_volume = {int(k): v for k, v in raw["batch"].items()}
        table, summary = batch_section(by_volume, args.sample)
        top = max(by_volume)
        s = summary[top]
        undrawn = _median([undrawn_seconds(x)[0] for x in by_volume[top]])
        analytics = _median(
            [
                sum(
                    st["wall_seconds"]
                    for st in x["stages"]
                    if st["run"] == "returns+analytics"
                    and st["stage"] in ("dbt_models", "reporting_snapshot")
                )
                for x in by_volume[top]
            ]
        )
        verdicts.append(
            f"- **{top:,} lines end to end: {s['e2e']:.0f} s** (median of {len(by_volume[top])}; "
            f"documents drawn for one wave in {args.sample}, all of them would add about "
            f"{undrawn / 60:,.0f} minutes) against {BARS['end_to_end_s']:.0f} s — "
            f"{_verdict(s['e2e'] <= BARS['end_to_end_s'])}. Which stages and why: below."
        )
        verdicts.append(
            f"- **Peak RSS {s['peak']:,.0f} MiB** for the batch's process against "
            f"{BARS['peak_rss_mib']:,.0f} MiB — {_verdict(s['peak'] < BARS['peak_rss_mib'])}. "
            f"Its child processes (dbt, the message renderers) peaked at {s['kids']:,.0f} MiB "
            "each; "
            + (
                f"the batch's processes together held at most {s['together']:,.0f} MiB at one time"
                if s["together_sampled"]
                else f"counting the two renderers beside the process at their peaks (not "
                f"sampled together in this run), the batch's processes held at most "
                f"{s['together']:,.0f} MiB at one time, "
                f"{'under' if s['together'] < BARS['peak_rss_mib'] else 'over'} the bar"
            )
            + "."
        )
        verdicts.append(
            f"- **No-op re-run at {top:,} lines: {s['noop']:.1f} s** against "
            f"{BARS['noop_s']:.0f} s — {_verdict(s['noop'] <= BARS['noop_s'])}; "
            f"{s['noop_line']} (every table's rows and every file compared). The re-run is "
            "the same batch (same clock): a batch at a later time with no new files moves "
            "the positions' as_of, the clock the marts age backorders by, and rebuilds the "
            f"analytics (dbt and the snapshots took {analytics:.0f} s in the flow's last run)."
        )
        parts += ["### Batch", "", *table, "", documents_line(by_volume[top], args.sample), ""]
        parts += [
            "Time per stage, summed over the flow's four runs (medians; the last volume's CPU "
            "time counts this process's threads and the processes it waited for, dbt and the "
            "message renderers; peak RSS is the process's during the stage):",
            "",
            *stage_table(by_volume),
            "",
            f"![time per stage against volume]({CHART.name})",
            "",
            f"The {top:,}-line flow run by run (the median run; stages under 0.5 s left out):",
            "",
            *flow_table(by_volume[top]),
            "",
        ]
        if not args.no_write:
            chart(by_volume, CHART)
    if raw.get("hourly"):
        table, h = hourly_section(raw["hourly"])
        verdicts.append(
            f"- **Hourly batches ({args.hourly_lines:,} lines a day): hour 24 took "
            f"{h['last']:.1f} s, hour 1 {h['first']:.1f} s, {h['ratio']:.2f}x** against "
            f"{BARS['hourly_ratio']}x — {_verdict(h['ratio'] <= BARS['hourly_ratio'])}. Hour 1 "
            "also books the opening stock count; against hours 2-4 (median "
            f"{h['steady']:.1f} s) hour 24 is {h['steady_ratio']:.2f}x — "
            f"{_verdict(h['steady_ratio'] <= BARS['hourly_ratio'])}."
        )
        parts += [
            "### Hourly batches",
            "",
            f"{args.hourly_lines:,} order lines over one day, 24 hourly `order_batch` runs "
            f"(analytics included), {len(raw['hourly'])} run(s) of the whole day; per hour the "
            "median:",
            "",
            *table,
            "",
        ]
    if raw.get("baselines"):
        b = raw["baselines"]
        o, p = b["oracle"], b["pandas"]
        verdicts.append(
            f"- **Allocation oracle loop vs the engine** on the {o['lines']:,} open lines the "
            f"100k batch's allocation stage handed the engine: {o['oracle_seconds']:.2f} s vs "
            f"{o['engine_seconds']:.3f} s, **{o['oracle_seconds'] / o['engine_seconds']:.0f}x**; "
            f"identical outputs: {'yes' if o['identical'] else '**no**'}."
        )
        ours = b.get("ours")
        if ours:
            theirs = p["intake_seconds"] + p["allocation_seconds"]
            verdicts.append(
                f"- **Straightforward pandas intake + allocation** on the 100k set: "
                f"{p['intake_seconds']:.1f} + {p['allocation_seconds']:.1f} = {theirs:.1f} s "
                f"({p['orders']:,} orders, {p['lines']:,} lines; {p['units_allocated']:,} units "
                f"allocated) vs the batch's intake + allocation stages {ours['intake']:.1f} + "
                f"{ours['allocation']:.1f} = {ours['intake'] + ours['allocation']:.1f} s "
                f"(median): **{theirs / (ours['intake'] + ours['allocation']):.1f}x**. The "
                "pandas version validates nothing, stores nothing and keeps no history "
                "(benchmarks/baseline_pandas.py lists what it leaves out); the stages do all "
                "of that in the time."
            )
    parts[4:4] = ["**Verdicts.**", "", *verdicts, ""]
    return "\n".join(parts).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3, help="runs of the batch per volume")
    parser.add_argument("--hourly-lines", type=int, default=100_000)
    parser.add_argument("--hourly-runs", type=int, default=1)
    parser.add_argument("--sample", type=int, default=50, help="documents for 1 wave in N")
    parser.add_argument("--pause", type=float, default=10, help="rest before each run, s")
    parser.add_argument("--skip", nargs="*", default=[], choices=["batch", "hourly", "baselines"])
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help=f"write the section again from the last run's figures ({RAW.name}), run nothing",
    )
    args = parser.parse_args()
    if args.report_only:
        raw = json.loads(RAW.read_text())
        defaults = {"command_line": "", "sample": 50, "hourly_lines": 100_000}
        for name, value in raw.get("arguments", defaults).items():
            setattr(args, name, value)
        text = report(args, raw)
        print(text)
        if not args.no_write:
            harness.update_results(TITLE, text)
        return
    args.command_line = " ".join(sys.argv[1:])
    raw: dict = json.loads(RAW.read_text()) if RAW.exists() and args.skip else {}
    raw["arguments"] = {
        "command_line": args.command_line,
        "sample": args.sample,
        "hourly_lines": args.hourly_lines,
    }
    capture = harness.WORK / "e2e-allocation-100000"
    if "batch" not in args.skip:
        shutil.rmtree(capture, ignore_errors=True)
        raw["batch"] = {}
        for lines in args.lines:
            wanted = capture if lines == 100_000 else None
            raw["batch"][str(lines)] = run_batch(lines, args.runs, args.sample, args.pause, wanted)
    if "hourly" not in args.skip:
        raw["hourly"] = run_hourly(args.hourly_lines, args.hourly_runs, args.sample, args.pause)
    if "baselines" not in args.skip and (capture / "lines.parquet").exists():
        raw["baselines"] = run_baselines(100_000, capture, args.pause)
        hundred = raw.get("batch", {}).get("100000")
        if hundred:
            stage = lambda name: _median(  # noqa: E731
                [_stage_sums(x, ("batch",)).get(name, {}).get("wall", 0) for x in hundred]
            )
            raw["baselines"]["ours"] = {
                "intake": stage("intake"),
                "allocation": stage("allocation"),
            }
    RAW.write_text(json.dumps(raw, default=str))
    text = report(args, raw)
    print(text)
    if not args.no_write:
        harness.update_results(TITLE, text)


if __name__ == "__main__":
    main()
