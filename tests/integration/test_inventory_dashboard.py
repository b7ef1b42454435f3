"""The inventory stages end to end: a real batch → dbt inventory marts → the Inventory page."""

from __future__ import annotations

import dagster as dg
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.definitions import build_definitions
from pipelines.lib.generator import generate
from pipelines.lib.warehouse import connect, migrate, publish_snapshot, scalar
from pipelines.project import DASHBOARDS_DIR

INVENTORY_PAGE = "app_pages/inventory.py"


def _inventory_page() -> AppTest:
    """The app as a user reaches the page: through the navigation, from the default page."""
    app = AppTest.from_file(str(DASHBOARDS_DIR / "streamlit_app.py"), default_timeout=60).run()
    assert not app.exception
    return app.switch_page(INVENTORY_PAGE).run()


@pytest.fixture(scope="module")
def batch(module_oms_env):
    """One whole batch (every asset of the code location, inventory and allocation included)
    over ~200 generated orders; shared by this module's tests so dbt runs once."""
    settings = module_oms_env
    generate(
        settings.inbox,
        orders=200,
        seed=23,
        days=2,
        defect_rate=0.05,
        reference_dir=settings.reference_dir,
    )
    defs = build_definitions()
    keys = {key.to_user_string() for a in defs.assets for key in a.keys}
    assert {"inventory_movements", "allocations", "backorders", "reorder_report"} <= keys
    result = dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    return settings, result


def _scalar(settings, sql: str):
    with connect(settings.warehouse_path, read_only=True) as con:
        return scalar(con, sql)


def test_batch_builds_the_inventory_marts_and_every_dbt_test_passes(batch):
    settings, result = batch
    assert result.success
    checks = result.get_asset_check_evaluations()
    dbt_checks = [c for c in checks if c.asset_key.path[-1].startswith(("stg_oms__", "fct_"))]
    assert dbt_checks, "the dbt tests show as asset checks"
    assert [c.check_name for c in dbt_checks if not c.passed] == []
    checked = {c.asset_key.path[-1] for c in dbt_checks}
    assert {
        "stg_oms__inventory_movements",
        "stg_oms__inventory_positions",
        "stg_oms__allocations",
        "stg_oms__backorders",
        "stg_oms__reorder_report",
        "fct_inventory_positions",
        "fct_backorders",
    } <= checked
    # The singular test comparing the mart with the pipeline's reorder report is a check too.
    assert any(
        c.check_name == "assert_reorder_report_rows_are_below_reorder_point"
        and c.asset_key.path[-1] == "fct_inventory_positions"
        for c in dbt_checks
    )
    with connect(settings.warehouse_path, read_only=True) as con:
        for oms, mart in [
            ("oms.inventory_positions", "analytics.fct_inventory_positions"),
            ("oms.backorders", "analytics.fct_backorders"),
            ("oms.orders", "analytics.fct_orders"),
        ]:
            assert scalar(con, f"SELECT count(*) FROM {mart}") == scalar(
                con, f"SELECT count(*) FROM {oms}"
            ), mart
        # The mart's reorder flag and the pipeline's reorder report agree.
        assert scalar(
            con, "SELECT count(*) FROM analytics.fct_inventory_positions WHERE below_reorder_point"
        ) >= scalar(con, "SELECT count(*) FROM oms.reorder_report")
    # A batch this size exercises what the page shows.
    assert _scalar(settings, "SELECT count(*) FROM oms.backorders WHERE status = 'open'") > 0
    assert _scalar(settings, "SELECT count(*) FROM oms.reorder_report") > 0


def test_fct_orders_allocation_columns_agree_with_the_oms_tables(batch):
    settings = batch[0]
    with connect(settings.warehouse_path, read_only=True) as con:
        totals = con.execute(
            "SELECT sum(allocated_units), sum(backordered_units), count(*) FILTER (is_split), "
            "count(allocation_rule) FROM analytics.fct_orders"
        ).fetchone()
        allocated = scalar(
            con,
            "SELECT sum(quantity) FROM oms.allocations WHERE status IN ('committed', 'released')",
        )
        backordered = scalar(con, "SELECT sum(quantity) FROM oms.backorders WHERE status = 'open'")
        split = scalar(
            con,
            "SELECT count(*) FROM (SELECT order_key FROM oms.allocations "
            "WHERE status IN ('committed', 'released') GROUP BY order_key "
            "HAVING count(DISTINCT warehouse_id) > 1)",
        )
        with_allocations = scalar(
            con,
            "SELECT count(DISTINCT order_key) FROM oms.allocations "
            "WHERE status IN ('committed', 'released')",
        )
        # Per order: units, warehouses and the latest open promise.
        mismatched = scalar(
            con,
            """
            SELECT count(*)
            FROM analytics.fct_orders f
            LEFT JOIN (SELECT order_key, sum(quantity) AS units,
                              count(DISTINCT warehouse_id) AS warehouses
                       FROM oms.allocations WHERE status IN ('committed', 'released')
                       GROUP BY ALL) a
                USING (order_key)
            LEFT JOIN (SELECT order_key, sum(quantity) AS units,
                              max(promised_date) AS promised
                       FROM oms.backorders WHERE status = 'open' GROUP BY ALL) b
                USING (order_key)
            WHERE f.allocated_units <> coalesce(a.units, 0)
               OR f.warehouses <> coalesce(a.warehouses, 0)
               OR f.backordered_units <> coalesce(b.units, 0)
               OR f.promised_date IS DISTINCT FROM b.promised
               OR f.is_split <> (coalesce(a.warehouses, 0) > 1)
            """,
        )
        backordered_orders = scalar(
            con, "SELECT count(*) FROM analytics.fct_orders WHERE status = 'backordered'"
        )
        unpromised = scalar(
            con,
            "SELECT count(*) FROM analytics.fct_orders "
            "WHERE status = 'backordered' AND (backordered_units = 0 OR promised_date IS NULL)",
        )
    assert allocated > 0
    assert totals == (allocated, backordered, split, with_allocations)
    assert mismatched == 0
    assert backordered_orders > 0
    assert unpromised == 0


def test_inventory_page_shows_the_batch(batch):
    settings = batch[0]
    app = _inventory_page()
    assert not app.exception
    assert app.title[0].value == "Inventory"
    with connect(settings.warehouse_path, read_only=True) as con:
        expected = con.execute(
            "SELECT sum(on_hand), sum(committed), sum(atp) FROM oms.inventory_positions"
        ).fetchone()
        open_lines, open_units = con.execute(
            "SELECT count(*), sum(quantity) FROM oms.backorders WHERE status = 'open'"
        ).fetchone()
        reorder_rows, reorder_skus = con.execute(
            "SELECT count(*), count(DISTINCT sku) FROM oms.reorder_report"
        ).fetchone()
        per_warehouse = dict(
            con.execute(
                "SELECT warehouse_id, count(*) FROM oms.reorder_report GROUP BY ALL"
            ).fetchall()
        )
        warehouses = scalar(con, "SELECT count(DISTINCT warehouse_id) FROM oms.inventory_positions")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {
        "Units on hand": f"{expected[0]:,}",
        "Committed": f"{expected[1]:,}",
        "Available to promise": f"{expected[2]:,}",
        "Open backorders": f"{open_lines:,}",
        "Backordered units": f"{open_units:,}",
        "SKUs to reorder": f"{reorder_skus:,}",
    }

    reorder, backorders, positions = (d.value for d in app.dataframe)
    assert len(reorder) == reorder_rows
    assert {
        "warehouse_id",
        "sku",
        "available_position",
        "reorder_point",
        "suggested_quantity",
        "lead_days",
    } <= set(reorder.columns)
    assert len(backorders) == open_lines
    assert {"reason", "detail", "promised_date"} <= set(backorders.columns)
    assert backorders["backordered_at"].is_monotonic_increasing  # oldest first
    assert len(positions) == warehouses
    assert positions["on_hand"].sum() == expected[0]
    assert positions["atp"].sum() == expected[2]

    # The reorder table filters by warehouse.
    warehouse, rows = max(per_warehouse.items(), key=lambda kv: kv[1])
    app.selectbox(key="reorder_warehouse").select(warehouse).run()
    assert not app.exception
    filtered = app.dataframe[0].value
    assert len(filtered) == rows < reorder_rows
    assert set(filtered["warehouse_id"]) == {warehouse}


def test_inventory_page_says_what_to_do_when_there_is_no_snapshot(oms_env):
    app = _inventory_page()
    assert not app.exception
    assert "No inventory yet" in app.info[0].value
    assert not app.metric


def test_inventory_page_says_what_to_do_on_an_empty_snapshot(oms_env):
    with connect(oms_env.warehouse_path) as con:
        migrate(con)
        publish_snapshot(con, oms_env.reporting_path)
    assert oms_env.reporting_path.exists()
    app = _inventory_page()
    assert not app.exception
    assert "No inventory yet" in app.info[0].value
    assert not app.dataframe
