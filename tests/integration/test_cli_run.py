"""`oms run` as `make run` uses it on waiting exports: one recorded run, a summary, and the
failure report (the demo an empty platform gets is in test_demo.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.definitions import build_definitions
from pipelines.lib.generator import generate
from pipelines.lib.runs import process_tags
from pipelines.project import DASHBOARDS_DIR
from tests.conftest import warehouse_held
from tests.integration.dashboard_app import shown

ORDERS = 600


def test_oms_run_on_waiting_exports_runs_one_batch_and_a_second_run_changes_nothing(oms_env):
    generate(oms_env.inbox, orders=ORDERS, seed=7, days=3, reference_dir=oms_env.reference_dir)
    runner = CliRunner()
    first = runner.invoke(app, ["run", "--demo-if-empty"])
    assert first.exit_code == 0, first.output
    assert "inbox was empty" not in first.output and "playing" not in first.output
    assert "order_batch succeeded" in first.output
    assert str(oms_env.reporting_path) in first.output

    status = runner.invoke(app, ["status", "--json"])
    counts = json.loads(status.stdout)
    assert counts["orders"] == ORDERS
    by_status = counts["orders_by_status"]
    # Validation judged every order: none is left "received"; a few defective ones are held.
    # The rest were released to pick waves (wholly or in part allocated) or wait for stock;
    # orders the channel had already fulfilled are shipped without our stock.
    assert by_status["received"] == 0
    placed = ("released", "backordered")
    assert all(by_status[s] > 0 for s in placed)
    assert by_status["allocated"] == by_status["partially_allocated"] == 0  # all in waves
    assert (
        by_status["on_hold"]
        + by_status["cancelled"]
        + by_status["shipped"]
        + sum(by_status[s] for s in (*placed, "ready"))
        == ORDERS
    )
    assert 0 < by_status["on_hold"] < by_status["released"]
    assert by_status["shipped"] > 0
    assert "open holds: " in first.output and "`oms holds`" in first.output
    assert "open backorders: " in first.output
    assert "pick waves released: " in first.output
    assert counts["files"]["processed"] >= 10
    stock = counts["inventory"]
    assert stock["units_committed"] > 0 and stock["open_backorders"] > 0
    assert stock["units_on_hand"] >= stock["units_committed"]
    # Every released parcel is labelled; manifests wait for the carrier cutoff (still ahead).
    assert "labels: " in first.output and "PDF and ZPL" in first.output
    shipping = counts["shipping"]
    assert shipping["parcels_labelled_waiting"] > 0
    assert shipping["manifests"] == shipping["parcels_on_the_way"] == 0
    outbox = counts["outbox"]
    assert outbox["queued"] > 0 and outbox["sent"] == outbox["failed"] == 0  # SMTP off
    assert "customer messages: " in first.output
    nothing_yet = runner.invoke(app, ["demo-tracking"])
    assert nothing_yet.exit_code == 0
    assert "no shipped parcel has tracking events yet" in nothing_yet.output

    # The run was recorded in the persistent Dagster home (what `make ui` shows).
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_run_records()
        assert [r.dagster_run.job_name for r in runs] == ["order_batch"]
        assert runs[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS

    second = runner.invoke(app, ["run", "--demo-if-empty"])
    assert second.exit_code == 0, second.output
    assert "playing" not in second.output  # files were received before: no demo
    assert "new=0, updated=0" in second.output
    assert "validated=0" in second.output  # nothing new or changed: nothing judged again
    again = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert {k: v for k, v in again.items() if k != "runs"} == {
        k: v for k, v in counts.items() if k != "runs"
    }
    # Ops see when the batch last succeeded (and that it never failed).
    first_success = counts["runs"]["order_batch"]["last_success"]
    latest = again["runs"]["order_batch"]
    assert "last_failure" not in latest
    assert latest["last_success"]["finished_at"] > first_success["finished_at"]
    assert "order_batch: last success " in runner.invoke(app, ["status"]).output
    page = AppTest.from_file(str(DASHBOARDS_DIR / "streamlit_app.py"), default_timeout=60).run()
    assert not page.exception and not page.error
    assert page.caption[0].value.startswith("Last successful batch: 20")

    queue = json.loads(runner.invoke(app, ["holds", "--json"]).stdout)
    assert len({h["order_key"] for h in queue["holds"]}) == by_status["on_hold"]
    assert all(h["detail"] and h["reason"] for h in queue["holds"])


def test_a_failed_run_says_which_stage_failed_and_why(oms_env, monkeypatch, tmp_path):
    blocked = tmp_path / "not-a-database"
    blocked.mkdir()  # a folder where the warehouse file should be: DuckDB cannot open it
    monkeypatch.setenv("OMS_WAREHOUSE", str(blocked))
    from pipelines.project import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 1
    assert "order_batch failed" in result.stderr
    assert "intake:" in result.stderr
    assert "not-a-database" in result.stderr
    # `oms status` shows the failure, its stage and its message, until a run succeeds.
    failure = json.loads(CliRunner().invoke(app, ["status", "--json"]).stdout)["runs"][
        "order_batch"
    ]["last_failure"]
    assert failure["stage"] == "intake" and "not-a-database" in failure["message"]
    assert failure["resolved"] is False
    text = CliRunner().invoke(app, ["status"]).output
    assert "order_batch: last success never; last failure " in text
    assert "intake: " in text
    # The dashboards say so too, above whatever figures they still have.
    page = AppTest.from_file(str(DASHBOARDS_DIR / "streamlit_app.py"), default_timeout=60).run()
    assert not page.exception
    (error,) = page.error
    message = shown(error.value)
    assert "The last order batch failed" in message and "in intake:" in message
    assert "not-a-database" in message and "last successful batch: none yet" in message


def test_oms_submit_says_plainly_when_dagster_is_not_running(monkeypatch):
    from tests.conftest import free_port

    monkeypatch.setenv("OMS_DAGSTER_URL", f"http://127.0.0.1:{free_port()}")
    result = CliRunner().invoke(app, ["submit", "carrier_cutoff", "--as-of", "2026-11-27T23:59Z"])
    assert result.exit_code == 2
    assert "not submitted: the Dagster webserver is not running" in result.stderr
    assert "make ui" in result.stderr
    unknown = CliRunner().invoke(app, ["submit", "nightly"])
    assert unknown.exit_code == 2 and "unknown job 'nightly'" in unknown.output


def _a_gone_pid() -> int:
    """The PID of a process that has ended."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_oms_run_refuses_beside_another_writer_and_clears_what_a_gone_one_left(oms_env):
    """`make run` beside a batch another process runs, or while another process has the
    warehouse open: refused with the reason and the way out, the inbox untouched. A run left
    "started" by a process that is gone (Ctrl-C, a kill), or one for a Dagster daemon that
    is not running, does not stand in the way."""
    generate(oms_env.inbox, orders=20, seed=5, days=1, reference_dir=oms_env.reference_dir)
    waiting = sorted(p.name for p in oms_env.inbox.iterdir())
    job = build_definitions().resolve_job_def("order_batch")

    def a_run(status: dg.DagsterRunStatus, **tags: str) -> dg.DagsterRun:
        with dg.DagsterInstance.get() as instance:
            return instance.create_run_for_job(job, tags={**job.tags, **tags}, status=status)

    # A batch going in another terminal's `oms run` (this test's process stands for it).
    going = a_run(dg.DagsterRunStatus.STARTED, **process_tags())
    refused = CliRunner().invoke(app, ["run"], env={"COLUMNS": "300"})
    assert refused.exit_code == 2
    assert f"order_batch {going.run_id[:8]} (started)" in refused.stderr
    assert "uv run oms submit order_batch" in refused.stderr
    assert sorted(p.name for p in oms_env.inbox.iterdir()) == waiting
    with dg.DagsterInstance.get() as instance:
        instance.report_run_canceled(going)

    # Another process has the warehouse open (as a Dagster run would): DuckDB names it.
    with warehouse_held(oms_env.warehouse_path) as holder:
        locked = CliRunner().invoke(app, ["run"], env={"COLUMNS": "300"})
    assert locked.exit_code == 2
    assert "another process has the warehouse open" in locked.stderr
    assert f"PID {holder.pid}" in locked.stderr
    assert sorted(p.name for p in oms_env.inbox.iterdir()) == waiting

    # Left behind: a run whose process is gone, and one waiting for a daemon that is not up.
    left = a_run(dg.DagsterRunStatus.STARTED, **{**process_tags(), "oms/pid": str(_a_gone_pid())})
    waits = a_run(dg.DagsterRunStatus.NOT_STARTED)
    again = CliRunner().invoke(app, ["run"], env={"COLUMNS": "300"})
    assert again.exit_code == 0, again.output
    assert f"marked canceled: order_batch {left.run_id[:8]}, left 'started'" in again.output
    assert not [p for p in oms_env.inbox.iterdir() if not p.name.startswith("_")]
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(left.run_id).status == dg.DagsterRunStatus.CANCELED
        assert instance.get_run_by_id(waits.run_id).status == dg.DagsterRunStatus.NOT_STARTED


def test_a_failed_cutoff_or_refresh_shows_on_the_overview_and_every_ops_page(oms_env):
    """Not only the batch: an unresolved failure of the other writing jobs is in `oms status`,
    above the Overview and above each page of the ops workspace."""
    failures = {
        "carrier_cutoff": "manifests could not be written: disk full",
        "analytics_refresh": "dbt build failed: fct_orders",
    }
    defs = build_definitions()
    with dg.DagsterInstance.get() as instance:
        for job_name, message in failures.items():
            job = defs.resolve_job_def(job_name)
            run = instance.create_run_for_job(
                job, tags=job.tags, status=dg.DagsterRunStatus.STARTED
            )
            instance.report_run_failed(run, message)
    runs = json.loads(CliRunner().invoke(app, ["status", "--json"]).stdout)["runs"]
    for job_name, message in failures.items():
        assert runs[job_name]["last_failure"]["message"] == message
        assert runs[job_name]["last_failure"]["resolved"] is False

    overview = AppTest.from_file(str(DASHBOARDS_DIR / "streamlit_app.py"), default_timeout=60)
    seen = {"overview": _errors(overview.run())}
    ops = AppTest.from_file(str(DASHBOARDS_DIR / "ops_app.py"), default_timeout=60)
    seen["upload"] = _errors(ops.run())  # the workspace opens on Upload
    for page in ("exceptions", "phone_order", "audit_trail"):
        seen[page] = _errors(ops.switch_page(f"app_pages/{page}.py").run())
    for page, errors in seen.items():
        cutoff = [e for e in errors if e.startswith("The last carrier cutoff failed")]
        refresh = [e for e in errors if e.startswith("The last analytics refresh failed")]
        assert len(cutoff) == 1 and "disk full" in cutoff[0], (page, errors)
        assert "last successful carrier cutoff: none yet" in cutoff[0]
        assert len(refresh) == 1 and "dbt build failed: fct_orders" in refresh[0], (page, errors)
        assert not [e for e in errors if e.startswith("The last order batch")]


def _errors(page: AppTest) -> list[str]:
    """The error boxes a page shows, read at once (an AppTest is the same object after it
    switches page), with no exception."""
    assert not page.exception, page.exception
    return [shown(e.value) for e in page.error]


@pytest.mark.slow
def test_ctrl_c_on_oms_run_cancels_its_run_and_the_next_one_goes_on(oms_env):
    """An `oms run` interrupted mid-batch says so and exits 130, its run is recorded as
    canceled (not left "started" to block the next one), and the next `oms run` finishes."""
    generate(oms_env.inbox, orders=40, seed=9, days=1, reference_dir=oms_env.reference_dir)
    run = subprocess.Popen(
        [str(Path(sys.executable).parent / "oms"), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a shell's background job would start with Ctrl-C ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        started = None
        deadline = time.monotonic() + 120
        while started is None and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.5)
            with dg.DagsterInstance.get() as instance:
                records = instance.get_run_records(limit=1)
                if records and any(
                    e.dagster_event and e.dagster_event.event_type_value == "STEP_START"
                    for e in instance.all_logs(records[0].dagster_run.run_id)
                ):
                    started = records[0].dagster_run.run_id
        assert started, "the batch did not start"
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130, stderr
    assert "interrupted: the batch stopped" in stderr
    with dg.DagsterInstance.get() as instance:
        stopped = instance.get_run_by_id(started)
    assert stopped.status == dg.DagsterRunStatus.CANCELED
    assert stopped.tags["oms/pid"] == str(run.pid)

    again = CliRunner().invoke(app, ["run"])
    assert again.exit_code == 0, again.output
    assert "order_batch succeeded" in again.output
    assert not [p for p in oms_env.inbox.iterdir() if not p.name.startswith("_")]
