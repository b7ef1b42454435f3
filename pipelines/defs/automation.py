"""Jobs over the stages, and the schedules that run them (``data/reference/schedules.toml``).

Every job writes the one DuckDB warehouse, which takes one writer process at a time:

* each job runs its steps in one process, one after the other (``in_process_executor``), so
  two steps of a run never hold the file at once;
* each is tagged ``oms/writer``, and the Dagster instance (``deploy/dagster.yaml``, copied
  into ``DAGSTER_HOME`` by ``make run`` and ``make ui``) lets one run with that tag go at a
  time: a second trigger waits in the run queue instead of failing on the lock;
* a step that fails is tried again (:data:`RETRY`): every stage commits whole files or whole
  phases, so a retry, or the next run, picks up from the last consistent state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
import polars as pl

from pipelines.lib.reference import read_reference, read_settings

#: The tag the instance's run queue limits to one run at a time.
WRITER_TAG = "oms/writer"
WRITER_TAGS = {WRITER_TAG: "true"}
#: Transient failures (a lock held by someone's DuckDB shell, a full disk freed meanwhile).
RETRY = dg.RetryPolicy(max_retries=2, delay=20, backoff=dg.Backoff.EXPONENTIAL)


def _writer_job(
    name: str, groups: tuple[str, ...], description: str
) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.groups(*groups),
        description=description,
        tags=WRITER_TAGS,
        executor_def=dg.in_process_executor,
        op_retry_policy=RETRY,
    )


#: The asset groups each job runs, in the order they depend on each other.
JOB_GROUPS: dict[str, tuple[str, ...]] = {
    "order_batch": (
        "intake",
        "returns",
        "quality",
        "inventory",
        "allocation",
        "fulfilment",
        "shipping",
        "channels",
        "communication",
        "analytics",
    ),
    "carrier_cutoff": ("shipping", "channels", "communication", "analytics"),
    "analytics_refresh": ("analytics",),
}

order_batch = _writer_job(
    "order_batch",
    JOB_GROUPS["order_batch"],
    "The whole batch: inbox → canonical orders → return requests, inspections, refunds and "
    "exchange orders → validation (ready / on_hold) → stock ledger → allocation (commit / "
    "backorder) → waves, pick lists, cartons, packing slips → rating, labels, manifests at "
    "the carrier cutoff, tracking events → shipment confirmations and stock feeds to the "
    "channels → customer messages → analytics → reporting snapshot.",
)
carrier_cutoff = _writer_job(
    "carrier_cutoff",
    JOB_GROUPS["carrier_cutoff"],
    "At a warehouse's carrier cutoff: close the manifests of the labelled parcels (which ships "
    "them and books the stock out), confirm the shipments and the stock left to the channels, "
    "tell the customers, refresh analytics.",
)
analytics_refresh = _writer_job(
    "analytics_refresh",
    JOB_GROUPS["analytics_refresh"],
    "dbt build (models and tests) and the reporting snapshot the dashboards read.",
)
JOBS = (order_batch, carrier_cutoff, analytics_refresh)

CONFIG_FILE = "schedules.toml"
DEFAULTS: dict[str, dict[str, object]] = {
    "order_batch": {
        "cron": "*/15 7-19 * * 1-5",
        "timezone": "America/New_York",
        "running": True,
    },
    "carrier_cutoff": {"days": "1-5", "running": True},
    "analytics_refresh": {"cron": "0 2 * * *", "timezone": "America/New_York", "running": True},
}


@dataclass(frozen=True)
class Cutoff:
    """One carrier cutoff time in one time zone, and the warehouses that share it."""

    hour: int
    minute: int
    time_zone: str
    warehouses: tuple[str, ...]

    @property
    def name(self) -> str:
        zone = self.time_zone.lower().replace("/", "_")
        return f"carrier_cutoff_{self.hour:02d}{self.minute:02d}_{zone}"


def cutoffs(reference_dir: Path) -> list[Cutoff]:
    """The distinct carrier cutoffs of ``warehouses.csv`` (its local HH:MM and time zone)."""
    warehouses = read_reference(reference_dir, "warehouses")
    grouped = (
        warehouses.group_by("carrier_cutoff", "time_zone")
        .agg(pl.col("warehouse_id").sort())
        .sort("time_zone", "carrier_cutoff")
    )
    found = []
    for row in grouped.iter_rows(named=True):
        hour, minute = (int(part) for part in row["carrier_cutoff"].split(":"))
        found.append(Cutoff(hour, minute, row["time_zone"], tuple(row["warehouse_id"])))
    return found


def _status(path: Path, section: str, raw: dict) -> dg.DefaultScheduleStatus:
    running = raw[section]["running"]
    if not isinstance(running, bool):
        raise ValueError(f"{path}: {section}.running must be true or false, got {running!r}")
    return dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED


def _cron(path: Path, name: str, value: object) -> str:
    try:  # Dagster's own check of the five fields
        dg.ScheduleDefinition(name="check", job_name="check", cron_schedule=str(value))
    except dg.DagsterInvalidDefinitionError:
        raise ValueError(f"{path}: {name} is not a cron expression: {value!r}") from None
    if not isinstance(value, str):
        raise ValueError(f"{path}: {name} is not a cron expression: {value!r}")
    return value


def _zone(path: Path, name: str, value: object) -> str:
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{path}: {name} is not a time zone: {value!r}") from None
    return str(value)


def build_schedules(reference_dir: Path) -> list[dg.ScheduleDefinition]:
    """order_batch and analytics_refresh on their cron; carrier_cutoff at every warehouse
    cutoff, in the warehouse's own time zone, on the configured days."""
    path = reference_dir / CONFIG_FILE
    raw = read_settings(path, DEFAULTS)
    schedules = [
        dg.ScheduleDefinition(
            name=f"{job.name}_schedule",
            job=job,
            cron_schedule=_cron(path, f"{job.name}.cron", raw[job.name]["cron"]),
            execution_timezone=_zone(path, f"{job.name}.timezone", raw[job.name]["timezone"]),
            default_status=_status(path, job.name, raw),
            tags={"oms/trigger": "schedule"},
            description=f"{job.name} on {raw[job.name]['cron']} ({raw[job.name]['timezone']}).",
        )
        for job in (order_batch, analytics_refresh)
    ]
    days = raw["carrier_cutoff"]["days"]
    for cutoff in cutoffs(reference_dir):
        cron = _cron(path, "carrier_cutoff.days", f"{cutoff.minute} {cutoff.hour} * * {days}")
        schedules.append(
            dg.ScheduleDefinition(
                name=cutoff.name,
                job=carrier_cutoff,
                cron_schedule=cron,
                execution_timezone=cutoff.time_zone,
                default_status=_status(path, "carrier_cutoff", raw),
                tags={"oms/trigger": "cutoff", "oms/warehouses": ",".join(cutoff.warehouses)},
                description=f"Manifests of {', '.join(cutoff.warehouses)} at their "
                f"{cutoff.hour:02d}:{cutoff.minute:02d} cutoff ({cutoff.time_zone}).",
            )
        )
    return schedules
