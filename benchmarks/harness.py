"""What every benchmark shares: a measured child process, the machine, RESULTS.md sections."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
WORK = REPO / "benchmarks" / ".work"

#: Appended to a child's code: prints its own peak RSS and CPU time as the last JSON line.
#: The peak is the process's own high-water mark (VmHWM): ``ru_maxrss`` of a process started
#: by fork + exec also counts the parent's resident size at the fork (Linux carries the old
#: address space's high-water mark over the exec), so a big driver would inflate it.
_REPORT = """
import json as _json, resource as _resource
_usage = _resource.getrusage(_resource.RUSAGE_SELF)
_out = dict(globals().get("result", {}))
with open("/proc/self/status") as _status:
    _out["peak_rss_kib"] = next(
        int(_line.split()[1]) for _line in _status if _line.startswith("VmHWM:")
    )
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


_GENERATE = """
import sys
from pathlib import Path
from pipelines.lib.generator import generate
generate(Path(sys.argv[1]), lines=int(sys.argv[2]), seed=int(sys.argv[3]), days=int(sys.argv[4]),
         reference_dir=Path(sys.argv[5]), batch_hours=int(sys.argv[6]))
"""


def files_digest(paths: list[Path]) -> str:
    """One hash of the names and contents of ``paths`` (to tell when code changed)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _generator_digest() -> str:
    """Hash of the generator's code and the reference data it reads."""
    sources = sorted((REPO / "pipelines/lib/generator").glob("*.py"))
    return files_digest(sources + sorted((REPO / "data/reference").glob("*.csv")))


def generated(lines: int, seed: int = 7, days: int = 3, batch_hours: int = 12) -> Path:
    """Generator output for (lines, seed, days, hours per export file), kept under
    benchmarks/.work.

    Made again when the generator's code or the reference data changed since (a stamp file
    beside the folder holds their hash), and made in a child process so the caller's memory
    (and the peak RSS its children report) stays small.
    """
    hourly = "" if batch_hours == 12 else f"-h{batch_hours}"
    folder = WORK / f"generated-{lines}-s{seed}-d{days}{hourly}"
    stamp = folder.with_name(folder.name + ".generator.sha256")
    code = _generator_digest()
    fresh = (folder / "_generator_manifest.json").exists() and stamp.exists()
    if fresh and stamp.read_text().strip() == code:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"generating {lines:,} lines into {folder} ...", flush=True)
    run_child(
        _GENERATE,
        str(folder),
        str(lines),
        str(seed),
        str(days),
        str(REPO / "data/reference"),
        str(batch_hours),
    )
    stamp.write_text(code + "\n")
    return folder


def template_warehouse(
    name: str,
    source: Path,
    code: list[Path],
    child: str,
    *args: str,
    keep: tuple[str, ...],
    check: Callable[[dict], None] | None = None,
) -> tuple[Path, dict]:
    """A warehouse file built once from the generated set ``source`` and kept under
    ``WORK/<name>-<source.name>`` while the set, the schema version and ``code`` (the files
    whose change makes it stale) are the same.

    ``child`` runs in a fresh process with ``source``, a temporary folder and ``args``; it
    leaves ``oms.duckdb`` in that folder and a ``result`` dict. ``check`` may refuse the
    result (raise) before it is kept. Returns the file and its info: the cache key plus the
    ``keep`` entries of the result.
    """
    from pipelines.lib.schema import SCHEMA_VERSION

    manifest = source / "_generator_manifest.json"
    key = {
        "source": source.name,
        "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
        "schema_version": SCHEMA_VERSION,
        "code_sha256": files_digest(code),
    }
    folder = WORK / f"{name}-{source.name}"
    stamp = folder / "template.json"
    if stamp.exists() and (folder / "oms.duckdb").exists():
        known = json.loads(stamp.read_text())
        if {k: known.get(k) for k in key} == key:
            return folder / "oms.duckdb", known
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"building the {name} template warehouse from {source.name} ...", flush=True)
    with tempfile.TemporaryDirectory(prefix=f"bench_{name}_", dir=WORK) as tmp:
        result = run_child(child, str(source), tmp, *args)
        if check is not None:
            check(result)
        shutil.move(Path(tmp) / "oms.duckdb", folder / "oms.duckdb")
    info = {**key, **{k: result[k] for k in keep}}
    stamp.write_text(json.dumps(info, indent=2))
    print("  " + ", ".join(f"{k} {result[k]:,}" for k in keep), flush=True)
    return folder / "oms.duckdb", info


def time_calls(module: str, names: tuple[str, ...]) -> dict[str, float]:
    """Wrap the functions ``names`` of ``module`` (imported by name) with timers; returns
    the running totals in seconds, by name (inclusive: a step called by another counts in
    both)."""
    import functools
    import importlib

    target = importlib.import_module(module)
    totals: dict[str, float] = dict.fromkeys(names, 0.0)
    for name in names:
        original = getattr(target, name)

        @functools.wraps(original)
        def timed(*args, _original=original, _name=name, **kwargs):
            began = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                totals[_name] += time.perf_counter() - began

        setattr(target, name, timed)
    return totals
