"""The batch runs Dagster recorded: each job's last success and last failure, with the failing
stage and its message, for ``oms status`` and the dashboards."""

from __future__ import annotations

import os
import socket
import time
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
    Dagster home has no runs yet (its default SQLite storage, ``history/``, not made yet)."""
    if not (Path(dagster_home) / "history").is_dir():
        return {}  # no run recorded yet (and opening the instance would create its storage)
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
#: Tags of a run executed in this process (``oms run``, the demo): which process runs it.
PID_TAG, HOST_TAG = "oms/pid", "oms/host"
#: A Dagster daemon whose heartbeat is older than this is taken as stopped.
DAEMON_SILENT_SECONDS = 90


def process_tags() -> dict[str, str]:
    """Tags naming this process, for a run it executes in-process: a run left "started" by a
    process that is gone (Ctrl-C, a kill) is then known for what it is."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _daemon_running(instance: dg.DagsterInstance) -> bool:
    """Whether a Dagster daemon (``make ui``) beat its heart lately: only then do queued runs
    start, and runs it launched run."""
    beats = instance.get_daemon_heartbeats().values()
    newest = max((beat.timestamp for beat in beats), default=None)
    return newest is not None and time.time() - newest < DAEMON_SILENT_SECONDS


def writers_in_the_way(
    instance: dg.DagsterInstance, tag: str
) -> tuple[list[dg.DagsterRun], list[dg.DagsterRun]]:
    """The runs tagged ``tag`` (the writers) that are going, or will start, while a batch in
    this process would run, oldest first; and the runs cleared on the way.

    A run some process of this machine executes in-process counts while that process lives;
    one it left "started" when it died is marked canceled here (cleared). Runs of the Dagster
    daemon (``make ui``), queued or started, count while the daemon runs: when it is stopped,
    none of them runs or starts.
    """
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=list(IN_PROGRESS), tags={tag: "true"})
    )
    daemon = None
    in_the_way, cleared = [], []
    for run in reversed([r.dagster_run for r in records]):
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if pid and host == socket.gethostname():
            if _alive(int(pid)):
                in_the_way.append(run)
            else:
                instance.report_run_canceled(
                    run, message=f"the process that ran it (PID {pid}) is gone"
                )
                cleared.append(run)
            continue
        if daemon is None:
            daemon = _daemon_running(instance)
        if daemon:
            in_the_way.append(run)
    return in_the_way, cleared


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
