"""The Exception queue page over a real batch: it shows the holds the warehouse has, and the
decisions it writes are applied by the batch's validation stage."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.definitions import build_definitions
from pipelines.lib.generator import generate
from pipelines.lib.quality.decisions import decision_files, read_decisions
from pipelines.lib.quality.validate import run_validation_stage
from pipelines.lib.schema import ORDER_LINES, ORDERS
from pipelines.lib.warehouse import connect, migrate, publish_snapshot
from pipelines.project import DASHBOARDS_DIR
from tests.orders import good_line, good_order

PAGE = "app_pages/exceptions.py"
LINE_SKU = "Line SKU (SKU mapping)"
OPEN_HOLDS = "FROM oms.order_holds WHERE resolved_at IS NULL AND severity = 'hold'"


def _page() -> AppTest:
    app = AppTest.from_file(str(DASHBOARDS_DIR / "ops_app.py"), default_timeout=60).run()
    assert not app.exception
    app = app.switch_page(PAGE).run()
    assert not app.exception
    assert app.title[0].value == "Exception queue"
    return app


def _table(app: AppTest, column: str) -> pd.DataFrame:
    """The page's table that has ``column``."""
    (found,) = [d.value for d in app.dataframe if column in d.value.columns]
    return found


def _rows(settings, sql: str, params: list | None = None) -> list[tuple]:
    with connect(settings.warehouse_path, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _next_batch(settings):
    """The next batch's validation stage (it applies the inbox's decisions files), then the
    snapshot the page reads."""
    with connect(settings.warehouse_path) as con:
        stage = run_validation_stage(
            con,
            inbox=settings.inbox,
            archive_dir=settings.archive,
            rejected_dir=settings.rejected,
            reference_dir=settings.reference_dir,
            run_id=f"test-{datetime.now(UTC):%H%M%S%f}",
            now=datetime.now(UTC),
        )
        publish_snapshot(con, settings.reporting_path)
    return stage


def _decisions(settings) -> list:
    return decision_files(settings.inbox)


@pytest.fixture(scope="module")
def platform(module_oms_env):
    """One whole batch over ~150 generated orders with defects, so there are holds of
    several reasons; shared by the module's tests."""
    settings = module_oms_env
    generate(
        settings.inbox,
        orders=150,
        seed=11,
        days=2,
        defect_rate=0.1,
        reference_dir=settings.reference_dir,
    )
    defs = build_definitions()
    result = dg.materialize(
        list(defs.assets), resources=defs.resources, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    return settings


def _held_orders(settings, reason: str | None = None) -> set[str]:
    where = "" if reason is None else " AND reason = ?"
    rows = _rows(
        settings, f"SELECT DISTINCT order_key {OPEN_HOLDS}{where}", [reason] if reason else []
    )
    return {r[0] for r in rows}


def _only_held_for(settings, reason: str) -> str:
    """An order whose one open hold has ``reason``."""
    rows = _rows(
        settings,
        f"SELECT order_key {OPEN_HOLDS} GROUP BY order_key "
        "HAVING count(*) = 1 AND any_value(reason) = ? ORDER BY order_key",
        [reason],
    )
    assert rows, f"the generated batch has an order held only for {reason}"
    return rows[0][0]


def test_the_queue_shows_the_holds_the_warehouse_has(platform):
    by_reason = {
        reason: (holds, orders)
        for reason, holds, orders in _rows(
            platform, f"SELECT reason, count(*), count(DISTINCT order_key) {OPEN_HOLDS} GROUP BY 1"
        )
    }
    assert len(by_reason) >= 3  # the defects make several kinds of holds
    app = _page()
    summary = _table(app, "oldest_hours")
    assert {r.reason: (r.holds, r.orders) for r in summary.itertuples()} == by_reason
    # Every hold falls in one age band.
    bands = summary[["< 4 h", "4-24 h", "1-3 d", "> 3 d"]].sum(axis=1)
    assert (bands == summary["holds"]).all()
    metrics = {m.label: m.value for m in app.metric}
    held = _held_orders(platform)
    assert metrics["Orders on hold"] == str(len(held))
    assert metrics["Open holds"] == str(sum(h for h, _ in by_reason.values()))
    orders = _table(app, "reasons")
    assert set(orders["order_key"]) == held
    assert orders["held_since"].is_monotonic_increasing  # oldest first


def test_filters_narrow_the_held_orders(platform):
    reason, _ = max(
        _rows(platform, f"SELECT reason, count(DISTINCT order_key) {OPEN_HOLDS} GROUP BY 1"),
        key=lambda r: (r[1], r[0]),
    )
    app = _page()
    app.selectbox(key="filter_reason").select(reason).run()
    orders = _table(app, "reasons")
    assert set(orders["order_key"]) == _held_orders(platform, reason)
    assert all(reason in reasons for reasons in orders["reasons"])

    app.selectbox(key="filter_reason").select("All reasons")
    app.multiselect(key="filter_channel").select("shopify").run()
    shopify = {
        r[0]
        for r in _rows(
            platform,
            "SELECT DISTINCT h.order_key FROM oms.order_holds h JOIN oms.orders o "
            "USING (order_key) WHERE h.resolved_at IS NULL AND h.severity = 'hold' "
            "AND o.channel = 'shopify'",
        )
    }
    assert shopify and set(_table(app, "reasons")["order_key"]) == shopify

    app.number_input(key="filter_age").set_value(1000.0).run()  # nothing is that old
    assert _table(app, "reasons").empty
    assert "0 orders match" in app.caption[1].value


def test_an_order_shows_why_it_is_held_and_the_data_behind_it(platform):
    key = _only_held_for(platform, "UNKNOWN_SKU")
    ((detail,),) = _rows(platform, f"SELECT detail {OPEN_HOLDS} AND order_key = ?", [key])
    lines = _rows(
        platform,
        "SELECT line_no, sku, quantity FROM oms.order_lines WHERE order_key = ? ORDER BY 1",
        [key],
    )
    ((postal, total),) = _rows(
        platform, "SELECT ship_postal_code, order_total FROM oms.orders WHERE order_key = ?", [key]
    )
    app = _page()
    app.selectbox(key="order").select(key).run()
    assert not app.exception
    holds = _table(app, "rule")
    assert holds[["reason", "detail"]].values.tolist() == [["UNKNOWN_SKU", detail]]
    shown = _table(app, "in_catalogue")
    assert [tuple(r) for r in shown[["line_no", "sku", "quantity"]].values.tolist()] == lines
    assert not shown["in_catalogue"].all()  # the SKU the hold is about
    text = " ".join(m.value for m in app.markdown)
    assert postal in text
    assert f"{total:,.2f}" in text


def test_a_decision_without_a_note_is_refused_and_writes_nothing(platform):
    assert _decisions(platform) == []
    app = _page()
    app.text_input(key="decided_by").input("maria")
    app = app.button(key="send").click().run()
    assert not app.exception
    assert "a note is required" in app.error[0].value
    assert not app.success
    assert _decisions(platform) == []


def test_a_released_order_is_ready_after_the_next_batch(platform):
    key = _only_held_for(platform, "AWAITING_PAYMENT")
    app = _page()
    app.selectbox(key="order").select(key)
    app.text_input(key="decided_by").input("maria")
    app.radio(key="action").set_value("Release")
    app.text_area(key="note").input("paid by bank transfer")
    app = app.button(key="send").click().run()
    assert not app.exception
    (path,) = _decisions(platform)
    assert f"Sent as {path.name}" in app.success[0].value
    assert app.text_area(key="note").value == ""  # ready for the next decision
    (row,) = read_decisions(path).to_dicts()
    assert (row["order_key"], row["action"], row["decided_by"], row["note"]) == (
        key,
        "release",
        "maria",
        "paid by bank transfer",
    )
    # The decision waits in the inbox, and the order says so.
    pending = _table(app, "file")
    assert pending[["file", "order_key", "action"]].values.tolist() == [[path.name, key, "release"]]
    orders = _table(app, "reasons").set_index("order_key")
    assert orders.loc[key, "decision_waiting"]

    stage = _next_batch(platform)
    assert (stage.decisions.applied, stage.decisions.rejected) == (1, 0)
    assert _rows(platform, "SELECT status FROM oms.orders WHERE order_key = ?", [key]) == [
        ("ready",)
    ]
    assert _rows(
        platform,
        "SELECT resolution, resolved_by, resolution_note FROM oms.order_holds "
        "WHERE order_key = ? AND reason = 'AWAITING_PAYMENT'",
        [key],
    ) == [("released", "maria", "paid by bank transfer")]
    assert _decisions(platform) == []  # the file was archived

    app = _page()
    assert key not in set(_table(app, "reasons")["order_key"])
    recent = _table(app, "outcome")
    assert recent[["order_key", "status", "outcome"]].values.tolist()[0] == [
        key,
        "applied",
        "released AWAITING_PAYMENT; order is ready",
    ]
    assert any("No decision is waiting" in c.value for c in app.caption)


def test_a_sku_mapping_correction_clears_the_unknown_sku_hold(platform):
    key = _only_held_for(platform, "UNKNOWN_SKU")
    ((line_no, old_sku),) = _rows(
        platform,
        "SELECT line_no, sku FROM oms.order_lines WHERE order_key = ? AND (sku IS NULL OR sku "
        "NOT IN (SELECT sku FROM read_csv(?, all_varchar = true)))",
        [key, str(platform.reference_dir / "products.csv")],
    )
    app = _page()
    app.selectbox(key="order").select(key)
    app.text_input(key="decided_by").input("li")
    app.radio(key="action").set_value("Correct").run()
    app.selectbox(key="correct_field").select(LINE_SKU).run()
    app.selectbox(key="correct_line").select(line_no)
    app.selectbox(key="correct_sku").select("SKU-00001")
    app.text_area(key="note").input("old catalogue number")
    app = app.button(key="send").click().run()
    assert not app.exception and app.success

    stage = _next_batch(platform)
    assert (stage.decisions.applied, stage.decisions.rejected) == (1, 0)
    assert _rows(
        platform,
        "SELECT sku FROM oms.order_lines WHERE order_key = ? AND line_no = ?",
        [key, line_no],
    ) == [("SKU-00001",)]
    assert _rows(
        platform,
        "SELECT resolution FROM oms.order_holds WHERE order_key = ? AND reason = 'UNKNOWN_SKU'",
        [key],
    ) == [("cleared",)]
    assert _rows(platform, "SELECT status FROM oms.orders WHERE order_key = ?", [key]) == [
        ("ready",)
    ]
    ((previous, status),) = _rows(
        platform,
        "SELECT previous_value, status FROM oms.hold_decisions WHERE order_key = ?",
        [key],
    )
    assert (previous, status) == (old_sku, "applied")


def test_a_bulk_release_writes_one_row_per_filtered_order(platform):
    reason, count = max(
        _rows(platform, f"SELECT reason, count(DISTINCT order_key) {OPEN_HOLDS} GROUP BY 1"),
        key=lambda r: (r[1], r[0]),
    )
    assert count >= 2
    targets = _held_orders(platform, reason)
    app = _page()
    app.selectbox(key="filter_reason").select(reason)
    app.text_input(key="decided_by").input("li")
    app.radio(key="bulk_action").set_value("Release").run()
    assert app.button(key="bulk_send").disabled  # not before the confirmation
    (confirm,) = app.checkbox
    assert confirm.label == f"Yes, release {count} orders"
    confirm.check().run()
    app = app.button(key="bulk_send").click().run()  # no note yet
    assert "a note is required" in app.error[0].value
    assert _decisions(platform) == []

    app.text_area(key="bulk_note").input("checked with the customers")
    app = app.button(key="bulk_send").click().run()
    assert not app.exception and app.success
    (path,) = _decisions(platform)
    rows = read_decisions(path).to_dicts()
    assert sorted(r["order_key"] for r in rows) == sorted(targets)
    assert {(r["action"], r["reason"], r["note"], r["decided_by"]) for r in rows} == {
        ("release", reason, "checked with the customers", "li")
    }
    assert len({r["decision_id"] for r in rows}) == len(rows)

    stage = _next_batch(platform)
    assert (stage.decisions.applied, stage.decisions.rejected) == (len(targets), 0)
    assert _held_orders(platform, reason) == set()


def test_the_queue_without_a_snapshot_says_what_to_do(oms_env):
    app = _page()
    assert "No snapshot yet" in app.info[0].value
    assert not app.dataframe and not app.button


def test_the_queue_on_an_empty_snapshot_says_no_order_is_held(oms_env):
    with connect(oms_env.warehouse_path) as con:
        migrate(con)
        publish_snapshot(con, oms_env.reporting_path)
    app = _page()
    assert app.success[0].value == "No order is on hold."
    captions = " ".join(c.value for c in app.caption)
    assert "No decision is waiting" in captions
    assert "No decision has been applied yet" in captions
    assert not app.button


def test_a_new_snapshot_shows_without_a_restart(oms_env):
    with connect(oms_env.warehouse_path) as con:
        migrate(con)
        publish_snapshot(con, oms_env.reporting_path)
    assert _page().success[0].value == "No order is on hold."
    with connect(oms_env.warehouse_path) as con:
        order = good_order("shopify:1001", payment_status="pending")
        con.register("o", ORDERS.conform(pl.DataFrame([order])).to_arrow())
        con.execute(f"INSERT INTO {ORDERS.qualified} BY NAME SELECT * FROM o")
        con.register("l", ORDER_LINES.conform(pl.DataFrame([good_line()])).to_arrow())
        con.execute(f"INSERT INTO {ORDER_LINES.qualified} BY NAME SELECT * FROM l")
        run_validation_stage(
            con,
            inbox=oms_env.inbox,
            archive_dir=oms_env.archive,
            rejected_dir=oms_env.rejected,
            reference_dir=oms_env.reference_dir,
            run_id="second",
            now=datetime.now(UTC),
        )
        publish_snapshot(con, oms_env.reporting_path)
    app = _page()
    assert not app.success, "the page still shows the old snapshot"
    assert list(_table(app, "reasons")["order_key"]) == ["shopify:1001"]
