"""The batch runs Dagster recorded: each job's last success and last failure, with the failing
stage and its message, for ``oms status`` and the dashboards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType

#: The jobs whose runs ops watch (pipelines/defs/automation.py).
WATCHED_JOBS = ("order_batch", "carrier_cutoff", "analytics_refresh")
#: A failure message is cut to this many characters (the UI has the whole stack).
MESSAGE_CHARS = 500


def _when(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None


def _step_failure_text(event) -> str:
    """What a failed step says: the user code's exception, not Dagster's wrapper."""
    error = event.step_failure_data.error
    cause = error.cause if error is not None and error.cause is not None else error
    return ((cause.message if cause is not None else event.message) or "").strip()


def _failure(instance: dg.DagsterInstance, run_id: str) -> tuple[str | None, str]:
    """(stage, message) of a failed run: its first failed step, else the run's own failure."""
    step, message = None, "the run failed"
    for record in instance.all_logs(
        run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    ):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE:
            text = _step_failure_text(event) or message
            return event.step_key, " ".join(text.split())[:MESSAGE_CHARS]
        message = " ".join((event.message or message).split())[:MESSAGE_CHARS]
    return step, message


def run_history(dagster_home: Path, jobs: tuple[str, ...] = WATCHED_JOBS) -> dict[str, dict]:
    """Per job that ever ran: its last success and last failure (run id, finished at; the
    failure with its stage and message, and whether a success came after it). Empty when the
    Dagster home has no runs yet."""
    if not Path(dagster_home).is_dir():
        return {}
    history: dict[str, dict] = {}
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for job in jobs:
            found: dict[str, object] = {}
            for status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE):
                records = instance.get_run_records(
                    filters=dg.RunsFilter(job_name=job, statuses=[status]), limit=1
                )
                if not records:
                    continue
                record = records[0]
                entry: dict[str, object] = {
                    "run_id": record.dagster_run.run_id,
                    "finished_at": _when(record.end_time),
                }
                if status == dg.DagsterRunStatus.FAILURE:
                    entry["stage"], entry["message"] = _failure(instance, entry["run_id"])
                found[
                    "last_success" if status == dg.DagsterRunStatus.SUCCESS else "last_failure"
                ] = entry
            if found:
                success, failure = found.get("last_success"), found.get("last_failure")
                if failure is not None:
                    failure["resolved"] = bool(
                        success is not None
                        and success["finished_at"] is not None
                        and failure["finished_at"] is not None
                        and success["finished_at"] > failure["finished_at"]
                    )
                history[job] = found
    return history


#: A run in these states holds the warehouse, or will as soon as it starts.
IN_PROGRESS = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
)


def writer_runs_in_progress(instance: dg.DagsterInstance, tag: str) -> list[tuple[str, str, str]]:
    """(job, run id, status) of the runs tagged ``tag`` (the writers) that are queued or
    running, oldest first."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=list(IN_PROGRESS), tags={tag: "true"})
    )
    return [
        (r.dagster_run.job_name, r.dagster_run.run_id, r.dagster_run.status.value)
        for r in reversed(records)
    ]


def run_outcome(instance: dg.DagsterInstance, run_id: str) -> tuple[list[str], dict[str, dict]]:
    """What one run did: its failed steps (``step: message``) and, per materialized asset,
    the numeric metadata it reported (row counts, holds, timings), without Dagster's own
    (``Execution Duration``, ``dagster/row_count``: every dbt model has them)."""
    failures: list[str] = []
    materialized: dict[str, dict] = {}
    for record in instance.all_logs(
        run_id,
        of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.ASSET_MATERIALIZATION},
    ):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE:
            failures.append(f"{event.step_key}: {_step_failure_text(event)}")
        else:
            mat = event.event_specific_data.materialization
            materialized[mat.asset_key.to_user_string()] = {
                key: value.value
                for key, value in mat.metadata.items()
                if isinstance(value.value, int | float)
                and key != "Execution Duration"
                and not key.startswith("dagster/")
            }
    return failures, materialized
