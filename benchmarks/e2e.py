"""The end-to-end benchmark's measured process: the real Dagster jobs on a fresh platform.

:func:`play` runs in a child process started by ``benchmarks/run.py`` (its peak RSS is its
own). It points the platform at a fresh data folder, Dagster home and warehouse (the
``OMS_*`` variables and ``DAGSTER_HOME``), puts the input in the inbox and runs the jobs as
the schedules would, in process on one Dagster instance, on a simulated clock (the
``oms/now`` run tag every stage reads). Every stage (a Dagster step) is measured from its
``STEP_START`` to its ``STEP_SUCCESS`` event: wall time, CPU time of this process (every
thread: DuckDB's and Polars' too) and of the processes it waited for (dbt, the message
renderers), and the peak RSS of this process during the step (the kernel's high-water mark,
reset at each step start) and of its child processes (sampled).

Documents are drawn for a sample of the waves (``sample``: one wave in ``sample``, chosen by
a hash of its id): the pick lists, packing slips (with the queries that gather a slip's
data), shipping labels (PDF and ZPL) and return labels of the other waves are counted but
not drawn. Their cost is measured in the stages' own benchmarks (benchmarks/RESULTS.md:
Fulfilment, Shipping, Returns); the results extrapolate it. Everything else is the stages'
own code, unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: The stages of the batch, in the order the jobs run them (Dagster step keys).
STAGES = (
    "intake",
    "returns",
    "validation",
    "inventory_movements",
    "allocation",
    "fulfilment",
    "shipping",
    "channel_feeds",
    "notifications",
    "dbt_models",
    "reporting_snapshot",
)
#: A fixed key for the customers' keyed hashes (the platform makes a random one otherwise).
PII_KEY = "benchmark-key-not-a-secret-0123456789"


def _status_kib(pid: int | str, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return 0


def _vm_hwm_kib(pid: int | str = "self") -> int:
    return _status_kib(pid, "VmHWM:")


def _reset_hwm() -> None:
    """Start this process's peak RSS afresh (Linux: ``5`` to ``clear_refs``)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _children() -> set[int]:
    """Every process started by this one (any thread), and theirs, recursively."""
    found: set[int] = set()
    todo = [str(os.getpid())]
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    kids = children.read().split()
            except OSError:
                continue
            for kid in kids:
                if int(kid) not in found:
                    found.add(int(kid))
                    todo.append(kid)
    return found


class ChildPeak:
    """Samples the peak RSS of this process's children (dbt, the message renderers) every
    ``interval`` seconds: their own high-water marks, read while they live."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.peak_kib = 0  # the largest child's own peak
        self.together_kib = 0  # the most the children held at one time, added up
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            together = 0
            for pid in _children():
                self.peak_kib = max(self.peak_kib, _vm_hwm_kib(pid))
                together += _status_kib(pid, "VmRSS:")
            self.together_kib = max(self.together_kib, together)

    def start(self) -> ChildPeak:
        self._thread.start()
        return self

    def take(self) -> tuple[int, int]:
        """(largest child's peak, children's peak together) since the last take; again."""
        peak, together = self.peak_kib, self.together_kib
        self.peak_kib = self.together_kib = 0
        return peak, together

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class StageFigures:
    run: str
    stage: str
    status: str = "?"
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    children_cpu_seconds: float = 0.0
    peak_rss_kib: int = 0
    children_peak_rss_kib: int = 0
    children_together_rss_kib: int = 0
    attempts: int = 1


@dataclass
class RunFigures:
    run: str
    job: str
    at: str
    success: bool
    wall_seconds: float
    failures: list[str]
    materialized: dict[str, dict]
    fed: dict[str, int] = field(default_factory=dict)


class Meter:
    """Measures each step of the runs on ``instance`` from its start to its end event
    (``handle_new_event`` is where an in-process run reports them, in the step's thread)."""

    def __init__(self, instance, children: ChildPeak):
        self.stages: list[StageFigures] = []
        self.label = ""
        self._open: dict[str, tuple[float, resource.struct_rusage, resource.struct_rusage]] = {}
        self._children = children
        self._process_peak = 0
        #: ``OMS_BENCH_PROFILE``: a folder for a cProfile of each step (slows Python down)
        folder = os.environ.get("OMS_BENCH_PROFILE")
        self.profile_dir = Path(folder) if folder else None
        self._profiler = None
        original = instance.handle_new_event

        def handle(event, **kwargs):
            entry = event.dagster_event
            if entry is not None and entry.step_key is not None:
                kind = entry.event_type_value
                if kind in ("STEP_START", "STEP_RESTARTED"):  # (a retry restarts)
                    self._begin(entry.step_key)
                elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_UP_FOR_RETRY"):
                    self._end(entry.step_key, kind)
            return original(event, **kwargs)

        instance.handle_new_event = handle

    def _begin(self, step: str) -> None:
        if self.profile_dir is not None:
            import cProfile

            self._profiler = cProfile.Profile()
            self._profiler.enable()
        _reset_hwm()  # (what ran between steps, the outside world's files, is not counted)
        self._children.take()
        self._open[step] = (
            time.perf_counter(),
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )

    def _end(self, step: str, kind: str) -> None:
        if self._profiler is not None:
            self._profiler.disable()
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            name = f"{len(self.stages):02d}-{self.label}-{step}.prof".replace(" ", "_")
            self._profiler.dump_stats(self.profile_dir / name.replace("+", "_"))
            self._profiler = None
        if step not in self._open:
            return
        began, own, kids = self._open.pop(step)
        own_now = resource.getrusage(resource.RUSAGE_SELF)
        kids_now = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = _vm_hwm_kib()
        self._process_peak = max(self._process_peak, peak)
        children_peak, children_together = self._children.take()
        attempts = 1 + sum(1 for s in self.stages if s.run == self.label and s.stage == step)
        self.stages.append(
            StageFigures(
                run=self.label,
                stage=step,
                status="success" if kind == "STEP_SUCCESS" else kind.lower(),
                wall_seconds=time.perf_counter() - began,
                cpu_seconds=_cpu(own_now) - _cpu(own),
                children_cpu_seconds=_cpu(kids_now) - _cpu(kids),
                peak_rss_kib=peak,
                children_peak_rss_kib=children_peak,
                children_together_rss_kib=children_together,
                attempts=attempts,
            )
        )

    def process_peak_kib(self) -> int:
        """The highest of the steps' peaks (between steps only the outside world's files
        are made)."""
        return self._process_peak


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


# --- documents for a sample of the waves ------------------------------------------------------


def sample_documents(every: int) -> dict[str, int]:
    """Draw the documents of one wave in ``every`` (by a hash of the wave id); count the rest.

    Replaces the drawing functions the stages call by name; the stages still mark every wave
    and parcel as printed, so a later run does not draw them either. Returns the counters
    (updated as the stages run).
    """
    from pipelines.lib import fulfilment, returns, shipping

    counts = {"waves_drawn": 0, "waves_skipped": 0, "labels_skipped": 0, "slips_skipped": 0}
    counts.update({"return_labels_drawn": 0, "return_labels_skipped": 0})
    if every <= 1:
        return counts

    def chosen(name: str) -> bool:
        return zlib.crc32(name.encode()) % every == 0

    pick_list, slips, labels = (
        fulfilment.render_pick_list,
        fulfilment._packing_slips,
        shipping._write_label_files,
    )

    def render_pick_list(path: Path, wave: dict, rows: list[dict]) -> int:
        if chosen(wave["wave_id"]):
            counts["waves_drawn"] += 1
            return pick_list(path, wave, rows)
        counts["waves_skipped"] += 1
        return 0

    def packing_slips(con, wave_id, tasks, *args):
        if chosen(wave_id):
            return slips(con, wave_id, tasks, *args)
        shipments = tasks["shipment_id"].n_unique()
        counts["slips_skipped"] += shipments
        return shipments, 0

    def label_files(pdf: Path, group, warehouses) -> int:
        if chosen(str(group["wave_id"][0])):
            return labels(pdf, group, warehouses)
        counts["labels_skipped"] += group.height
        return 0

    skipped: set[str] = set()

    def return_labels(con, reference_dir: Path) -> int:
        """``returns.write_return_labels`` drawing the chosen RMAs' labels only."""
        rmas = returns._return_labels(
            con, "r.label_path IS NOT NULL AND r.status IN ('authorized', 'received')", []
        )
        warehouses = returns._warehouses(reference_dir)
        written = 0
        for row in rmas.iter_rows(named=True):
            path = Path(row["label_path"])
            if path.exists():
                continue
            if not chosen(row["rma_number"]):  # (seen again by every later run)
                skipped.add(row["rma_number"])
                counts["return_labels_skipped"] = len(skipped)
                continue
            returns.render_labels_pdf(path, [returns._return_label(row, warehouses)])
            written += 1
            counts["return_labels_drawn"] += 1
        return written

    fulfilment.render_pick_list = render_pick_list
    fulfilment._packing_slips = packing_slips
    shipping._write_label_files = label_files
    returns.write_return_labels = return_labels
    return counts


def capture_allocation_inputs(folder: Path) -> None:
    """Keep the first allocation's inputs (the open lines, ATP, warehouses the stage handed
    the engine) in ``folder`` as parquet, for the oracle baseline to run on the same."""
    from pipelines.lib import brokering

    engine = brokering.allocate

    def allocate(lines, stock, warehouses, *, max_splits):
        if not (folder / "lines.parquet").exists():
            folder.mkdir(parents=True, exist_ok=True)
            lines.write_parquet(folder / "lines.parquet")
            stock.write_parquet(folder / "stock.parquet")
            warehouses.write_parquet(folder / "warehouses.parquet")
            (folder / "max_splits").write_text(str(max_splits))
        return engine(lines, stock, warehouses, max_splits=max_splits)

    brokering.allocate = allocate


def compare_allocation(folder: Path) -> dict:
    """The engine and the oracle loop (tests/unit/allocation/oracle.py) on the captured
    inputs, each timed in this process; their outputs must be identical."""
    import polars as pl

    from pipelines.lib.allocation import allocate
    from tests.unit.allocation import oracle

    lines, stock, warehouses = (
        pl.read_parquet(folder / f"{name}.parquet") for name in ("lines", "stock", "warehouses")
    )
    splits = int((folder / "max_splits").read_text())
    allocate(lines.head(50), stock, warehouses, max_splits=splits)  # numba's code loaded
    began = time.perf_counter()
    engine = allocate(lines, stock, warehouses, max_splits=splits)
    engine_seconds = time.perf_counter() - began
    began = time.perf_counter()
    allocations, backorders, _ = oracle.allocate(lines, stock, warehouses, max_splits=splits)
    oracle_seconds = time.perf_counter() - began
    same = engine.allocations.equals(allocations) and engine.backorders.equals(backorders)
    return {
        "lines": lines.height,
        "orders": lines["order_key"].n_unique(),
        "engine_seconds": engine_seconds,
        "oracle_seconds": oracle_seconds,
        "identical": same,
    }


# --- the platform -----------------------------------------------------------------------------


def platform_env(work: Path) -> dict[str, str]:
    """The variables that put the whole platform (data, warehouse, snapshot, Dagster) in
    ``work``."""
    return {
        "OMS_DATA_DIR": str(work / "data"),
        "OMS_WAREHOUSE": str(work / "data" / "warehouse" / "oms.duckdb"),
        "OMS_REPORTING": str(work / "data" / "warehouse" / "reporting.duckdb"),
        "DAGSTER_HOME": str(work / "dagster"),
        "OMS_PII_KEY": PII_KEY,
        "OMS_ENV": "dev",
    }


def fingerprint(settings) -> dict[str, object]:
    """What a run could change: every stored table's row count and a hash of its rows, and
    every file under the data folder's inbox, archive, rejected and outbox (path, size,
    modification time)."""
    from pipelines.lib.warehouse import connect

    tables: dict[str, list] = {}
    with connect(settings.warehouse_path, read_only=True) as con:
        names = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() "
            "ORDER BY ALL"
        ).fetchall()
        for schema, table in names:
            count, digest = con.execute(
                f'SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM "{schema}"."{table}" t'
            ).fetchone()
            tables[f"{schema}.{table}"] = [count, str(digest)]
    files: dict[str, list] = {}
    for folder in (settings.inbox, settings.archive, settings.rejected, settings.outbox):
        for path in folder.rglob("*"):
            if path.is_file():
                stat = path.stat()
                files[str(path.relative_to(settings.data_dir))] = [stat.st_size, stat.st_mtime_ns]
    return {"tables": tables, "files": files}


def changes(before: dict, after: dict) -> list[str]:
    """What differs between two fingerprints, one line each."""
    found = []
    for kind in ("tables", "files"):
        old, new = before[kind], after[kind]
        for name in sorted(set(old) | set(new)):
            if old.get(name) != new.get(name):
                found.append(f"{kind[:-1]} {name}: {old.get(name)} -> {new.get(name)}")
    return found


@contextlib.contextmanager
def platform(work: Path, sample: int) -> Iterator[tuple[object, Meter, Callable, dict]]:
    """A fresh platform in ``work``: (settings, meter, execute, document counts).
    ``execute(label, job, now, with_analytics)`` runs a job as the demo does and returns its
    :class:`RunFigures`."""
    os.environ.update(platform_env(work))
    import dagster as dg

    from pipelines import demo
    from pipelines.project import get_settings

    settings = get_settings()
    settings.ensure_dirs()
    documents = sample_documents(sample)
    children = ChildPeak().start()
    with dg.DagsterInstance.get() as instance:
        meter = Meter(instance, children)
        # The demo's runner: each job in process on this instance, on the simulated clock,
        # without its analytics group unless asked.
        runner = demo.in_process_runner(instance)

        def execute(label: str, job_name: str, now: datetime, with_analytics: bool):
            meter.label = label
            began = time.perf_counter()
            ok, failures, materialized = runner(job_name, now, with_analytics)
            wall = time.perf_counter() - began
            return RunFigures(label, job_name, now.isoformat(), ok, wall, failures, materialized)

        try:
            yield settings, meter, execute, documents
        finally:
            children.stop()


def _copy_inputs(files: list[Path], inbox: Path) -> None:
    import shutil

    for path in files:
        shutil.copyfile(path, inbox / path.name)


def _due(name: str, window_start: datetime, window: timedelta) -> datetime | None:
    """When a generated file reaches the inbox (``pipelines.demo.due_at`` with the set's
    export window)."""
    from pipelines import demo

    if match := demo._BATCH_FILE.search(name):
        begins = datetime.strptime(match[1] + match[2], "%Y%m%d%H").replace(tzinfo=UTC)
        return begins + window
    return demo.due_at(name, window_start)


def _generated(source: Path) -> tuple[list[Path], datetime, datetime, timedelta]:
    """The set's input files, its window (start, end) and its export window."""
    manifest = json.loads((source / "_generator_manifest.json").read_text())
    window = manifest["window"]
    start = datetime.fromisoformat(window["start"]).astimezone(UTC)
    end = datetime.fromisoformat(window["end"]).astimezone(UTC)
    hours = int(manifest.get("batch_hours", 12))
    files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("_"))
    return files, start, end, timedelta(hours=hours)


def _check(run: RunFigures) -> RunFigures:
    if not run.success:
        raise RuntimeError(f"{run.job} at {run.at} failed: {run.failures}")
    return run


def play_batch(
    source: Path, work: Path, sample: int, return_rate: float = 0.15, capture: Path | None = None
) -> dict:
    """The whole flow of one batch of ``source`` in a fresh platform, then the same again
    with nothing new:

    1. ``order_batch`` when the set's last file is due (every export and stock file in the
       inbox): intake, validation, stock, allocation, waves and cartons, rating and labels,
       stock feeds, order confirmations;
    2. ``carrier_cutoff`` after that day's last warehouse cutoff: manifests close, the parcels
       ship, shipment confirmations to the channels, shipping notices;
    3. three days later the carriers' tracking events of every shipped parcel up to then and
       return requests from ``return_rate`` of the delivered orders land in the inbox (made
       with the demo's generators, not timed), then ``order_batch`` with analytics: tracking
       events, deliveries, returns (RMAs, return labels), notifications, dbt build, snapshot;
    4. the same ``order_batch`` again at the same moment, with nothing new: it must change
       nothing (tables and files compared before and after).

    The first three are the batch's end-to-end time.
    """
    from pipelines import demo
    from pipelines.lib.reference import read_reference

    files, window_start, _, window = _generated(source)
    if capture is not None:
        capture_allocation_inputs(capture)
    with platform(work, sample) as (settings, meter, execute, documents):
        due = max(d for f in files if (d := _due(f.name, window_start, window)) is not None)
        _copy_inputs(files, settings.inbox)
        runs = [_check(execute("batch", "order_batch", due, False))]
        runs[-1].fed = {"files": len(files)}
        warehouses = read_reference(settings.reference_dir, "warehouses")
        cutoff = demo.last_cutoff(due.date(), warehouses) + demo.AFTER_CUTOFF
        if cutoff <= due:
            cutoff = demo.last_cutoff((due + timedelta(days=1)).date(), warehouses)
            cutoff += demo.AFTER_CUTOFF
        runs.append(_check(execute("cutoff", "carrier_cutoff", cutoff, False)))
        later = cutoff + timedelta(days=3)
        feeds = demo.Feeds(settings, source, window_start, return_rate)
        began = time.perf_counter()
        tracked = feeds.tracking(later - timedelta(hours=1), 1)
        world_seconds = time.perf_counter() - began
        runs.append(_check(execute("tracking", "order_batch", later - timedelta(hours=1), False)))
        runs[-1].fed = {"tracking events": tracked}
        began = time.perf_counter()
        requested = feeds.returns(later, 2)
        world_seconds += time.perf_counter() - began
        runs.append(_check(execute("returns+analytics", "order_batch", later, True)))
        runs[-1].fed = {"return requests": requested}
        before = fingerprint(settings)
        runs.append(_check(execute("no-op", "order_batch", later, True)))
        after = fingerprint(settings)
        peak = meter.process_peak_kib()
        stages = [asdict(s) for s in meter.stages]
    return {
        "runs": [asdict(r) for r in runs],
        "stages": stages,
        "documents": documents,
        "noop_changes": changes(before, after),
        "process_peak_rss_kib": peak,
        "world_seconds": world_seconds,
        "tables": {k: v[0] for k, v in after["tables"].items()},
        "files": len(after["files"]),
    }


def play_hourly(source: Path, work: Path, sample: int) -> dict:
    """A day in hourly batches: ``source`` holds one day of exports, one file per channel
    and hour (``generate(..., days=1, batch_hours=1)``). Each hour the files due by then
    reach the inbox (the opening stock count with the first) and the real ``order_batch``
    runs, analytics included, as its schedule runs it; the day's stock files (receipts,
    adjustments, counts) come in with the last hour's exports. Per-batch time is
    the run's wall time; the stages' figures are kept per hour."""
    files, window_start, window_end, window = _generated(source)
    hours = round((window_end - window_start) / window)
    with platform(work, sample) as (settings, meter, execute, documents):
        runs = []
        waiting = {f: _due(f.name, window_start, window) for f in files}
        for hour in range(1, hours + 1):
            now = window_start + hour * window
            due = [f for f, at in waiting.items() if at is not None and at <= now]
            if hour == hours:  # anything left (the day's stock files are due by now)
                due = list(waiting)
            for path in due:
                waiting.pop(path)
            _copy_inputs(sorted(due), settings.inbox)
            run = _check(execute(f"hour {hour}", "order_batch", now + timedelta(minutes=5), True))
            run.fed = {"files": len(due)}
            runs.append(run)
        peak = meter.process_peak_kib()
        stages = [asdict(s) for s in meter.stages]
        with_rows = fingerprint(settings)["tables"]
    return {
        "runs": [asdict(r) for r in runs],
        "stages": stages,
        "documents": documents,
        "process_peak_rss_kib": peak,
        "tables": {k: v[0] for k, v in with_rows.items()},
    }
