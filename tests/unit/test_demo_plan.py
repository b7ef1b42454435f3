"""The demo's calendar: when each run happens and when each generated file arrives."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from pipelines import demo
from pipelines.defs.resources import CLOCK_TAG, batch_clock
from pipelines.lib.reference import read_reference
from pipelines.project import REPO_ROOT

WAREHOUSES = read_reference(REPO_ROOT / "data" / "reference", "warehouses")


def test_the_week_ends_at_noon_yesterday_so_the_demo_never_runs_ahead_of_the_clock():
    today = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    end = demo.window_end(today)
    assert end == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    steps = demo.plan(end, WAREHOUSES)
    assert all(step.at < today for step in steps)


def test_each_day_has_a_morning_batch_then_a_cutoff_after_every_warehouse_cutoff():
    end = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    steps = demo.plan(end, WAREHOUSES, days=3)
    assert [s.job for s in steps] == [
        "order_batch",
        "carrier_cutoff",
        "order_batch",
        "carrier_cutoff",
        "order_batch",
        "carrier_cutoff",
        "analytics_refresh",
    ]
    assert [s.day for s in steps] == [0, 0, 1, 1, 2, 2, 2]
    assert [s.at for s in steps] == sorted(s.at for s in steps)
    # The morning batch comes an hour after the last 12-hour export window of the day ends.
    assert steps[0].at == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    assert steps[-3].at == end + timedelta(hours=1)
    # The last cutoff of a November day is Ontario, CA at 15:30 Pacific = 23:30 UTC.
    assert steps[1].at == datetime(2026, 11, 24, 23, 40, tzinfo=UTC)
    # In July (daylight time) the same cutoff is 22:30 UTC.
    july = demo.plan(datetime(2026, 7, 15, 12, 0, tzinfo=UTC), WAREHOUSES, days=1)
    assert july[1].at == datetime(2026, 7, 15, 22, 40, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "due"),
    [
        # An export of the 12-hour window starting at the stamp arrives when it ends.
        ("shopify_orders_export_20261120_00.csv", datetime(2026, 11, 20, 12, tzinfo=UTC)),
        ("woocommerce_orders_20261120_12.jsonl", datetime(2026, 11, 21, 0, tzinfo=UTC)),
        ("amazon_new_orders_20261120_12_p2.txt", datetime(2026, 11, 21, 0, tzinfo=UTC)),
        # The opening count at the start; the other stock files after their day.
        ("inventory_snapshot_20261119.csv", datetime(2026, 11, 19, 12, tzinfo=UTC)),
        ("inventory_receipts_20261121.csv", datetime(2026, 11, 22, 0, tzinfo=UTC)),
        ("inventory_count_20261123.csv", datetime(2026, 11, 24, 0, tzinfo=UTC)),
        # The generator's manifest is no delivery.
        ("_generator_manifest.json", None),
    ],
)
def test_generated_files_arrive_when_their_content_could_exist(name, due):
    assert demo.due_at(name, datetime(2026, 11, 19, 12, tzinfo=UTC)) == due


@dg.asset
def _moment(context: dg.AssetExecutionContext) -> str:
    return batch_clock(context).isoformat()


def _clock(tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    return dg.materialize([_moment], tags=tags, raise_on_error=False)


def test_a_run_reads_its_now_from_the_clock_tag_and_refuses_a_time_without_an_offset():
    tagged = _clock({CLOCK_TAG: "2026-11-20T08:00:00-05:00"})
    assert tagged.output_for_node("_moment") == "2026-11-20T13:00:00+00:00"
    before = datetime.now(UTC)
    untagged = datetime.fromisoformat(_clock({}).output_for_node("_moment"))
    assert before <= untagged <= datetime.now(UTC)
    for bad, why in (("2026-11-20T08:00:00", "needs a UTC offset"), ("soon", "not an ISO time")):
        failed = _clock({CLOCK_TAG: bad})
        assert not failed.success
        (failure,) = [e for e in failed.all_events if e.is_step_failure]
        assert why in str(failure.step_failure_data.error)


def test_a_stopped_demo_leaves_no_staged_files_and_says_how_to_play_it_again(tmp_path):
    from pipelines.project import Settings

    settings = Settings.from_env(
        {
            "OMS_DATA_DIR": str(tmp_path / "data"),
            "OMS_REFERENCE_DIR": str(REPO_ROOT / "data" / "reference"),
            "DAGSTER_HOME": str(tmp_path / "dagster"),
        }
    )
    settings.ensure_dirs()
    ran: list[str] = []

    def execute(job: str, now: datetime, with_analytics: bool):
        ran.append(job)
        if len(ran) == 3:
            raise KeyboardInterrupt  # Ctrl-C during the second day's batch
        return True, [], {}

    with pytest.raises(KeyboardInterrupt):
        demo.run_demo(settings, execute, lambda result: None, today=datetime.now(UTC))
    assert ran == ["order_batch", "carrier_cutoff", "order_batch"]
    assert not (settings.data_dir / "demo").exists()
    # The first two days' exports reached the inbox before the stop; nothing later did.
    end = demo.window_end(datetime.now(UTC))
    stopped_at = demo.plan(end, WAREHOUSES)[2].at
    start = end - timedelta(days=demo.DAYS)
    due = [demo.due_at(p.name, start) for p in settings.inbox.iterdir()]
    assert due and all(d is not None and d <= stopped_at for d in due)
    assert any(d > stopped_at - timedelta(days=1) for d in due)  # the second day's came too

    # The run history tells whether the demo ended: its last run is analytics_refresh, a
    # success.
    jobs = {
        name: dg.define_asset_job(name, selection=[_moment])
        for name in ("order_batch", "analytics_refresh")
    }
    defs = dg.Definitions(assets=[_moment], jobs=list(jobs.values()))
    with dg.DagsterInstance.ephemeral() as instance:
        assert demo.unfinished(instance) is None  # never played
        defs.resolve_job_def("order_batch").execute_in_process(
            instance=instance, tags={**demo.TRIGGER_TAGS, CLOCK_TAG: "2026-11-20T13:00:00Z"}
        )
        advice = demo.unfinished(instance)
        assert "did not finish" in advice and "order_batch as of 2026-11-20T13:00:00Z" in advice
        assert "`make clean-data` then `make run`" in advice
        defs.resolve_job_def("analytics_refresh").execute_in_process(
            instance=instance, tags={**demo.TRIGGER_TAGS, CLOCK_TAG: "2026-11-20T23:50:00Z"}
        )
        assert demo.unfinished(instance) is None
