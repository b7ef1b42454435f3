"""The analyst dashboards in a real browser (Debian Chromium + Playwright) against a real
Streamlit server over a short demo's snapshot: pick a channel in the sidebar, see the KPI
tile, the chart and, on the next page, the orders table follow."""

from __future__ import annotations

import time

import duckdb
import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.e2e

#: How long a chart may take to draw again after a filter changed.
REDRAW_SECONDS = 20


def _metric(page: Page, label: str) -> Locator:
    tile = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )
    return tile.get_by_test_id("stMetricValue")


def _choose(page: Page, widget: str, label: str, option: str) -> None:
    """Open a sidebar select or multiselect by its label and click one option."""
    page.get_by_test_id("stSidebar").get_by_test_id(widget).filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")  # close a multiselect's list


def _drawn(chart: Locator, unlike: bytes | None = None) -> bytes:
    """The chart's pixels once drawn (and, given ``unlike``, once they differ from it)."""
    deadline = time.monotonic() + REDRAW_SECONDS
    while True:
        chart.locator("canvas, svg").first.wait_for()
        shot = chart.screenshot()
        if unlike is None or shot != unlike or time.monotonic() > deadline:
            return shot
        time.sleep(0.5)


def test_a_channel_filter_changes_the_chart_and_the_orders_table(page: Page, demo_dashboards):
    with duckdb.connect(str(demo_dashboards.settings.reporting_path), read_only=True) as con:
        total = con.sql("SELECT count(*) FROM oms.orders").fetchall()[0][0]
        channel, in_channel = con.sql(
            "SELECT channel, count(*) FROM oms.orders GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
        ).fetchall()[0]
    assert 0 < in_channel < total

    page.goto(demo_dashboards.url)
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    _choose(page, "stSelectbox", "Period", "All dates")
    expect(_metric(page, "Orders")).to_have_text(f"{total:,}")
    orders_chart = page.get_by_test_id("stVegaLiteChart").first
    before = _drawn(orders_chart)

    _choose(page, "stMultiSelect", "Channels", channel)
    expect(_metric(page, "Orders")).to_have_text(f"{in_channel:,}")
    after = _drawn(orders_chart, unlike=before)
    assert after != before, "the orders-per-day chart was not redrawn for the channel"

    # The filter follows to the Orders page: its table lists only that channel's orders.
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Orders", exact=True).click()
    expect(page.get_by_role("heading", name="Orders", exact=True)).to_be_visible()
    expect(_metric(page, "Orders found")).to_have_text(f"{in_channel:,}")
    grid = page.get_by_test_id("stDataFrame").first.locator("table[role=grid]")
    expect(grid).to_have_attribute("aria-rowcount", str(in_channel + 1))  # + the header
    channel_cells = grid.locator("tbody td[aria-colindex='3']")
    expect(channel_cells.first).to_have_text(channel)
    assert set(channel_cells.all_inner_texts()) == {channel}
