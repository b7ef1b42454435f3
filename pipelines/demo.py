"""The story ``make run`` tells on an empty platform: a week of operation, replayed in order.

The generator writes :data:`DAYS` days of channel exports and stock files into a staging
folder (``data/demo/``); the demo then plays the days on a simulated clock, the run tag
``oms/now`` every stage reads (:func:`pipelines.defs.resources.batch_clock`):

* **each morning** (13:00 UTC) the files due by then move into the inbox: an export of a
  12-hour window when the window ends, the opening stock count at the start, the other stock
  files (receipts that fill backorders, adjustments, a cycle count) after their day; with
  them the carriers' tracking events that happened by then (each parcel's whole timeline is
  drawn once, when it ships, and released as it happens), from the third day the return
  requests customers sent, and the inspection results of the returns that arrived. Then
  ``order_batch`` runs (without analytics, which runs once at the end);
* **after the day's last carrier cutoff** (warehouses.csv, each in its own time zone)
  ``carrier_cutoff`` closes the manifests, which ships the parcels;
* **at the end** ``analytics_refresh`` builds the marts and publishes the snapshot.

Every run is recorded in the Dagster home like any other, tagged ``oms/trigger=demo``. After
the week, orders are in every state: on hold, backordered, released, shipped, delivered,
partially returned and returned, with refunds and exchanges.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from pipelines.project import Settings

DAYS = 9
ORDERS = 1400
SEED = 7
#: The morning batch, in UTC: after the 12-hour export window that ends at noon UTC.
MORNING = timedelta(hours=13)
#: carrier_cutoff runs this long after the day's last warehouse cutoff.
AFTER_CUTOFF = timedelta(minutes=10)
#: Return requests start on this day (0-based): parcels need a few days to arrive.
RETURNS_FROM_DAY = 2
#: Share of the delivered, not yet returned orders whose customers ask each morning; requests
#: come within two days of delivery, and returned parcels reach the warehouse one or two days
#: after authorisation (a week-long demo cannot wait for the usual weeks).
RETURN_RATE = 0.15
RETURN_WINDOW_DAYS = 3
RETURN_ARRIVAL_DAYS = (1, 2)
TRIGGER_TAGS = {"oms/trigger": "demo"}

_BATCH_FILE = re.compile(r"_(\d{8})_(\d{2})(?:_p\d+)?\.[a-z]+$")
_DAY_FILE = re.compile(r"_(\d{8})\.[a-z]+$")
_WINDOW = timedelta(hours=12)


@dataclass(frozen=True)
class Step:
    """One run of the demo: a job at a simulated moment."""

    day: int
    at: datetime
    job: str


@dataclass
class StepResult:
    step: Step
    success: bool
    seconds: float
    #: asset → numeric metadata of its materialization
    materialized: dict[str, dict]
    failures: list[str]
    fed: dict[str, int] = field(default_factory=dict)


def window_end(today: datetime) -> datetime:
    """Where the generated week ends: noon UTC the day before ``today``, so the last morning
    batch (yesterday) sees every export and the demo never runs ahead of the wall clock."""
    day = today.astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return day - timedelta(days=1)


def last_cutoff(date, warehouses: pl.DataFrame) -> datetime:
    """The day's last carrier cutoff across the warehouses, in UTC."""
    latest = None
    for row in warehouses.iter_rows(named=True):
        hour, minute = (int(part) for part in row["carrier_cutoff"].split(":"))
        local = datetime(date.year, date.month, date.day, hour, minute)
        moment = local.replace(tzinfo=ZoneInfo(row["time_zone"])).astimezone(UTC)
        latest = moment if latest is None else max(latest, moment)
    return latest


def plan(end: datetime, warehouses: pl.DataFrame, days: int = DAYS) -> list[Step]:
    """The runs of the week that ends at ``end``: each day's order batch and carrier cutoff,
    then one analytics refresh."""
    start = end - timedelta(days=days)
    steps: list[Step] = []
    for day in range(days):
        morning = start.replace(hour=0) + timedelta(days=day + 1) + MORNING
        steps.append(Step(day, morning, "order_batch"))
        cutoff = last_cutoff(morning.date(), warehouses) + AFTER_CUTOFF
        steps.append(Step(day, max(cutoff, morning + AFTER_CUTOFF), "carrier_cutoff"))
    steps.append(Step(days - 1, steps[-1].at + AFTER_CUTOFF, "analytics_refresh"))
    return steps


def due_at(name: str, window_start: datetime) -> datetime | None:
    """When a generated file reaches the inbox: an export when its 12-hour window ends, the
    opening stock snapshot at the start, another stock file after its day; None for others."""
    if name.startswith("inventory_snapshot_"):
        return window_start
    if match := _BATCH_FILE.search(name):
        begins = datetime.strptime(match[1] + match[2], "%Y%m%d%H").replace(tzinfo=UTC)
        return begins + _WINDOW
    if match := _DAY_FILE.search(name):
        return datetime.strptime(match[1], "%Y%m%d").replace(tzinfo=UTC) + timedelta(days=1)
    return None


class Feeds:
    """What the outside world sends the platform during the demo, released as time passes."""

    def __init__(
        self,
        settings: Settings,
        staging: Path,
        window_start: datetime,
        return_rate: float = RETURN_RATE,
    ) -> None:
        self.settings = settings
        self.return_rate = return_rate
        self.staging = staging
        self.window_start = window_start
        self.events: pl.DataFrame | None = None  # tracking events not yet happened
        self.tracked: set[str] = set()

    def exports(self, now: datetime) -> int:
        """Move the staged files due by ``now`` into the inbox, oldest first."""
        due = []
        for path in self.staging.iterdir():
            when = due_at(path.name, self.window_start)
            if path.is_file() and when is not None and when <= now:
                due.append((when, path.name, path))
        for _, name, path in sorted(due):
            shutil.move(path, self.settings.inbox / name)
        return len(due)

    def tracking(self, now: datetime, step: int) -> int:
        """Tracking events that happened by ``now``, of every parcel shipped so far."""
        from pipelines.lib.generator.tracking import (
            shipped_parcels,
            tracking_timelines,
            write_tracking_files,
        )
        from pipelines.lib.warehouse import connect

        with connect(self.settings.warehouse_path, read_only=True) as con:
            parcels = shipped_parcels(con, self.settings.reference_dir)
        new = parcels.filter(~pl.col("tracking_number").is_in(list(self.tracked)))
        if new.height:
            # The whole journey is drawn once, when the parcel ships; it is told as it happens.
            far = now + timedelta(days=60)
            timeline = tracking_timelines(new, now=far, seed=SEED + step)
            self.events = timeline if self.events is None else pl.concat([self.events, timeline])
            self.tracked.update(new["tracking_number"].to_list())
        if self.events is None:
            return 0
        happened = self.events.filter(pl.col("occurred_at") <= now)
        self.events = self.events.filter(pl.col("occurred_at") > now)
        if happened.height == 0:
            return 0
        write_tracking_files(
            happened,
            self.settings.inbox,
            seed=SEED + step,
            files=min(4, happened.height),
            stamp=now.strftime("%Y%m%dT%H%M%S"),
        )
        return happened.height

    def returns(self, now: datetime, step: int) -> int:
        """Return requests of delivered orders, sent within two days of delivery."""
        from pipelines.lib.generator.returns import (
            return_requests,
            returnable_lines,
            write_return_requests,
        )
        from pipelines.lib.reference import read_reference
        from pipelines.lib.warehouse import connect

        with connect(self.settings.warehouse_path, read_only=True) as con:
            shipped = returnable_lines(con)
        catalogue = read_reference(self.settings.reference_dir, "products").select("sku", "name")
        requests = return_requests(
            shipped,
            seed=SEED + step,
            as_of=now,
            rate=self.return_rate,
            window_days=RETURN_WINDOW_DAYS,
            catalogue=catalogue,
        )
        if requests.height:
            name = f"returns_{now:%Y%m%dT%H%M%S}.csv"
            write_return_requests(requests, self.settings.inbox / name)
        return requests.height

    def inspections(self, now: datetime, step: int) -> int:
        """What the warehouses found in the returned parcels that arrived by ``now``."""
        from pipelines.lib.generator.returns import write_demo_inspections

        path = write_demo_inspections(
            self.settings.warehouse_path,
            self.settings.inbox,
            as_of=now,
            seed=SEED + step,
            arrival_days=RETURN_ARRIVAL_DAYS,
        )
        return 0 if path is None else sum(1 for _ in path.open(encoding="utf-8")) - 1


Runner = Callable[[str, datetime, bool], tuple[bool, list[str], dict[str, dict]]]


def run_demo(
    settings: Settings,
    execute: Runner,
    report: Callable[[StepResult], None],
    *,
    today: datetime | None = None,
    days: int = DAYS,
    orders: int = ORDERS,
    return_rate: float = RETURN_RATE,
) -> list[StepResult]:
    """Generate the week into a staging folder and play it (see the module doc); ``days``,
    ``orders`` and ``return_rate`` make it shorter or denser (the tests play a short one).

    ``execute(job, now, with_analytics)`` runs one job on the simulated clock and returns
    (success, failures, materialized); ``report`` hears about each step as it ends. Stops at
    the first failed run (the platform keeps the last consistent state).
    """
    from pipelines.lib.generator import generate
    from pipelines.lib.reference import read_reference

    end = window_end(today or datetime.now(UTC))
    staging = settings.data_dir / "demo"
    if staging.exists():
        shutil.rmtree(staging)
    generate(
        staging, orders=orders, seed=SEED, days=days, end=end, reference_dir=settings.reference_dir
    )
    feeds = Feeds(settings, staging, end - timedelta(days=days), return_rate)
    results: list[StepResult] = []
    warehouses = read_reference(settings.reference_dir, "warehouses")
    try:
        for number, step in enumerate(plan(end, warehouses, days)):
            fed: dict[str, int] = {}
            if step.job == "order_batch":
                fed["files"] = feeds.exports(step.at)
                if settings.warehouse_path.exists():
                    fed["tracking events"] = feeds.tracking(step.at, number)
                    if step.day >= RETURNS_FROM_DAY:
                        fed["return requests"] = feeds.returns(step.at, number)
                        fed["inspections"] = feeds.inspections(step.at, number)
            began = time.perf_counter()
            ok, failures, materialized = execute(step.job, step.at, step.job == "analytics_refresh")
            result = StepResult(step, ok, time.perf_counter() - began, materialized, failures, fed)
            results.append(result)
            report(result)
            if not ok:
                break
    finally:  # what is left would only have happened later (or the demo was stopped)
        shutil.rmtree(staging, ignore_errors=True)
    return results


def unfinished(instance) -> str | None:
    """What to tell the user when the last demo run was not the demo's successful end (it
    was stopped or failed), else None."""
    import dagster as dg

    records = instance.get_run_records(filters=dg.RunsFilter(tags=TRIGGER_TAGS), limit=1)
    if not records:
        return None
    last = records[0].dagster_run
    if last.job_name == "analytics_refresh" and last.status == dg.DagsterRunStatus.SUCCESS:
        return None
    return (
        f"the demo did not finish (its last run, {last.job_name} as of "
        f"{last.tags.get('oms/now', '?')}, {last.status.value.lower()}): "
        "`make clean-data` then `make run` plays it again"
    )


def in_process_runner(instance) -> Runner:
    """Run the demo's jobs in this process on ``instance`` (recorded like any run), each
    without its analytics group unless asked, on the simulated clock."""
    import contextlib
    import io
    import uuid

    import dagster as dg

    from pipelines.definitions import build_definitions
    from pipelines.defs.automation import JOB_GROUPS
    from pipelines.defs.resources import CLOCK_TAG
    from pipelines.lib.runs import process_tags, run_outcome

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

    def execute(job_name: str, now: datetime, with_analytics: bool):
        job = defs.resolve_job_def(job_name)
        selection = None
        if not with_analytics:
            groups = [g for g in JOB_GROUPS[job_name] if g != "analytics"]
            selection = sorted(dg.AssetSelection.groups(*groups).resolve(graph))
        run_id = str(uuid.uuid4())
        errors: list[str] = []
        try:
            # dbt writes its log to stdout; the run's own log keeps what matters.
            with contextlib.redirect_stdout(io.StringIO()):
                ok = job.execute_in_process(
                    run_config=quiet,
                    instance=instance,
                    run_id=run_id,
                    raise_on_error=False,
                    tags={CLOCK_TAG: now.isoformat(), **TRIGGER_TAGS, **process_tags()},
                    asset_selection=selection,
                ).success
        except Exception as exc:  # recorded as a failed run by Dagster; reported by the caller
            ok, errors = False, [str(exc)]
        failures, materialized = run_outcome(instance, run_id)
        return ok, failures + errors, materialized

    return execute
