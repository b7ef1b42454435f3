"""Start and stop a real ``dagster dev`` (webserver, daemon, code server) for end-to-end tests.

:class:`DagsterService` runs ``uv run dagster dev -w workspace.yaml`` from the repository root
on a free port, with the platform's settings pointed at a temporary folder and a temporary
``DAGSTER_HOME`` holding a copy of ``deploy/dagster.yaml`` (the run queue). It runs in its own
process group so that :meth:`DagsterService.stop` ends the webserver, the daemon and the code
servers ``dagster dev`` spawns, all together (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from pipelines.project import REPO_ROOT, Settings
from tests.conftest import free_port

#: Seconds for ``dagster dev`` to answer (it loads the code location, dbt parse included).
START_TIMEOUT = 180.0
#: Seconds between SIGTERM and SIGKILL of the process group.
STOP_GRACE = 20.0
REQUEST_TIMEOUT = 10.0
#: The code location of workspace.yaml and its one repository (a module's ``defs``).
REPOSITORY = {
    "repositoryLocationName": "pipelines.definitions",
    "repositoryName": "__repository__",
}

RUNS_QUERY = """
query Runs($filter: RunsFilter, $limit: Int) {
  runsOrError(filter: $filter, limit: $limit) {
    __typename
    ... on Runs {
      results {
        runId
        status
        startTime
        endTime
        tags { key value }
      }
    }
    ... on PythonError { message }
  }
}
"""

SENSOR_QUERY = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      name
      sensorState {
        status
        ticks(limit: 10) { status timestamp skipReason runIds error { message } }
      }
    }
    ... on PythonError { message }
  }
}
"""

SCHEDULES_QUERY = """
query Schedules($selector: RepositorySelector!) {
  schedulesOrError(repositorySelector: $selector) {
    __typename
    ... on Schedules { results { id name scheduleState { status } } }
    ... on PythonError { message }
  }
}
"""

STOP_SCHEDULE = """
mutation Stop($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""

RUN_ERRORS_QUERY = """
query RunLogs($runId: ID!) {
  logsForRun(runId: $runId, limit: 5000) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level stepKey }
        ... on ErrorEvent { error { message stack } }
      }
    }
  }
}
"""

LOCATION_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name } }
          ... on PythonError { message }
        }
      }
    }
  }
}
"""


@dataclass
class DagsterService:
    """One ``dagster dev`` over a platform rooted at ``root`` (data/ and dagster_home/)."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @functools.cached_property
    def settings(self) -> Settings:
        """The platform's folders and files, as the service's processes resolve them."""
        return Settings.from_env(
            {
                "OMS_DATA_DIR": str(self.root / "data"),
                "OMS_REFERENCE_DIR": str(REPO_ROOT / "data" / "reference"),
                "DAGSTER_HOME": str(self.root / "dagster_home"),
            }
        )

    @property
    def log_path(self) -> Path:
        return self.root / "dagster_dev.log"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("DAGSTER_IS_DEV_CLI", "OMS_DAGSTER_URL", "OMS_ENV"):
            env.pop(name, None)
        env.update(
            OMS_DATA_DIR=str(self.settings.data_dir),
            OMS_WAREHOUSE=str(self.settings.warehouse_path),
            OMS_REPORTING=str(self.settings.reporting_path),
            OMS_REFERENCE_DIR=str(self.settings.reference_dir),
            DAGSTER_HOME=str(self.settings.dagster_home),
            PYTHONUNBUFFERED="1",
        )
        return env

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> None:
        self.settings.ensure_dirs()  # the folders, and deploy/dagster.yaml: the run queue
        log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                [
                    "uv",
                    "run",
                    "dagster",
                    "dev",
                    "-w",
                    "workspace.yaml",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                ],
                cwd=REPO_ROOT,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()  # the child holds its own descriptor
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Until ``/server_info`` answers and the code location has loaded."""
        from pipelines.lib.dagster_api import is_running

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"dagster dev exited with {self.process.returncode} before answering\n"
                    + self.log_tail()
                )
            if is_running(self.url) and self._location_loaded():
                return
            time.sleep(1.0)
        raise TimeoutError(
            f"dagster dev did not answer at {self.url} within {timeout:.0f} s\n" + self.log_tail()
        )

    def _location_loaded(self) -> bool:
        try:
            data = self.graphql(LOCATION_QUERY)
        except (requests.RequestException, RuntimeError):
            return False
        entries = data["workspaceOrError"].get("locationEntries") or []
        for entry in entries:
            loaded = entry["locationOrLoadError"]
            if loaded and loaded["__typename"] == "PythonError":
                raise RuntimeError(f"code location {entry['name']} failed: {loaded['message']}")
        return bool(entries) and all(
            e["loadStatus"] == "LOADED" and e["locationOrLoadError"] for e in entries
        )

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after ``grace`` seconds."""
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the leader's pid
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        deadline = time.monotonic() + grace
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.2)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, chars: int = 20_000) -> str:
        if not self.log_path.exists():
            return "(no dagster dev log)"
        text = self.log_path.read_text(errors="replace")
        return f"--- dagster dev log ({self.log_path}) ---\n{text[-chars:]}"

    # -- GraphQL ---------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=REQUEST_TIMEOUT,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def runs(self, job_name: str) -> list[dict[str, Any]]:
        """The job's runs, newest first, each with its tags as a dict."""
        data = self.graphql(RUNS_QUERY, {"filter": {"pipelineName": job_name}, "limit": 50})
        result = data["runsOrError"]
        if result["__typename"] != "Runs":
            raise RuntimeError(f"runsOrError: {result}")
        return [
            {**run, "tags": {t["key"]: t["value"] for t in run["tags"]}}
            for run in result["results"]
        ]

    def sensor_state(self, sensor_name: str) -> dict[str, Any]:
        selector = {**REPOSITORY, "sensorName": sensor_name}
        return self.graphql(SENSOR_QUERY, {"selector": selector})["sensorOrError"]

    def stop_schedules(self, attempts: int = 10) -> list[str]:
        """Stop every schedule (so no cron tick adds runs to the queue during a test).

        Retried: right after startup the daemon may be inserting a schedule's state row at
        the same moment (SQLite: UNIQUE constraint failed: jobs.job_origin_id, an HTTP 500).
        """
        for attempt in range(attempts):
            try:
                return self._stop_schedules()
            except (requests.RequestException, RuntimeError):
                if attempt == attempts - 1:
                    raise
                time.sleep(2.0)
        raise AssertionError("unreachable")

    def _stop_schedules(self) -> list[str]:
        data = self.graphql(SCHEDULES_QUERY, {"selector": REPOSITORY})["schedulesOrError"]
        if data["__typename"] != "Schedules":
            raise RuntimeError(f"schedulesOrError: {data}")
        stopped = []
        for schedule in data["results"]:
            if schedule["scheduleState"]["status"] != "STOPPED":
                result = self.graphql(STOP_SCHEDULE, {"id": schedule["id"]})
                outcome = result["stopRunningSchedule"]
                if outcome["__typename"] != "ScheduleStateResult":
                    raise RuntimeError(f"could not stop {schedule['name']}: {outcome}")
            stopped.append(schedule["name"])
        return stopped

    def run_errors(self, run_id: str) -> str:
        """The run's ERROR-level messages and error stacks (for a failure message)."""
        data = self.graphql(RUN_ERRORS_QUERY, {"runId": run_id})["logsForRun"]
        lines = []
        for event in data.get("events") or []:
            error = event.get("error")
            if event.get("level") == "ERROR" or error:
                lines.append(
                    f"[{event['__typename']} {event.get('stepKey')}] {event.get('message')}"
                )
                if error:
                    lines.append(error["message"] + "".join(error.get("stack") or []))
        return "\n".join(lines) or "(no error events)"


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    """Poll ``condition`` until it returns something truthy (returned), or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
