"""The Returns page as an analyst uses it: on the demo platform's snapshot, on a copy of it
with hand-made refunds and inspections, and on an empty platform.

Expected figures are computed here from the snapshot's ``oms`` tables (the operational rows
the marts are built from) or reasoned by hand, never read back from the marts the page uses.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from decimal import Decimal

import duckdb
import polars as pl
import pytest
from streamlit.proto.Metric_pb2 import Metric as MetricProto

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
#: The demo is built with dbt's default reporting currency.
DEMO_CURRENCY = "USD"
REFUNDS_TILE = "Refunds on these orders ({})"
NOT_COMPARED = "The period before is not wholly in the snapshot, so no change is shown."

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
    ),
    refunds AS (
        SELECT coalesce(sum(f.amount) FILTER (WHERE f.currency = $currency), 0) AS amount,
               count(*) FILTER (WHERE f.currency <> $currency) AS foreign_refunds
        FROM oms.refunds AS f JOIN orders USING (order_key)
        WHERE orders.order_date BETWEEN $start AND $end AND {channel}
    )
    SELECT coalesce((SELECT sum(requests) FROM requests), 0)::BIGINT AS requests,
           coalesce((SELECT sum(units) FROM requests), 0)::BIGINT AS units,
           (SELECT shipped FROM shipped)::BIGINT AS shipped,
           (SELECT amount FROM refunds) AS refunds,
           (SELECT foreign_refunds FROM refunds) AS foreign_refunds
"""


def _figures(con, start, end, channel: str | None = None) -> dict:
    """The figures of the orders placed from start to end; ``refunds`` (a Decimal) sums the
    refunds in the demo's reporting currency, which need no conversion: the tests using it
    check first that ``foreign_refunds`` (the others) is 0."""
    sql = RETURN_FIGURES.format(channel="orders.channel = $channel" if channel else "true")
    params = {"start": start, "end": end, "currency": DEMO_CURRENCY} | (
        {"channel": channel} if channel else {}
    )
    row = con.execute(sql, params).fetchone()
    return {
        "requests": row[0],
        "units": row[1],
        "shipped": row[2] or 0,
        "refunds": Decimal(row[3]),
        "foreign_refunds": row[4],
    }


def _rate(returned: int, shipped: int) -> str:
    return "—" if not shipped else f"{returned / shipped:.1%}"


def _rate_change(now: dict, before: dict) -> str:
    if not now["shipped"] or not before["shipped"]:
        return ""
    change = now["units"] / now["shipped"] - before["units"] / before["shipped"]
    return f"{change * 100:+.1f} pp"


def _captions(app) -> list[str]:
    return [c.value for c in app.caption]


def _order_dates(settings):
    with snapshot(settings) as con:
        return con.execute(
            "SELECT min(cast(ordered_at AS DATE)), max(cast(ordered_at AS DATE)) FROM oms.orders"
        ).fetchone()


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

    assert everything["foreign_refunds"] == 0, "the demo refunds in its reporting currency"

    tiles = metrics(app, with_delta=True)
    assert tiles["Return requests"][0] == f"{everything['requests']:,}"
    assert tiles["Units returned"][0] == f"{everything['units']:,}"
    assert tiles["Return rate"][0] == _rate(everything["units"], everything["shipped"])
    assert tiles[REFUNDS_TILE.format(DEMO_CURRENCY)][0] == f"{everything['refunds']:,.2f}"
    # All dates: the period before lies wholly before the first order, so no change.
    assert {label: delta for label, (_, delta) in tiles.items()} == dict.fromkeys(tiles, "")
    assert NOT_COMPARED in _captions(app)
    if refunds:
        shown_refunds = pl.from_pandas(table(app, "amount_reporting"))
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
    first, last = _order_dates(settings)
    start = last - timedelta(days=1)
    before_start, before_end = start - timedelta(days=2), start - timedelta(days=1)
    assert before_start >= first, "the demo holds the whole period before"
    app = pick(open_page(RETURNS_PAGE), dates=(start, last))
    with snapshot(settings) as con:
        now = _figures(con, start, last)
        before = _figures(con, before_start, before_end)
    assert now["foreign_refunds"] == before["foreign_refunds"] == 0
    tiles = metrics(app, with_delta=True)
    # The period before is wholly in the snapshot: a change even when it had no return.
    assert tiles["Return requests"] == (
        f"{now['requests']:,}",
        f"{now['requests'] - before['requests']:+,}",
    )
    assert tiles["Units returned"] == (
        f"{now['units']:,}",
        f"{now['units'] - before['units']:+,}",
    )
    assert tiles["Return rate"] == (
        _rate(now["units"], now["shipped"]),
        _rate_change(now, before),
    )
    assert tiles[REFUNDS_TILE.format(DEMO_CURRENCY)] == (
        f"{now['refunds']:,.2f}",
        f"{now['refunds'] - before['refunds']:+,.2f} {DEMO_CURRENCY}",
    )
    # Neutral colours: recent orders are still inside their return window, so fewer returns
    # than the period before is no good news.
    assert {m.label: m.proto.color for m in app.metric} == dict.fromkeys(
        tiles, MetricProto.MetricColor.GRAY
    )
    (caption,) = [c for c in _captions(app) if c.startswith("Change against")]
    assert f"{before_start:%Y-%m-%d} to {before_end:%Y-%m-%d}" in caption
    assert "still inside their return window" in caption
    assert NOT_COMPARED not in _captions(app)


def test_no_change_when_the_period_before_starts_before_the_snapshot(demo_platform):
    settings = demo_platform
    first, last = _order_dates(settings)
    # Three days from the second order date: the period before (first - 2 to first) is
    # partly in the snapshot, and a change against it would read as growth.
    start, end = first + timedelta(days=1), first + timedelta(days=3)
    assert end <= last, "the demo runs long enough"
    app = pick(open_page(RETURNS_PAGE), dates=(start, end))
    with snapshot(settings) as con:
        now = _figures(con, start, end)
    assert now["foreign_refunds"] == 0
    tiles = metrics(app, with_delta=True)
    assert tiles == {
        "Return requests": (f"{now['requests']:,}", ""),
        "Units returned": (f"{now['units']:,}", ""),
        "Return rate": (_rate(now["units"], now["shipped"]), ""),
        REFUNDS_TILE.format(DEMO_CURRENCY): (f"{now['refunds']:,.2f}", ""),
    }
    assert NOT_COMPARED in _captions(app)
    assert not [c for c in _captions(app) if c.startswith("Change against")]


@pytest.fixture
def hand_made(demo_platform, tmp_path, monkeypatch, request):
    """A copy of the demo snapshot (the demo itself stays untouched) where the first order
    got three refunds, two in the reporting currency (40.00 and 10.50) and one in GBP without
    a rate, and one return line going back to the first warehouse was inspected: 2 units
    restocked, 1 damaged, 1 missing, reason DEFECTIVE. The reporting currency is the demo's,
    or another one given as the fixture's parameter: then every mart row carries it, as in a
    snapshot built with that dbt ``reporting_currency``."""
    currency = getattr(request, "param", DEMO_CURRENCY)
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
        if currency != DEMO_CURRENCY:
            tables = con.execute(
                "SELECT c.table_name FROM information_schema.columns AS c "
                "JOIN information_schema.tables AS t USING (table_schema, table_name) "
                "WHERE c.table_schema = 'analytics' AND c.column_name = 'reporting_currency' "
                "AND t.table_type = 'BASE TABLE'"
            ).fetchall()
            assert ("kpi_daily",) in tables
            for (table_name,) in tables:
                con.execute(f"UPDATE analytics.{table_name} SET reporting_currency = ?", [currency])
        con.execute("DELETE FROM analytics.fct_refunds")
        con.execute(
            "INSERT INTO analytics.fct_refunds BY NAME SELECT * FROM (VALUES "
            "('RF-T-1', 'original', $currency, 2, 40.00, 40.00),"
            "('RF-T-2', 'store_credit', $currency, 1, 10.50, 10.50),"
            "('RF-T-3', 'original', 'GBP', 1, 25.00, NULL)"
            ") AS t(refund_id, method, currency, units, amount, amount_reporting), "
            "(SELECT $order_key AS order_key, $channel AS channel, $order_date::DATE AS "
            "order_date, $issued::DATE AS issued_date, 'RMA-T' AS rma_number, "
            "$currency AS reporting_currency)",
            {
                "currency": currency,
                "order_key": order_key,
                "channel": channel,
                "order_date": order_date,
                "issued": order_date + timedelta(days=2),
            },
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


def test_refunds_in_the_reporting_currency_and_dispositions_of_hand_made_rows(hand_made):
    channel, warehouse, demo_lines, demo_defective = hand_made
    app = open_page(RETURNS_PAGE, "All dates")
    assert not app.exception
    tiles = metrics(app, with_delta=True)
    refunds_tile = REFUNDS_TILE.format(DEMO_CURRENCY)
    # 40.00 + 10.50 in USD; the GBP refund has no rate and stays out of the total.
    assert tiles[refunds_tile][0] == "50.50"
    refunds = pl.from_pandas(table(app, "amount_reporting")).sort("method")
    assert refunds["method"].to_list() == ["original", "store_credit"]
    assert refunds["refunds"].to_list() == [2, 1]
    assert refunds["amount_reporting"].to_list() == [40.0, 10.5]
    assert refunds["unconverted"].to_list() == [1, 0]
    assert any(
        "Not in the USD totals" in w.value and "1 in GBP (25.00)" in w.value for w in app.warning
    )
    daily = chart_titled(app, "Refunded (USD)")
    assert daily["amount_reporting"].sum() == pytest.approx(50.5)

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
    assert metrics(app, with_delta=True)[refunds_tile][0] == "50.50"
    # Another channel than the refunded order's shows none of its refunds.
    others = [c for c in app.sidebar.multiselect(key="filter_channels").options if c != channel]
    if others:
        app = pick(app, channel=others[0])
        assert metrics(app, with_delta=True)[refunds_tile][0] == "0.00"
        assert any("No refunds" in i.value for i in app.info)


def _formats(spec) -> list[str]:
    """Every number or time format in a Vega-Lite spec."""
    if isinstance(spec, dict):
        own = [spec["format"]] if isinstance(spec.get("format"), str) else []
        return own + [f for value in spec.values() for f in _formats(value)]
    if isinstance(spec, list):
        return [f for value in spec for f in _formats(value)]
    return []


@pytest.mark.parametrize("hand_made", ["EUR"], indirect=True)
def test_refund_labels_carry_the_reporting_currency_of_the_snapshot(hand_made):
    app = open_page(RETURNS_PAGE, "All dates")
    tiles = metrics(app, with_delta=True)
    # The hand-made 40.00 + 10.50, now in EUR, the snapshot's reporting currency.
    assert tiles["Refunds on these orders (EUR)"] == ("50.50", "")
    (tile,) = [m for m in app.metric if m.label == "Refunds on these orders (EUR)"]
    assert "converted to EUR" in tile.proto.help and "issued in the period" in tile.proto.help
    assert [s.value for s in app.subheader if "Refunds" in s.value] == [
        "Refunds on these orders (EUR)"
    ]
    (refunds,) = [d for d in app.dataframe if "amount_reporting" in d.value.columns]
    assert json.loads(refunds.proto.columns)["amount_reporting"]["label"] == "Amount (EUR)"
    assert chart_titled(app, "Refunded (EUR)")["amount_reporting"].sum() == pytest.approx(50.5)
    assert any(
        "Not in the EUR totals" in w.value and "1 in GBP (25.00)" in w.value for w in app.warning
    )
    assert any("Money in EUR" in c for c in _captions(app))
    # Nothing on the page is labelled or formatted in USD any more.
    shown = [
        *(m.label for m in app.metric),
        *(m.value for m in app.metric),
        *(m.proto.help for m in app.metric),
        *(e.value for e in [*app.subheader, *app.caption, *app.warning, *app.info]),
        *(d.proto.columns for d in app.dataframe),
    ]
    assert not [text for text in shown if "USD" in text or "$" in text]
    for element in app.get("arrow_vega_lite_chart") + app.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        assert "USD" not in json.dumps(spec)
        assert not [f for f in _formats(spec) if "$" in f]


def test_returns_page_on_an_empty_platform_says_what_to_do(oms_env):
    app = open_page(RETURNS_PAGE)
    assert app.title[0].value == "Returns"
    assert any("No returns yet" in i.value and "make run" in i.value for i in app.info)
    assert not app.metric
