"""The Data quality page as an analyst uses it: on the demo platform and on an empty one.

Holds are checked against the snapshot's ``oms.order_holds``; validation results and
quarantined records against the operational warehouse's ``quality`` tables (read only), which
the snapshot reaches only through the dbt models the page reads.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from streamlit.testing.v1 import AppTest

from tests.integration.dashboard_app import chart_titled, open_page, pick, snapshot, table

DATA_QUALITY_PAGE = "app_pages/data_quality.py"
BANDS = ("< 1 day", "1–3 days", "3–7 days", "> 7 days")

# Open holds (severity hold) per reason and age band, aged against the snapshot's newest
# order event or hold change.
OPEN_HOLDS = """
    WITH as_of AS (
        SELECT greatest(
            (SELECT max("at") FROM oms.order_events),
            (SELECT max(opened_at) FROM oms.order_holds),
            (SELECT max(resolved_at) FROM oms.order_holds)
        ) AS at_
    )
    SELECT h.reason,
           (epoch(as_of.at_) - epoch(h.opened_at)) / 86400.0 AS age_days
    FROM oms.order_holds AS h JOIN oms.orders AS o USING (order_key), as_of
    WHERE h.resolved_at IS NULL AND h.severity = 'hold' AND {channel}
"""


def _band(days: float) -> str:
    return BANDS[0] if days < 1 else BANDS[1] if days < 3 else BANDS[2] if days < 7 else BANDS[3]


def _open_holds(con, channel: str | None = None) -> dict[str, dict[str, int]]:
    sql = OPEN_HOLDS.format(channel="o.channel = ?" if channel else "true")
    expected: dict[str, dict[str, int]] = {}
    for reason, age in con.execute(sql, [channel] if channel else []).fetchall():
        bands = expected.setdefault(reason, dict.fromkeys(BANDS, 0))
        bands[_band(age)] += 1
    return expected


def _shown_open_holds(app: AppTest) -> dict[str, dict[str, int]]:
    shown = pl.from_pandas(table(app, "open_holds"))
    return {row["reason"]: {b: row[b] for b in BANDS} for row in shown.iter_rows(named=True)}


def test_data_quality_page_shows_holds_validation_results_and_quarantines(demo_platform):
    settings = demo_platform
    app = open_page(DATA_QUALITY_PAGE, "All dates")
    assert app.title[0].value == "Data quality"
    with snapshot(settings) as snap:
        open_holds = _open_holds(snap)
        placed = snap.execute("SELECT count(*) FROM oms.orders").fetchone()[0]
        held = dict(
            snap.execute(
                "SELECT reason, count(DISTINCT order_key) FROM oms.order_holds "
                "WHERE severity = 'hold' GROUP BY reason"
            ).fetchall()
        )
    with snapshot(settings, warehouse=True) as live:
        failures = dict(
            ((day, rule), failed)
            for day, rule, failed in live.execute(
                "SELECT cast(validated_at AS DATE), rule, sum(unexpected_count) "
                "FROM quality.expectation_results GROUP BY ALL HAVING sum(unexpected_count) > 0"
            ).fetchall()
        )
        by_rule = dict(
            live.execute(
                "SELECT rule, sum(unexpected_count) FROM quality.expectation_results GROUP BY rule"
            ).fetchall()
        )
        quarantined = dict(
            live.execute(
                "SELECT cast(quarantined_at AS DATE), count(*) FROM quality.tracking_quarantine "
                "GROUP BY ALL"
            ).fetchall()
        )
    assert open_holds and failures and quarantined, "the demo has holds, failures, quarantines"

    # Open holds by reason and age band: the table and the chart.
    assert _shown_open_holds(app) == open_holds
    chart = chart_titled(app, x="Open holds")
    per_reason = chart.group_by("reason").agg(pl.col("holds").sum())
    assert dict(per_reason.iter_rows()) == {r: sum(b.values()) for r, b in open_holds.items()}

    # Hold rate by reason: orders held for the reason / orders placed.
    rates = pl.from_pandas(table(app, "hold_rate"))
    assert dict(zip(rates["reason"], rates["held_orders"], strict=True)) == held
    for reason, rate in zip(rates["reason"], rates["hold_rate"], strict=True):
        assert rate == held[reason] / placed

    # Validation failures per day and rule, and per rule over the period.
    daily = chart_titled(app, x="Validation day (UTC)")
    shown = {(row["validated_date"], row["rule"]): row["rows_failed"] for row in daily.to_dicts()}
    assert {(d.date() if hasattr(d, "date") else d, r): n for (d, r), n in shown.items()} == (
        failures
    )
    rules = pl.from_pandas(table(app, "failure_rate"))
    assert dict(zip(rules["rule"], rules["rows_failed"], strict=True)) == by_rule

    # Quarantined tracking events per day.
    per_day = chart_titled(app, x="Quarantine day (UTC)")
    tracking = per_day.filter(pl.col("source") == "tracking events")
    shown_days = tracking.group_by("day").agg(pl.col("records").sum())
    assert {
        (d.date() if hasattr(d, "date") else d): n for d, n in shown_days.iter_rows()
    } == quarantined

    # The GX Data Docs the validation stage wrote, as a file:// link.
    index = settings.outbox / "quality" / "index.html"
    assert index.is_file()
    assert any(index.resolve().as_uri() in md.value for md in app.markdown)


def test_channel_and_period_filters_change_the_figures(demo_platform):
    settings = demo_platform
    app = open_page(DATA_QUALITY_PAGE, "All dates")
    with snapshot(settings) as snap:
        by_channel = dict(
            snap.execute(
                "SELECT o.channel, count(*) FROM oms.order_holds AS h "
                "JOIN oms.orders AS o USING (order_key) "
                "WHERE h.resolved_at IS NULL AND h.severity = 'hold' GROUP BY ALL"
            ).fetchall()
        )
        channel = max(by_channel, key=by_channel.get)
        expected = _open_holds(snap, channel)
        first = snap.execute("SELECT min(cast(ordered_at AS DATE)) FROM oms.orders").fetchone()[0]
    app = pick(app, channel=channel)
    assert _shown_open_holds(app) == expected
    assert sum(sum(b.values()) for b in expected.values()) == by_channel[channel]

    # A period before any validation run: the page says so instead of charting nothing.
    with snapshot(settings, warehouse=True) as live:
        first_run = live.execute(
            "SELECT min(cast(validated_at AS DATE)) FROM quality.expectation_results"
        ).fetchone()[0]
    if first_run > first:
        app = pick(app, dates=(first, first_run - timedelta(1)))
        assert any("No validation run in this period" in i.value for i in app.info)


def test_data_quality_page_on_an_empty_platform_says_what_to_do(oms_env):
    app = open_page(DATA_QUALITY_PAGE)
    assert app.title[0].value == "Data quality"
    assert any("No orders to check yet" in i.value and "make run" in i.value for i in app.info)
    assert any("No Data Docs have been built yet" in i.value for i in app.info)
