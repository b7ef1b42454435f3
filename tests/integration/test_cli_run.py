"""`oms run` as `make run` uses it on waiting exports: one recorded run, a summary, and the
failure report (the demo an empty platform gets is in test_demo.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.definitions import build_definitions
from pipelines.lib.generator import generate
from pipelines.lib.warehouse import connect
from pipelines.project import DASHBOARDS_DIR
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


def test_oms_run_waits_for_no_one_but_refuses_beside_another_writer(oms_env):
    """`make run` while `make ui`'s Dagster has a writing run going, or while another process
    writes the warehouse: refused with the reason and the way out, the inbox untouched."""
    generate(oms_env.inbox, orders=20, seed=5, days=1, reference_dir=oms_env.reference_dir)
    waiting = sorted(p.name for p in oms_env.inbox.iterdir())
    job = build_definitions().resolve_job_def("order_batch")
    with dg.DagsterInstance.get() as instance:
        running = instance.create_run_for_job(
            job, tags=job.tags, status=dg.DagsterRunStatus.STARTED
        )
    refused = CliRunner().invoke(app, ["run"], env={"COLUMNS": "300"})
    assert refused.exit_code == 2
    assert f"order_batch {running.run_id[:8]} (started)" in refused.stderr
    assert "uv run oms submit order_batch" in refused.stderr
    assert sorted(p.name for p in oms_env.inbox.iterdir()) == waiting
    with dg.DagsterInstance.get() as instance:
        instance.report_run_canceled(running)

    # Another process holds the warehouse (as a Dagster run would): DuckDB names it.
    with connect(oms_env.warehouse_path):
        pass  # the file exists, as after any batch
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(120)",
            str(oms_env.warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        locked = CliRunner().invoke(app, ["run"], env={"COLUMNS": "300"})
    finally:
        holder.kill()
        holder.wait()
    assert locked.exit_code == 2
    assert "another process is writing the warehouse" in locked.stderr
    assert f"PID {holder.pid}" in locked.stderr
    assert sorted(p.name for p in oms_env.inbox.iterdir()) == waiting
    # With the lock free the batch runs.
    again = CliRunner().invoke(app, ["run"])
    assert again.exit_code == 0, again.output
    assert not [p for p in oms_env.inbox.iterdir() if not p.name.startswith("_")]


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
    ops = AppTest.from_file(str(DASHBOARDS_DIR / "ops_app.py"), default_timeout=60).run()
    pages = [overview.run(), ops, ops.switch_page("app_pages/exceptions.py").run()]
    for page in pages:
        assert not page.exception, page.exception
        errors = [shown(e.value) for e in page.error]
        cutoff = [e for e in errors if e.startswith("The last carrier cutoff failed")]
        refresh = [e for e in errors if e.startswith("The last analytics refresh failed")]
        assert len(cutoff) == 1 and "disk full" in cutoff[0], errors
        assert "last successful carrier cutoff: none yet" in cutoff[0]
        assert len(refresh) == 1 and "dbt build failed: fct_orders" in refresh[0], errors
        assert not [e for e in errors if e.startswith("The last order batch")]
