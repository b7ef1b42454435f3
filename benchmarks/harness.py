"""What every benchmark shares: a measured child process, the machine, RESULTS.md sections."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
WORK = REPO / "benchmarks" / ".work"

#: Appended to a child's code: prints its own peak RSS and CPU time as the last JSON line.
_REPORT = """
import json as _json, resource as _resource
_usage = _resource.getrusage(_resource.RUSAGE_SELF)
_out = dict(globals().get("result", {}))
_out["peak_rss_kib"] = _usage.ru_maxrss
_out["cpu_seconds"] = _usage.ru_utime + _usage.ru_stime
print(_json.dumps(_out))
"""


def run_child(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter (its peak RSS is its own) and time it.

    The code may leave a dict named ``result``; it comes back with ``wall_seconds``,
    ``cpu_seconds`` and ``peak_rss_kib`` added.
    """
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code + _REPORT, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-4000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_seconds"] = wall
    return out


def machine() -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), flags=re.M)
        cpu = found.group(1).strip() if found else cpu
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), flags=re.M)
        memory = f"{int(found.group(1)) / 1024**2:.1f} GiB" if found else memory
    import duckdb
    import numpy
    import polars

    return {
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "cpu": cpu,
        "python": platform.python_version(),
        "polars": polars.__version__,
        "duckdb": duckdb.__version__,
        "numpy": numpy.__version__,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
    }


def calibration_seconds() -> float:
    """A fixed pure-Python loop: this shared machine's speed varies by the hour (up to ~40%
    between runs of the same code), so each result says how fast the machine was."""
    began = time.perf_counter()
    total = 0
    for i in range(20_000_000):
        total += i
    return time.perf_counter() - began


def machine_line(host: dict[str, str]) -> str:
    return (
        f"Machine: {host['nproc']} CPUs ({host['cpu']}), {host['memory']} RAM; "
        f"Python {host['python']}, Polars {host['polars']}, DuckDB {host['duckdb']}, "
        f"numpy {host['numpy']}; measured {host['date']}; calibration loop "
        f"{calibration_seconds():.2f} s (20M Python additions; lower is faster)."
    )


def update_results(title: str, text: str) -> None:
    """Replace the ``## {title}`` section of RESULTS.md with ``text`` (or append it)."""
    intro = (
        "# Benchmark results\n\n"
        "Recorded figures of the reproducible benchmarks in this folder. Each section is\n"
        "rewritten by its script; the command to reproduce it is in the section.\n\n"
    )
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else intro
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", flags=re.M | re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(updated.rstrip("\n") + "\n", encoding="utf-8")


def generated(lines: int, seed: int = 7, days: int = 3) -> Path:
    """Generator output for (lines, seed, days), made once and kept under benchmarks/.work."""
    folder = WORK / f"generated-{lines}-s{seed}-d{days}"
    if not (folder / "_generator_manifest.json").exists():
        from pipelines.lib.generator import generate

        folder.mkdir(parents=True, exist_ok=True)
        generate(folder, lines=lines, seed=seed, days=days, reference_dir=REPO / "data/reference")
    return folder
