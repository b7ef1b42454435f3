"""The jobs, their schedules from the reference data, and the instance's one-writer queue."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs import automation
from pipelines.project import INSTANCE_CONFIG
from tests.orders import REFERENCE


def _schedules(reference: Path = REFERENCE) -> dict[str, dg.ScheduleDefinition]:
    return {s.name: s for s in automation.build_schedules(reference)}


def test_every_job_is_a_single_process_writer_that_retries():
    for job in automation.JOBS:
        assert job.tags == {"oms/writer": "true"}, job.name
        assert job.executor_def is dg.in_process_executor, job.name
        assert job.op_retry_policy.max_retries == 2, job.name


def test_the_batch_and_analytics_run_on_their_cron_in_their_time_zone():
    schedules = _schedules()
    batch = schedules["order_batch_schedule"]
    assert (batch.cron_schedule, batch.execution_timezone) == (
        "*/15 7-19 * * 1-5",
        "America/New_York",
    )
    assert batch.job_name == "order_batch"
    assert batch.default_status == dg.DefaultScheduleStatus.RUNNING
    nightly = schedules["analytics_refresh_schedule"]
    assert (nightly.cron_schedule, nightly.job_name) == ("0 2 * * *", "analytics_refresh")


def test_each_warehouse_cutoff_closes_its_manifests_in_its_own_time_zone():
    cutoffs = {
        name: (s.cron_schedule, s.execution_timezone, s.tags["oms/warehouses"])
        for name, s in _schedules().items()
        if s.job_name == "carrier_cutoff"
    }
    # warehouses.csv: NJ 17:00 and GA 16:30 New York, TX 17:00 and IL 16:00 Chicago, CA 15:30
    # Los Angeles.
    assert cutoffs == {
        "carrier_cutoff_1630_america_new_york": ("30 16 * * 1-5", "America/New_York", "WH-GA"),
        "carrier_cutoff_1700_america_new_york": ("0 17 * * 1-5", "America/New_York", "WH-NJ"),
        "carrier_cutoff_1600_america_chicago": ("0 16 * * 1-5", "America/Chicago", "WH-IL"),
        "carrier_cutoff_1700_america_chicago": ("0 17 * * 1-5", "America/Chicago", "WH-TX"),
        "carrier_cutoff_1530_america_los_angeles": (
            "30 15 * * 1-5",
            "America/Los_Angeles",
            "WH-CA",
        ),
    }
    # A tick asks for one carrier_cutoff run tagged with its warehouses.
    schedule = _schedules()["carrier_cutoff_1700_america_new_york"]
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.tags["oms/trigger"] == "cutoff" and request.tags["oms/warehouses"] == "WH-NJ"


def test_warehouses_sharing_a_cutoff_share_one_schedule(tmp_path: Path):
    shutil.copytree(REFERENCE, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "warehouses.csv"
    text = path.read_text().replace(",16:30,America/New_York,", ",17:00,America/New_York,")
    path.write_text(text)
    (tmp_path / "schedules.toml").write_text('[carrier_cutoff]\ndays = "1-6"\nrunning = false\n')
    cutoff = _schedules(tmp_path)["carrier_cutoff_1700_america_new_york"]
    assert cutoff.tags["oms/warehouses"] == "WH-GA,WH-NJ"
    assert cutoff.cron_schedule == "0 17 * * 1-6"
    assert cutoff.default_status == dg.DefaultScheduleStatus.STOPPED


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[order_batch]\ncron = "every 15 minutes"\n', "order_batch.cron is not a cron"),
        ('[analytics_refresh]\ntimezone = "Mars/Olympus"\n', "is not a time zone"),
        ('[carrier_cutoff]\ndays = "weekdays"\n', "carrier_cutoff.days is not a cron"),
        ("[order_batch]\nrunning = 1\n", "order_batch.running must be true or false"),
        ('[order_batch]\ncorn = "0 * * * *"\n', "unknown setting"),
    ],
)
def test_schedule_settings_are_checked(tmp_path: Path, text: str, message: str):
    shutil.copytree(REFERENCE, tmp_path, dirs_exist_ok=True)
    (tmp_path / "schedules.toml").write_text(text)
    with pytest.raises(ValueError, match=message):
        automation.build_schedules(tmp_path)


def test_the_instance_lets_one_writer_run_at_a_time(tmp_path: Path):
    shutil.copy(INSTANCE_CONFIG, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        queue = instance.get_concurrency_config().run_queue_config
    assert queue.tag_concurrency_limits == [{"key": "oms/writer", "value": "true", "limit": 1}]
