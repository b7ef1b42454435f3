"""A transient failure is retried: the warehouse locked by someone's DuckDB shell when the
batch starts fails the intake step once; the job's retry policy (20 s later) finds it free
and the batch goes on, with the retry in the run's record."""

from __future__ import annotations

import time

import dagster as dg
import pytest

from pipelines.definitions import build_definitions
from pipelines.lib.generator import generate
from pipelines.lib.warehouse import connect, scalar
from tests.conftest import warehouse_held

pytestmark = pytest.mark.slow

#: How long the other process holds the lock: long enough for the run to start and meet it,
#: well inside the retry's 20 s delay.
HOLD_SECONDS = 10
#: The intake step's assets (the stage that meets the lock first).
INTAKE = ("inbox_files", "orders", "order_lines", "order_events")


def test_a_locked_warehouse_is_retried_and_the_batch_goes_on(oms_env):
    summary = generate(
        oms_env.inbox, orders=30, seed=3, days=1, reference_dir=oms_env.reference_dir
    )
    job = build_definitions().resolve_job_def("order_batch")  # before the clock starts
    with warehouse_held(oms_env.warehouse_path, HOLD_SECONDS):
        began = time.monotonic()
        with dg.DagsterInstance.get() as instance:
            result = job.execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey(k) for k in INTAKE],
                raise_on_error=False,
            )
            retried = [
                e
                for e in instance.all_logs(result.run_id)
                if e.dagster_event and e.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"
            ]
    assert result.success
    assert time.monotonic() - began >= 20  # the policy's delay before the second try
    assert [e.dagster_event.step_key for e in retried] == ["intake"]
    retry = retried[0].dagster_event.event_specific_data
    assert "IOException" in _error_classes(retry.error) and retry.seconds_to_wait == 20
    with connect(oms_env.warehouse_path, read_only=True) as con:
        assert scalar(con, "SELECT count(*) FROM oms.orders") == summary.orders


def _error_classes(error) -> set[str]:
    """The exception classes in a recorded error and its causes and contexts."""
    if error is None:
        return set()
    return {error.cls_name} | _error_classes(error.cause) | _error_classes(error.context)
