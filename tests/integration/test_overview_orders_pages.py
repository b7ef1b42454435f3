"""The Overview and Orders pages on a short demo's snapshot (and on an empty platform): KPI
tiles, their change against the previous period, the global filters carried from page to
page, the orders table, its CSV and one order's timeline."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from dashboards import data
from tests.integration.dashboard_app import (
    chart_titled,
    deltas,
    metrics,
    open_page,
    pick,
    snapshot_rows,
)

OVERVIEW = "app_pages/overview.py"
ORDERS = "app_pages/orders.py"


def _orders_between(settings, start, end, channel=None) -> int:
    sql = "SELECT count(*) FROM oms.orders WHERE CAST(ordered_at AS DATE) BETWEEN ? AND ?"
    params = [start, end]
    if channel:
        sql += " AND channel = ?"
        params.append(channel)
    return snapshot_rows(settings, sql, params)[0][0]


def _usd_revenue(settings, channel=None) -> float:
    """Non-cancelled order totals at the order date's rate (the nearest earlier one), read
    from the operational orders and the FX reference file."""
    fx = settings.reference_dir / "fx_rates.csv"
    sql = (
        "SELECT sum(o.order_total * fx.rate_to_usd) FROM oms.orders AS o "
        f"ASOF JOIN read_csv('{fx}') AS fx "
        "ON o.currency = fx.currency AND CAST(o.ordered_at AS DATE) >= fx.date "
        "WHERE o.status <> 'cancelled'" + (" AND o.channel = ?" if channel else "")
    )
    return float(snapshot_rows(settings, sql, [channel] if channel else [])[0][0])


def test_overview_tiles_add_up_the_orders_of_the_period(demo_platform):
    app = open_page(OVERVIEW, "All dates")
    assert not app.exception
    first, last = snapshot_rows(
        demo_platform, "SELECT min(ordered_at)::DATE, max(ordered_at)::DATE FROM oms.orders"
    )[0]
    tiles = metrics(app)
    assert tiles["Orders"] == f"{_orders_between(demo_platform, first, last):,}"
    assert tiles["Revenue (USD)"] == f"{_usd_revenue(demo_platform):,.2f}"
    units = snapshot_rows(demo_platform, "SELECT sum(quantity) FROM oms.order_lines")[0][0]
    assert tiles["Units"] == f"{units:,}"
    # A rate over a period is its numerators over its denominators, never a mean of rates.
    allocated, ordered = snapshot_rows(
        demo_platform,
        "SELECT sum(fill_units_allocated), sum(fill_units_ordered) FROM analytics.kpi_daily",
    )[0]
    assert tiles["Fill rate"] == f"{allocated / ordered:.1%}"
    held = snapshot_rows(
        demo_platform,
        "SELECT count(DISTINCT order_key) FROM oms.order_holds WHERE severity = 'hold'",
    )[0][0]
    assert tiles["Hold rate"] == f"{held / (_orders_between(demo_platform, first, last)):.1%}"
    # Orders per day: the chart's bars are the day's orders.
    per_day = chart_titled(app, "Orders").group_by("date_day").agg(pl.col("orders").sum())
    assert per_day["orders"].sum() == _orders_between(demo_platform, first, last)


def test_a_channel_filter_changes_tiles_and_charts_and_follows_to_the_orders_page(demo_platform):
    app = open_page(OVERVIEW, "All dates")
    everything = chart_titled(app, "Orders")
    channel = snapshot_rows(
        demo_platform, "SELECT channel FROM oms.orders GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )[0][0]
    app = pick(app, channel=channel)
    first, last = snapshot_rows(
        demo_platform, "SELECT min(ordered_at)::DATE, max(ordered_at)::DATE FROM oms.orders"
    )[0]
    expected = _orders_between(demo_platform, first, last, channel)
    assert metrics(app)["Orders"] == f"{expected:,}"
    assert metrics(app)["Revenue (USD)"] == f"{_usd_revenue(demo_platform, channel):,.2f}"
    only = chart_titled(app, "Orders")
    assert set(only["channel"]) == {channel} and set(everything["channel"]) != {channel}

    # The same choice holds on the next page, without picking it again.
    app = app.switch_page(ORDERS).run()
    assert not app.exception
    assert app.sidebar.multiselect(key="filter_channels").value == [channel]
    assert app.sidebar.selectbox(key="filter_period").value == "All dates"
    assert metrics(app)["Orders found"] == f"{expected:,}"
    shown = app.dataframe[0].value
    assert set(shown["channel"]) == {channel}


def test_changes_are_against_the_period_just_before(demo_platform):
    last = snapshot_rows(demo_platform, "SELECT max(ordered_at)::DATE FROM oms.orders")[0][0]
    start = last - timedelta(days=1)
    app = pick(open_page(OVERVIEW), dates=(start, last))
    assert not app.exception
    now = _orders_between(demo_platform, start, last)
    before = _orders_between(demo_platform, start - timedelta(days=2), start - timedelta(days=1))
    assert before > 0
    assert metrics(app)["Orders"] == f"{now:,}"
    assert deltas(app)["Orders"] == f"{now - before:+,} ({(now - before) / before:+.1%})"
    # A rate's change is in percentage points.
    assert deltas(app)["Fill rate"].endswith(" pp")
    # Carrier costs stay in USD whatever the reporting currency; refunds are those issued.
    assert "Shipping cost per order (USD)" in metrics(app)
    assert "Refunds issued (USD)" in metrics(app)


def test_no_change_against_a_period_the_snapshot_covers_only_in_part(demo_platform):
    first, last = snapshot_rows(
        demo_platform, "SELECT min(ordered_at)::DATE, max(ordered_at)::DATE FROM oms.orders"
    )[0]
    # The period's second half is in the snapshot: its first half would be half empty.
    start = first + (last - first) // 2
    assert start - (last - start) - timedelta(days=1) < first
    app = pick(open_page(OVERVIEW), dates=(start, last))
    assert metrics(app)["Orders"] == f"{_orders_between(demo_platform, start, last):,}"
    assert set(deltas(app).values()) == {None}
    assert "The period before is not wholly in the snapshot" in app.caption[1].value


def test_the_orders_page_searches_lists_and_downloads(demo_platform):
    app = open_page(ORDERS, "All dates")
    total = snapshot_rows(demo_platform, "SELECT count(*) FROM oms.orders")[0][0]
    assert metrics(app)["Orders found"] == f"{total:,}"
    table = app.dataframe[0].value
    assert len(table) == total  # under the table's cap: every order is listed
    button = app.get("download_button")[0]
    assert button.proto.label == f"Download {total:,} orders as CSV"

    # Status filter: exactly the orders in that state.
    delivered = snapshot_rows(
        demo_platform, "SELECT count(*) FROM oms.orders WHERE status = 'delivered'"
    )[0][0]
    app.multiselect(key="orders_status").select("delivered")
    app = app.run()
    assert metrics(app)["Orders found"] == f"{delivered:,}"
    assert set(app.dataframe[0].value["status"]) == {"delivered"}

    # Search by number finds the one order.
    number, key = snapshot_rows(
        demo_platform,
        "SELECT order_number, order_key FROM oms.orders WHERE status = 'delivered' "
        "ORDER BY order_key LIMIT 1",
    )[0]
    app.text_input(key="orders_search").input(number)
    app = app.run()
    assert metrics(app)["Orders found"] == "1"
    assert app.selectbox(key="orders_pick").value == key


def test_the_orders_csv_holds_every_matching_row_uncapped(demo_platform):
    total = snapshot_rows(demo_platform, "SELECT count(*) FROM oms.orders")[0][0]
    body = data.csv("SELECT order_key, status FROM analytics.fct_orders ORDER BY order_key")
    lines = body.decode().splitlines()
    assert lines[0] == "order_key,status"
    assert len(lines) == total + 1
    assert sorted(line.split(",")[0] for line in lines[1:]) == [
        k for (k,) in snapshot_rows(demo_platform, "SELECT order_key FROM oms.orders ORDER BY 1")
    ]


def test_one_orders_timeline_is_its_events_lines_and_parcels(demo_platform):
    key, number = snapshot_rows(
        demo_platform,
        "SELECT order_key, order_number FROM oms.orders WHERE status = 'delivered' "
        "ORDER BY order_key LIMIT 1",
    )[0]
    app = open_page(ORDERS, "All dates")
    app.text_input(key="orders_search").input(number)
    app = app.run()
    assert not app.exception
    events = snapshot_rows(
        demo_platform,
        'SELECT event FROM oms.order_events WHERE order_key = ? ORDER BY "at", event_id',
        [key],
    )
    # Tables after the orders table: the events, the lines, the parcels.
    timeline, lines, parcels = (frame.value for frame in app.dataframe[1:4])
    assert list(timeline["event"]) == [e for (e,) in events]
    ordered_lines = snapshot_rows(
        demo_platform,
        "SELECT line_no, quantity FROM oms.order_lines WHERE order_key = ? ORDER BY line_no",
        [key],
    )
    assert list(zip(lines["line_no"], lines["ordered_quantity"], strict=True)) == ordered_lines
    tracking = snapshot_rows(
        demo_platform,
        "SELECT p.tracking_number, p.status FROM oms.parcels AS p "
        "JOIN oms.shipments AS s USING (shipment_id) WHERE s.order_key = ? ORDER BY p.parcel_id",
        [key],
    )
    assert list(zip(parcels["tracking_number"], parcels["status"], strict=True)) == tracking
    assert "delivered" in set(parcels["status"])


def test_the_pages_say_what_to_do_on_an_empty_platform(oms_env):
    for page in (OVERVIEW, ORDERS):
        app = open_page(page)
        assert not app.exception
        (note,) = app.info
        assert note.value.startswith("No orders yet — drop channel exports in data/inbox")
        assert not app.dataframe
