"""``dagster dev`` end to end: exports dropped in the inbox start ``order_batch`` through the
inbox sensor, the run succeeds, and a second ``order_batch`` submitted meanwhile waits in the
run queue (``deploy/dagster.yaml``: one ``oms/writer`` run at a time) instead of failing;
then ``oms submit carrier_cutoff --as-of +1d`` ships the labelled parcels through the webserver,
and the analyst dashboards' Orders page finds a shipped order by its number.

Starts the real webserver, daemon and code server (``uv run dagster dev -w workspace.yaml``)
on a free port over a temporary data folder and Dagster home; everything is polled through
GraphQL with bounded timeouts. About three minutes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.lib import dagster_api
from pipelines.lib.generator import MANIFEST_NAME, generate
from pipelines.lib.intake import inbox_files
from pipelines.lib.warehouse import connect, scalar
from pipelines.project import get_settings
from tests.conftest import use_platform
from tests.e2e.dagster_service import DagsterService, group_alive, wait_for
from tests.integration.dashboard_app import open_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JOB = "order_batch"
SENSOR = "inbox_sensor"
#: The sensor ticks every 30 s; the daemon's first tick can take a while after startup.
SENSOR_TIMEOUT = 150.0
#: From QUEUED to STARTED (the daemon dequeues, the run worker loads the code location).
START_TIMEOUT = 120.0
#: One order_batch over a few dozen orders, dbt build included.
RUN_TIMEOUT = 300.0
ACTIVE = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "MANAGED", "CANCELING"}
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[DagsterService]:
    """``dagster dev`` over tmp_path, stopped (its whole process group) at teardown."""
    service = DagsterService(tmp_path)
    try:
        service.start()
        yield service
    finally:
        service.stop()
    assert not group_alive(service.process.pid), "dagster dev left processes behind"


def _drop_exports(staging: Path, inbox: Path) -> list[str]:
    """Move generated exports into the inbox in one quick burst (renames, same filesystem),
    so a sensor tick never sees half of them; the generator's manifest stays behind."""
    names = []
    for path in sorted(staging.iterdir()):
        if path.name != MANIFEST_NAME:
            path.rename(inbox / path.name)
            names.append(path.name)
    return names


def _status(service: DagsterService, run_id: str) -> str:
    return dagster_api.run_status(run_id, url=service.url)


def _finish(service: DagsterService, run_id: str, timeout: float) -> str:
    status = wait_for(
        lambda: (s := _status(service, run_id)) in DONE and s,
        timeout,
        f"run {run_id} to finish",
        interval=2.0,
    )
    assert status == "SUCCESS", f"run {run_id} ended {status}:\n{service.run_errors(run_id)}"
    return status


def test_inbox_sensor_starts_order_batch_and_a_second_run_queues(
    dagster_dev: DagsterService, tmp_path: Path
):
    service = dagster_dev
    try:
        _scenario(service, tmp_path)
    except BaseException:
        # pytest shows a failing test's captured output: the service's own story.
        try:
            print("sensor:", service.sensor_state(SENSOR))
            print("runs:", service.runs(JOB))
        except Exception as exc:  # diagnostics only
            print(f"(GraphQL unavailable: {exc})")
        print(service.log_tail())
        raise


def _scenario(service: DagsterService, tmp_path: Path) -> None:
    began = time.monotonic()
    # Only the sensor and this test start runs: a cron tick (order_batch every 15 minutes
    # on weekdays, the carrier cutoffs) must not join the queue mid-test.
    assert service.stop_schedules()
    assert service.runs(JOB) == []

    staging = tmp_path / "staging"
    summary = generate(
        staging,
        orders=60,
        seed=23,
        days=1,
        defect_rate=0.0,
        reference_dir=service.settings.reference_dir,
    )
    dropped = _drop_exports(staging, service.settings.inbox)
    assert dropped and {p.name for p in inbox_files(service.settings.inbox)} == set(dropped)

    # The sensor sees the burst and requests one order_batch run, keyed by the files.
    def sensor_run():
        runs = [r for r in service.runs(JOB) if r["tags"].get("dagster/sensor_name") == SENSOR]
        return runs[-1] if runs else None  # newest first: the last one is the first request

    first = wait_for(sensor_run, SENSOR_TIMEOUT, "the inbox sensor to request a run", 2.0)
    first_id = first["runId"]
    assert first["tags"]["oms/trigger"] == "inbox"
    assert first["tags"]["oms/writer"] == "true"  # the job's tag the queue limits
    assert first["tags"]["dagster/run_key"].startswith("inbox-")
    sensed = time.monotonic()

    status = wait_for(
        lambda: (
            (s := _status(service, first_id)) not in {"QUEUED", "NOT_STARTED", "STARTING"} and s
        ),
        START_TIMEOUT,
        f"the sensor's run {first_id} to start",
        interval=0.5,
    )
    assert status == "STARTED", (
        f"the sensor's run went {status} before the test could submit a second run:\n"
        f"{service.run_errors(first_id)}"
    )

    # A second trigger while the first writer runs: it waits in the queue, it does not fail.
    second_id = dagster_api.submit_job(JOB, url=service.url, tags={"oms/trigger": "e2e"})
    assert second_id != first_id
    seen_queued_behind = 0
    while True:
        # The second first: if it has left the queue while the first (read after it) is
        # still going, the two overlapped.
        second_status = _status(service, second_id)
        first_status = _status(service, first_id)
        if first_status in DONE:
            break
        assert second_status == "QUEUED", (
            f"second run is {second_status} while the first is {first_status}:\n"
            f"{service.run_errors(second_id)}"
        )
        if first_status == "STARTED":
            seen_queued_behind += 1
        assert time.monotonic() - sensed < RUN_TIMEOUT, f"run {first_id} did not finish"
        time.sleep(1.0)
    assert seen_queued_behind >= 1
    _finish(service, first_id, 0)
    first_done = time.monotonic()

    # The queue lets it go once the first is done; it finds nothing new and succeeds too.
    _finish(service, second_id, START_TIMEOUT + RUN_TIMEOUT)
    runs = {r["runId"]: r for r in service.runs(JOB)}
    assert runs[second_id]["startTime"] >= runs[first_id]["endTime"]
    assert runs[second_id]["tags"]["oms/writer"] == "true"
    # Archiving the files started nothing more: two runs in all, both successful.
    assert {r: v["status"] for r, v in runs.items()} == {
        first_id: "SUCCESS",
        second_id: "SUCCESS",
    }

    # What a user sees: the orders in the warehouse (read by the sensor's run), the exports
    # archived, and the reporting snapshot the dashboards read.
    with connect(service.settings.warehouse_path, read_only=True) as con:
        assert scalar(con, "SELECT count(*) FROM oms.orders") == summary.orders
        assert scalar(con, "SELECT count(*) FROM oms.order_lines") == summary.lines
        assert con.execute("SELECT DISTINCT run_id FROM oms.orders").fetchall() == [(first_id,)]
        processed = scalar(con, "SELECT count(*) FROM raw.files WHERE status = 'processed'")
        assert processed >= 1
    assert inbox_files(service.settings.inbox) == []
    archive = service.settings.archive
    archived = {p.name for p in archive.rglob("*") if p.is_file()}
    assert archived == set(dropped)
    assert all(p.parent.parent == archive for p in archive.rglob("*.*"))
    assert not [p for p in service.settings.rejected.iterdir()]
    assert service.settings.reporting_path.is_file()
    with duckdb.connect(str(service.settings.reporting_path), read_only=True) as snapshot:
        ((fct,),) = snapshot.execute("SELECT count(*) FROM analytics.fct_orders").fetchall()
    assert fct == summary.orders
    # The README's last steps: ship now rather than at the evening cutoff, through the CLI
    # and the webserver, on a clock a day ahead (past every labelled parcel's cutoff).
    with connect(service.settings.warehouse_path, read_only=True) as con:
        labelled = scalar(con, "SELECT count(*) FROM oms.parcels WHERE tracking_number IS NOT NULL")
    assert labelled > 0
    ahead = datetime.now(UTC) + timedelta(days=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(dagster_api.URL_ENV, service.url)
        submitted = CliRunner().invoke(app, ["submit", "carrier_cutoff", "--as-of", "+1d"])
    assert submitted.exit_code == 0, submitted.output
    assert "carrier_cutoff submitted: " in submitted.output
    cutoff_id = submitted.output.strip().rsplit("/runs/", 1)[1]
    _finish(service, cutoff_id, START_TIMEOUT + RUN_TIMEOUT)
    cutoff_run = next(r for r in service.runs("carrier_cutoff") if r["runId"] == cutoff_id)
    clock = datetime.fromisoformat(cutoff_run["tags"]["oms/now"])
    assert abs(clock - ahead) < timedelta(minutes=5), clock
    with connect(service.settings.warehouse_path, read_only=True) as con:
        shipped = scalar(con, "SELECT count(*) FROM oms.parcels WHERE status = 'shipped'")
        number = scalar(con, "SELECT min(order_number) FROM oms.orders WHERE status = 'shipped'")
    assert shipped == labelled and number
    # ... and the analyst dashboards show it: found by its number on Orders, shipped.
    with pytest.MonkeyPatch.context() as mp:
        use_platform(service.root, mp)
        orders_page = open_page("app_pages/orders.py")
        orders_page.text_input(key="orders_search").input(number)
        orders_page = orders_page.run()
    get_settings.cache_clear()  # the settings of the platform above are not kept
    assert not orders_page.exception, orders_page.exception
    heads = [m.value for m in orders_page.markdown if "· status **" in m.value]
    assert len(heads) == 1 and "status **shipped**" in heads[0], heads
    assert number.lstrip("#") in heads[0]
    print(
        f"sensor run after {sensed - began:.0f} s, first run done after "
        f"{first_done - sensed:.0f} s, second after {time.monotonic() - first_done:.0f} s; "
        f"second seen queued behind the first {seen_queued_behind} times"
    )
    shutil.rmtree(staging)
