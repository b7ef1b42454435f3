from __future__ import annotations

import dagster as dg

from pipelines.defs.intake import inbox_sensor
from pipelines.defs.resources import folders_resource


def _tick(settings, cursor: str | None):
    context = dg.build_sensor_context(
        cursor=cursor, resources={"folders": folders_resource(settings)}
    )
    return inbox_sensor(context), context.cursor


def test_a_burst_of_files_starts_one_run_and_an_unchanged_inbox_none(oms_env):
    empty, cursor = _tick(oms_env, None)
    assert isinstance(empty, dg.SkipReason)
    for i in range(5):
        (oms_env.inbox / f"orders_{i}.csv").write_text("x")
    (oms_env.inbox / ".partial_upload").write_text("x")
    first, cursor = _tick(oms_env, cursor)
    assert isinstance(first, dg.RunRequest)
    assert first.tags["oms/trigger"] == "inbox"
    again, cursor = _tick(oms_env, cursor)
    assert isinstance(again, dg.SkipReason)
    (oms_env.inbox / "orders_5.csv").write_text("x")
    more, _ = _tick(oms_env, cursor)
    assert isinstance(more, dg.RunRequest)
    assert more.run_key != first.run_key


def test_files_leaving_or_staying_for_a_later_stage_start_nothing(oms_env):
    (oms_env.inbox / "orders.csv").write_text("x")
    (oms_env.inbox / "inventory_snapshot.csv").write_text("warehouse_id,sku,on_hand\n")
    first, cursor = _tick(oms_env, None)
    assert isinstance(first, dg.RunRequest)
    (oms_env.inbox / "orders.csv").unlink()  # the batch archived it; the snapshot stays
    after, _ = _tick(oms_env, cursor)
    assert isinstance(after, dg.SkipReason)


def test_hidden_and_underscore_files_do_not_start_runs(oms_env):
    (oms_env.inbox / ".upload.tmp").write_text("x")
    (oms_env.inbox / "_generator_manifest.json").write_text("{}")
    result, _ = _tick(oms_env, None)
    assert isinstance(result, dg.SkipReason)
