"""The inventory stages end to end: a real batch → dbt inventory marts → the Inventory page."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import pytest

from pipelines.definitions import build_definitions
from pipelines.lib.generator import generate
from pipelines.lib.warehouse import connect, migrate, publish_snapshot, scalar
from tests.integration.dashboard_app import chart_titled, metrics, open_page, pick, snapshot, table

INVENTORY_PAGE = "app_pages/inventory.py"


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


def expected_inventory(
    con: duckdb.DuckDBPyConnection, warehouse: str | None = None, day: date | None = None
) -> dict:
    """The Inventory page's figures from the oms tables: positions, open backorders (by the
    warehouse promised to fill them) and the reorder report as of the last batch; the
    stockout rate over the period replayed from the movements ledger (each pair from the
    day of its first movement, ending a day with ATP 0 = stocked out); received and shipped
    units per day from the ledger."""
    wh = [warehouse, warehouse]
    only = "(CAST(? AS VARCHAR) IS NULL OR {} = ?)"
    on_hand, committed, atp, stocked_out, positions = con.execute(
        "SELECT sum(on_hand), sum(committed), sum(atp), count(*) FILTER (WHERE atp = 0), "
        f"count(*) FROM oms.inventory_positions WHERE {only.format('warehouse_id')}",
        wh,
    ).fetchall()[0]
    lines, units = con.execute(
        "SELECT count(*), coalesce(sum(quantity), 0) FROM oms.backorders "
        f"WHERE status = 'open' AND {only.format('promised_warehouse_id')}",
        wh,
    ).fetchall()[0]
    reorder_rows, reorder_skus = con.execute(
        "SELECT count(*), count(DISTINCT sku) FROM oms.reorder_report "
        f"WHERE {only.format('warehouse_id')}",
        wh,
    ).fetchall()[0]
    days = [day, day]
    ledger = f"""
        WITH moves AS (
            SELECT warehouse_id, sku, CAST("at" AS DATE) AS moved_on, reason,
                   on_hand_delta, committed_delta
            FROM oms.inventory_movements WHERE {only.format("warehouse_id")}
        ),
        calendar AS (
            SELECT CAST(range AS DATE) AS day
            FROM range((SELECT min(CAST("at" AS DATE)) FROM oms.inventory_movements),
                       (SELECT max(CAST("at" AS DATE)) FROM oms.inventory_movements) + 1,
                       INTERVAL 1 DAY)
        )
    """
    out_days, position_days = con.execute(
        ledger
        + """,
        pairs AS (
            SELECT warehouse_id, sku, min(moved_on) AS first_day FROM moves GROUP BY ALL
        ),
        stock AS (
            SELECT p.warehouse_id, p.sku, c.day,
                   greatest(sum(m.on_hand_delta) - sum(m.committed_delta)
                            - coalesce(any_value(ip.safety_stock), 0), 0) AS atp
            FROM pairs p JOIN calendar c ON c.day >= p.first_day
            JOIN moves m ON m.warehouse_id = p.warehouse_id AND m.sku = p.sku
                        AND m.moved_on <= c.day
            LEFT JOIN oms.inventory_positions ip
                ON ip.warehouse_id = p.warehouse_id AND ip.sku = p.sku
            GROUP BY ALL
        )
        SELECT count(*) FILTER (WHERE atp = 0), count(*) FROM stock
        WHERE CAST(? AS DATE) IS NULL OR day = ?
        """,
        [*wh, *days],
    ).fetchall()[0]
    flows = con.execute(
        ledger
        + """
        SELECT strftime(c.day, '%Y-%m-%d'),
               coalesce(sum(m.on_hand_delta) FILTER (WHERE m.reason = 'receipt'), 0),
               coalesce(-sum(m.on_hand_delta) FILTER (WHERE m.reason = 'ship'), 0)
        FROM calendar c LEFT JOIN moves m ON m.moved_on = c.day
        WHERE CAST(? AS DATE) IS NULL OR c.day = ?
        GROUP BY ALL ORDER BY 1
        """,
        [*wh, *days],
    ).fetchall()
    in_period = (
        "FROM oms.inventory_movements WHERE (CAST(? AS VARCHAR) IS NULL OR warehouse_id = ?) "
        'AND (CAST(? AS DATE) IS NULL OR CAST("at" AS DATE) = ?)'
    )
    movements = con.execute(f"SELECT count(*) {in_period}", [*wh, *days]).fetchall()[0][0]
    latest = con.execute(
        f'SELECT "at", warehouse_id, sku, reason {in_period} '
        'ORDER BY "at" DESC, movement_id DESC LIMIT 1',
        [*wh, *days],
    ).fetchall()
    return {
        "reorder_rows": reorder_rows,
        "backorder_lines": lines,
        "flows": [tuple(row) for row in flows],
        "latest_movement": latest[0] if latest else None,
        "movements": movements,
        "tiles": {
            "Units on hand": f"{on_hand:,}",
            "Committed": f"{committed:,}",
            "Available to promise": f"{atp:,}",
            "Stocked-out positions": f"{stocked_out:,} of {positions:,}",
            "Stockout rate (period)": f"{out_days / position_days:.1%}" if position_days else "–",
            "Open backorders": f"{lines:,}",
            "Backordered units": f"{units:,}",
            "SKUs to reorder": f"{reorder_skus:,}",
        },
    }


def test_inventory_page_shows_the_batch(batch):
    settings = batch[0]
    app = open_page(INVENTORY_PAGE)
    assert not app.exception
    assert app.title[0].value == "Inventory"
    with snapshot(settings) as con:
        expected = expected_inventory(con)
        per_warehouse = dict(
            con.execute(
                "SELECT warehouse_id, count(*) FROM oms.reorder_report GROUP BY ALL"
            ).fetchall()
        )
        on_hand = con.execute("SELECT sum(on_hand) FROM oms.inventory_positions").fetchall()
        warehouses = len(
            con.execute("SELECT DISTINCT warehouse_id FROM oms.inventory_positions").fetchall()
        )
    assert metrics(app) == expected["tiles"]

    reorder = table(app, "suggested_quantity")
    assert expected["reorder_rows"] > 0
    assert len(reorder) == min(expected["reorder_rows"], 1000)  # capped, and says so
    if expected["reorder_rows"] > 1000:
        assert any(f"of {expected['reorder_rows']:,} rows" in c.value for c in app.caption)
    assert {"warehouse_id", "sku", "available_position", "reorder_point", "lead_days"} <= set(
        reorder.columns
    )
    backorders = table(app, "backordered_at")
    assert len(backorders) == expected["backorder_lines"] > 0
    assert {"reason", "detail", "promised_date"} <= set(backorders.columns)
    assert backorders["backordered_at"].is_monotonic_increasing  # oldest first
    positions = table(app, "below_reorder_point")
    assert len(positions) == warehouses
    assert positions["on_hand"].sum() == on_hand[0][0]

    # The warehouse filter in the sidebar narrows the reorder list (and every figure).
    warehouse, rows = max(per_warehouse.items(), key=lambda kv: kv[1])
    app = pick(app, warehouse=warehouse)
    filtered = table(app, "suggested_quantity")
    assert len(filtered) == min(rows, 1000) and rows < expected["reorder_rows"]
    assert set(filtered["warehouse_id"]) == {warehouse}


def test_inventory_page_matches_the_demo_ledger(demo_platform):
    app = open_page(INVENTORY_PAGE)
    assert not app.exception
    with snapshot(demo_platform) as con:
        expected = expected_inventory(con)
        stocked_out = con.execute(
            "SELECT count(*) FROM oms.inventory_positions WHERE atp = 0"
        ).fetchall()[0][0]
        warehouses = {
            w
            for (w,) in con.execute(
                "SELECT DISTINCT warehouse_id FROM oms.inventory_movements"
            ).fetchall()
        }
    assert metrics(app) == expected["tiles"]
    movements = chart_titled(app, "Units", x="Day (UTC)").to_dicts()
    lines = chart_titled(app, "Stockout rate").to_dicts()
    # Received vs shipped per day: the ledger's receipts and shipments, day by day.
    assert [(r["day"], r["received"], r["shipped"]) for r in movements] == expected["flows"]
    assert any(received for _, received, _ in expected["flows"])
    assert any(shipped for _, _, shipped in expected["flows"])
    # One stockout line per warehouse, every day of the ledger.
    assert {r["warehouse_id"] for r in lines} == warehouses
    assert len(lines) == len(warehouses) * len(expected["flows"])
    # The stocked-out positions (capped, and saying so) and the newest movements first.
    out_now = table(app, "days_out")
    assert len(out_now) == min(stocked_out, 500)
    assert any(f"of {stocked_out:,} rows" in c.value for c in app.caption)
    moves = table(app, "on_hand_delta")
    assert len(moves) == min(expected["movements"], 200)
    assert moves["moved_at"].is_monotonic_decreasing
    newest = moves.iloc[0]
    assert (newest["moved_at"], newest["warehouse_id"], newest["sku"], newest["reason"]) == (
        expected["latest_movement"]
    )
    assert any(f"of {expected['movements']:,} movements" in c.value for c in app.caption)


def test_inventory_page_follows_the_warehouse_and_period_filters(demo_platform):
    with snapshot(demo_platform) as con:
        everything = expected_inventory(con)
        nj = expected_inventory(con, warehouse="WH-NJ")
        days = [row[0] for row in everything["flows"]]
        day = date.fromisoformat(days[len(days) // 2])
        nj_day = expected_inventory(con, warehouse="WH-NJ", day=day)
    assert nj["tiles"]["Units on hand"] != everything["tiles"]["Units on hand"]
    assert nj["tiles"]["Stockout rate (period)"] != everything["tiles"]["Stockout rate (period)"]

    app = pick(open_page(INVENTORY_PAGE), warehouse="WH-NJ")
    assert metrics(app) == nj["tiles"]
    assert set(table(app, "below_reorder_point")["warehouse_id"]) == {"WH-NJ"}
    assert set(table(app, "suggested_quantity")["warehouse_id"]) == {"WH-NJ"}
    assert set(table(app, "backordered_at")["promised_warehouse_id"]) == {"WH-NJ"}
    assert set(table(app, "on_hand_delta")["warehouse_id"]) == {"WH-NJ"}
    movements = chart_titled(app, "Units", x="Day (UTC)").to_dicts()
    stockouts = chart_titled(app, "Stockout rate").to_dicts()
    assert {r["warehouse_id"] for r in stockouts} == {"WH-NJ"}
    assert [(r["day"], r["received"], r["shipped"]) for r in movements] == nj["flows"]

    # One day: the trends and the movements keep to it; the positions stay as of the batch.
    app = pick(app, day=day)
    assert metrics(app) == nj_day["tiles"]
    assert nj_day["tiles"]["Units on hand"] == nj["tiles"]["Units on hand"]
    movements = chart_titled(app, "Units", x="Day (UTC)").to_dicts()
    stockouts = chart_titled(app, "Stockout rate").to_dicts()
    assert {r["date_day"] for r in stockouts} == {f"{day:%Y-%m-%d}"}
    assert [(r["day"], r["received"], r["shipped"]) for r in movements] == nj_day["flows"]
    moves = table(app, "on_hand_delta")
    assert {d.date() for d in moves["moved_at"]} == {day}
    assert len(moves) == min(nj_day["movements"], 200)


def test_inventory_page_ignores_the_channel_filter(demo_platform):
    app = open_page(INVENTORY_PAGE)
    assert app.sidebar.multiselect(key="filter_channels").disabled
    assert not app.sidebar.multiselect(key="filter_warehouses").disabled


def test_inventory_page_says_what_to_do_when_there_is_no_snapshot(oms_env):
    app = open_page(INVENTORY_PAGE)
    assert not app.exception
    assert "No inventory yet" in app.info[0].value
    assert not app.metric


def test_inventory_page_says_what_to_do_on_an_empty_snapshot(oms_env):
    with connect(oms_env.warehouse_path) as con:
        migrate(con)
        publish_snapshot(con, oms_env.reporting_path)
    assert oms_env.reporting_path.exists()
    app = open_page(INVENTORY_PAGE)
    assert not app.exception
    assert "No inventory yet" in app.info[0].value
    assert not app.dataframe
