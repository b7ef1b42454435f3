from __future__ import annotations

import dagster as dg

from pipelines.definitions import defs


def test_one_code_location_with_the_batch_job_sensor_and_resources():
    job = defs.resolve_job_def("order_batch")
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"inbox_files", "orders", "order_lines", "reporting_snapshot"} <= keys
    assert {"order_holds", "hold_decisions"} <= keys
    assert {"analytics/stg_oms__orders", "analytics/fct_orders"} <= keys
    assert defs.resolve_sensor_def("inbox_sensor").job_name == "order_batch"
    assert set(defs.resources) >= {"warehouse", "folders", "dbt"}
    assert job.tags["oms/writer"] == "true"


def test_dbt_sources_are_the_intake_assets_so_the_graph_is_one_graph():
    graph = defs.resolve_asset_graph()
    staging = graph.get(dg.AssetKey(["analytics", "stg_oms__orders"]))
    assert dg.AssetKey("orders") in staging.parent_keys
    lines = graph.get(dg.AssetKey(["analytics", "stg_oms__order_lines"]))
    assert dg.AssetKey("order_lines") in lines.parent_keys


def test_analytics_run_after_validation_because_dbt_reads_the_holds():
    graph = defs.resolve_asset_graph()
    holds = graph.get(dg.AssetKey(["analytics", "stg_oms__order_holds"]))
    assert dg.AssetKey("order_holds") in holds.parent_keys
    assert {dg.AssetKey("orders"), dg.AssetKey("order_lines")} <= graph.get(
        dg.AssetKey("order_holds")
    ).parent_keys


def test_validation_suites_show_as_asset_checks_on_the_holds():
    checks = {
        (k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys
    }
    assert {("order_holds", "orders_suite"), ("order_holds", "order_lines_suite")} <= checks


def test_dbt_tests_show_as_asset_checks():
    checks = {k.name for k in defs.resolve_asset_graph().asset_check_keys}
    assert "unique_stg_oms__orders_order_key" in checks


def test_shipping_runs_in_the_batch_and_dbt_reads_what_it_writes():
    job = defs.resolve_job_def("order_batch")
    graph = defs.resolve_asset_graph()
    shipping_keys = {"rate_quotes", "manifests", "tracking_events", "tracking_quarantine"}
    assert shipping_keys <= {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert dg.AssetKey("parcels") in graph.get(dg.AssetKey("rate_quotes")).parent_keys
    events = graph.get(dg.AssetKey(["analytics", "stg_oms__tracking_events"]))
    assert dg.AssetKey("tracking_events") in events.parent_keys
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert {
        ("rate_quotes", "tracking_numbers_unique"),
        ("manifests", "shipped_stock_booked"),
    } <= checks


def test_customer_messages_follow_shipping_in_the_batch():
    job = defs.resolve_job_def("order_batch")
    graph = defs.resolve_asset_graph()
    assert "notifications" in {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert dg.AssetKey("tracking_events") in graph.get(dg.AssetKey("notifications")).parent_keys


def test_returns_run_in_the_batch_before_validation_and_stock():
    job = defs.resolve_job_def("order_batch")
    graph = defs.resolve_asset_graph()
    returns_keys = {"returns", "return_inspections", "refunds", "returns_quarantine"}
    assert returns_keys <= {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    # Exchange orders are validated, and restocked units allocated, in the same batch.
    assert dg.AssetKey("refunds") in graph.get(dg.AssetKey("order_holds")).parent_keys
    assert (
        dg.AssetKey("return_inspections")
        in graph.get(dg.AssetKey("inventory_movements")).parent_keys
    )
    refunds = graph.get(dg.AssetKey(["analytics", "stg_oms__refunds"]))
    assert dg.AssetKey("refunds") in refunds.parent_keys
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert {
        ("refunds", "never_refunded_more_than_paid"),
        ("return_inspections", "restock_booked"),
    } <= checks


def test_the_code_location_has_the_three_jobs_and_their_schedules():
    assert {job.name for job in defs.resolve_all_job_defs()} >= {
        "order_batch",
        "carrier_cutoff",
        "analytics_refresh",
    }
    schedules = {s.name: defs.resolve_schedule_def(s.name).job_name for s in defs.schedules}
    assert schedules["order_batch_schedule"] == "order_batch"
    assert schedules["analytics_refresh_schedule"] == "analytics_refresh"
    assert sum(job == "carrier_cutoff" for job in schedules.values()) == 5  # one per cutoff
    cutoff = defs.resolve_job_def("carrier_cutoff")
    keys = {k.to_user_string() for k in cutoff.asset_layer.executable_asset_keys}
    assert {"manifests", "notifications", "reporting_snapshot"} <= keys
    assert "orders" not in keys  # the cutoff reads no inbox exports
