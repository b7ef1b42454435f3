"""The Returns page as an analyst uses it: on the demo platform's snapshot, on a copy of it
with hand-made refunds and inspections, and on an empty platform.

Expected figures are computed here from the snapshot's ``oms`` tables (the operational rows
the marts are built from) or reasoned by hand, never read back from the marts the page uses.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import duckdb
import polars as pl
import pytest

from pipelines.project import get_settings
from tests.integration.dashboard_app import (
    chart_titled,
    metrics,
    open_page,
    pick,
    snapshot,
    table,
)

RETURNS_PAGE = "app_pages/returns.py"

# Return requests, units received back and units shipped per order date and channel, from
# the operational tables (order dates are UTC dates of ordered_at).
RETURN_FIGURES = """
    WITH orders AS (
        SELECT order_key, channel, cast(ordered_at AS DATE) AS order_date FROM oms.orders
    ),
    requests AS (
        SELECT orders.order_date, orders.channel,
               count(DISTINCT (r.order_key, r.return_id)) AS requests,
               coalesce(sum(r.received_quantity) FILTER (WHERE r.status <> 'rejected'), 0)
                   AS units
        FROM oms.returns AS r JOIN orders USING (order_key)
        WHERE orders.order_date BETWEEN $start AND $end AND {channel}
        GROUP BY ALL
    ),
    shipped AS (
        SELECT sum(p.quantity) AS shipped
        FROM oms.pick_tasks AS p JOIN orders USING (order_key)
        WHERE p.status = 'shipped' AND orders.order_date BETWEEN $start AND $end AND {channel}
    )
    SELECT coalesce((SELECT sum(requests) FROM requests), 0)::BIGINT AS requests,
           coalesce((SELECT sum(units) FROM requests), 0)::BIGINT AS units,
           (SELECT shipped FROM shipped)::BIGINT AS shipped
"""


def _figures(con, start, end, channel: str | None = None) -> dict:
    sql = RETURN_FIGURES.format(channel="orders.channel = $channel" if channel else "true")
    params = {"start": start, "end": end} | ({"channel": channel} if channel else {})
    row = con.execute(sql, params).fetchone()
    return {"requests": row[0], "units": row[1], "shipped": row[2] or 0}


def _rate(returned: int, shipped: int) -> str:
    return "—" if not shipped else f"{returned / shipped:.1%}"


def test_returns_page_shows_the_snapshot_returns_and_follows_the_channel(demo_platform):
    settings = demo_platform
    app = open_page(RETURNS_PAGE, "All dates")
    assert app.title[0].value == "Returns"
    with snapshot(settings) as con:
        first, last = con.execute(
            "SELECT min(cast(ordered_at AS DATE)), max(cast(ordered_at AS DATE)) FROM oms.orders"
        ).fetchone()
        everything = _figures(con, first, last)
        statuses = dict(
            con.execute("SELECT status, count(*) FROM oms.returns GROUP BY status").fetchall()
        )
        by_channel = dict(
            con.execute(
                "SELECT o.channel, count(DISTINCT (r.order_key, r.return_id)) FROM oms.returns "
                "AS r JOIN oms.orders AS o USING (order_key) GROUP BY o.channel"
            ).fetchall()
        )
        channels = [c for (c,) in con.execute("SELECT DISTINCT channel FROM oms.orders").fetchall()]
        refunds = dict(
            con.execute("SELECT method, count(*) FROM oms.refunds GROUP BY ALL").fetchall()
        )
    assert everything["requests"] > 0 and everything["shipped"] > 0, "the demo has returns"

    tiles = metrics(app, with_delta=True)
    assert tiles["Return requests"][0] == f"{everything['requests']:,}"
    assert tiles["Units returned"][0] == f"{everything['units']:,}"
    assert tiles["Return rate"][0] == _rate(everything["units"], everything["shipped"])
    assert tiles["Refunds (USD)"][0].startswith("$")
    if refunds:
        shown_refunds = pl.from_pandas(table(app, "amount_usd"))
        assert dict(zip(shown_refunds["method"], shown_refunds["refunds"], strict=True)) == refunds
    else:
        assert any("No refunds" in i.value for i in app.info)
    shown = pl.from_pandas(table(app, "return_lines"))
    assert dict(zip(shown["status"], shown["return_lines"], strict=True)) == statuses
    rates = chart_titled(app, "Channel", missing_ok=True)
    if everything["shipped"]:
        assert rates is not None and set(rates["channel"]) <= set(channels)

    # Pick the channel with the most requests: the figures become that channel's.
    channel = max(by_channel, key=by_channel.get)
    app = pick(app, channel=channel)
    with snapshot(settings) as con:
        one = _figures(con, first, last, channel)
    assert one["requests"] == by_channel[channel]
    tiles = metrics(app, with_delta=True)
    assert tiles["Return requests"][0] == f"{one['requests']:,}"
    assert tiles["Return rate"][0] == _rate(one["units"], one["shipped"])
    rates = chart_titled(app, "Channel", missing_ok=True)
    assert rates is None or set(rates["channel"]) == {channel}

    # A channel without returns (if the demo has one) empties the statuses.
    quiet = [c for c in channels if c not in by_channel]
    if quiet:
        app.sidebar.multiselect(key="filter_channels").unselect(channel).select(quiet[0])
        app = app.run()
        assert metrics(app, with_delta=True)["Return requests"][0] == "0"
        assert any("No return requests" in i.value for i in app.info)


def test_return_tiles_compare_with_the_period_before(demo_platform):
    settings = demo_platform
    with snapshot(settings) as con:
        last = con.execute("SELECT max(cast(ordered_at AS DATE)) FROM oms.orders").fetchone()[0]
    start = last - timedelta(days=1)
    app = pick(open_page(RETURNS_PAGE), dates=(start, last))
    with snapshot(settings) as con:
        now = _figures(con, start, last)
        before = _figures(con, start - timedelta(days=2), start - timedelta(days=1))
    compared = bool(before["requests"] or before["shipped"])
    tiles = metrics(app, with_delta=True)
    assert tiles["Return requests"] == (
        f"{now['requests']:,}",
        f"{now['requests'] - before['requests']:+,}" if compared else "",
    )
    assert tiles["Units returned"] == (
        f"{now['units']:,}",
        f"{now['units'] - before['units']:+,}" if compared else "",
    )
    assert tiles["Return rate"][0] == _rate(now["units"], now["shipped"])


@pytest.fixture
def hand_made(demo_platform, tmp_path, monkeypatch):
    """A copy of the demo snapshot (the demo itself stays untouched) where one order of the
    first order got three refunds, one of them in EUR without a rate, and one return line
    going back to the first warehouse was inspected: 2 units restocked, 1 damaged, 1 missing,
    reason DEFECTIVE."""
    copy = tmp_path / "reporting.duckdb"
    shutil.copy(demo_platform.reporting_path, copy)
    monkeypatch.setenv("OMS_REPORTING", str(copy))
    get_settings.cache_clear()
    with duckdb.connect(str(copy)) as con:
        con.execute("SET TimeZone = 'UTC'")
        order_key, channel, order_date = con.execute(
            "SELECT order_key, channel, cast(ordered_at AS DATE) FROM oms.orders "
            "ORDER BY order_key LIMIT 1"
        ).fetchone()
        con.execute("DELETE FROM analytics.fct_refunds")
        con.execute(
            "INSERT INTO analytics.fct_refunds BY NAME SELECT * FROM (VALUES "
            "('RF-T-1', 'original', 'USD', 2, 40.00, 40.00),"
            "('RF-T-2', 'store_credit', 'USD', 1, 10.50, 10.50),"
            "('RF-T-3', 'original', 'EUR', 1, 25.00, NULL)"
            ") AS t(refund_id, method, currency, units, amount, amount_reporting), "
            "(SELECT ? AS order_key, ? AS channel, ?::DATE AS order_date, "
            "?::DATE AS issued_date, 'RMA-T' AS rma_number)",
            [order_key, channel, order_date, order_date + timedelta(days=2)],
        )
        warehouse = con.execute(
            "SELECT min(warehouse_id) FROM analytics.dim_warehouses"
        ).fetchone()[0]
        demo_defective = dict(
            con.execute(
                "SELECT i.disposition, sum(i.quantity) FROM oms.return_inspections AS i "
                "JOIN oms.returns AS r USING (return_line_id) WHERE r.reason = 'DEFECTIVE' "
                "GROUP BY ALL"
            ).fetchall()
        )
        demo_lines = con.execute(
            "SELECT count(*) FROM oms.returns WHERE warehouse_id = ?", [warehouse]
        ).fetchone()[0]
        con.execute(
            "INSERT INTO analytics.fct_returns BY NAME SELECT ? AS order_key, ? AS channel, "
            "?::DATE AS order_date, 'T-LINE' AS return_line_id, 'T-RET' AS return_id, "
            "? AS warehouse_id, 'DEFECTIVE' AS reason, 'inspected' AS status, "
            "4 AS requested_quantity, 3 AS received_quantity, 2 AS restock_units, "
            "0 AS refurbish_units, 1 AS damaged_units, 0 AS scrap_units, 1 AS missing_units",
            [order_key, channel, order_date, warehouse],
        )
    yield channel, warehouse, demo_lines, demo_defective
    get_settings.cache_clear()


def test_refunds_in_usd_and_dispositions_of_hand_made_rows(hand_made):
    channel, warehouse, demo_lines, demo_defective = hand_made
    app = open_page(RETURNS_PAGE, "All dates")
    assert not app.exception
    tiles = metrics(app, with_delta=True)
    # 40.00 + 10.50 in USD; the EUR refund has no rate and stays out of the total.
    assert tiles["Refunds (USD)"][0] == "$50.50"
    refunds = pl.from_pandas(table(app, "amount_usd")).sort("method")
    assert refunds["method"].to_list() == ["original", "store_credit"]
    assert refunds["refunds"].to_list() == [2, 1]
    assert refunds["amount_usd"].to_list() == [40.0, 10.5]
    assert refunds["unconverted"].to_list() == [1, 0]
    assert any("1 in EUR (25.00)" in w.value for w in app.warning)
    daily = chart_titled(app, "Refunded (USD)")
    assert daily["amount_usd"].sum() == pytest.approx(50.5)

    dispositions = chart_titled(app, "Disposition")
    defective = dict(
        dispositions.filter(pl.col("reason") == "DEFECTIVE")
        .select("disposition", "units")
        .iter_rows()
    )
    # The demo's own DEFECTIVE inspections plus the hand-made line's.
    expected = {label.upper(): units for label, units in demo_defective.items()}
    for disposition, units in {"RESTOCK": 2, "DAMAGED": 1, "MISSING": 1}.items():
        expected[disposition] = expected.get(disposition, 0) + units
    assert {label.upper(): units for label, units in defective.items()} == expected
    statuses = pl.from_pandas(table(app, "return_lines"))
    inspected = statuses.filter(pl.col("status") == "inspected")
    assert inspected["return_lines"].to_list() == [1]
    assert inspected["units_requested"].to_list() == [4]

    # A warehouse keeps only the return lines going back to it (the hand-made line and the
    # demo's own); refunds are not kept per warehouse and stay.
    app = pick(app, warehouse=warehouse)
    statuses = pl.from_pandas(table(app, "return_lines"))
    assert statuses["return_lines"].sum() == demo_lines + 1
    assert metrics(app, with_delta=True)["Refunds (USD)"][0] == "$50.50"
    # Another channel than the refunded order's shows none of its refunds.
    others = [c for c in app.sidebar.multiselect(key="filter_channels").options if c != channel]
    if others:
        app = pick(app, channel=others[0])
        assert metrics(app, with_delta=True)["Refunds (USD)"][0] == "$0.00"
        assert any("No refunds" in i.value for i in app.info)


def test_returns_page_on_an_empty_platform_says_what_to_do(oms_env):
    app = open_page(RETURNS_PAGE)
    assert app.title[0].value == "Returns"
    assert any("No returns yet" in i.value and "make run" in i.value for i in app.info)
    assert not app.metric
