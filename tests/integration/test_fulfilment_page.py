"""The Fulfilment & shipping page on the demo platform: its tiles and tables against figures
computed straight from the snapshot's operational tables (``oms.*``, in ``fulfilment_figures``),
and how the global filters (warehouse, channel, period) cut them."""

from __future__ import annotations

from tests.integration.dashboard_app import chart_titled, metrics, open_page, pick, snapshot, table
from tests.integration.fulfilment_figures import Scope, expected_figures

PAGE = "app_pages/shipping.py"


def test_fulfilment_page_tiles_and_tables_match_the_operational_tables(demo_platform):
    app = open_page(PAGE)
    assert app.title[0].value == "Fulfilment & shipping"
    with snapshot(demo_platform) as con:
        expected = expected_figures(con)
        waves = con.execute(
            """
            SELECT CAST(released_at AS DATE), warehouse_id, count(DISTINCT wave_id), count(*),
                   sum(units)
            FROM oms.shipments GROUP BY ALL ORDER BY 1 DESC, 2
            """
        ).fetchall()
        all_waves, latest_wave = con.execute(
            "SELECT count(*), max_by(wave_id, (released_at, wave_id)) FROM oms.waves"
        ).fetchall()[0]
        mix = dict(
            con.execute(
                "SELECT carrier || ' / ' || service, count(*) FROM oms.parcels "
                "WHERE status <> 'cancelled' AND carrier IS NOT NULL GROUP BY ALL"
            ).fetchall()
        )
    # The demo ships every day and rate shopping saves money.
    assert expected["shipped"] > 0 and expected["saved"] > 0
    assert metrics(app) == expected["tiles"]

    per_day = table(app, "release_date")
    assert [
        (r.release_date.date(), r.warehouse_id, r.waves, r.shipments, r.units)
        for r in per_day.itertuples()
    ] == waves
    latest = table(app, "wave_id")
    assert len(latest) == min(all_waves, 50) and latest["wave_id"].iloc[0] == latest_wave
    assert latest["released_at"].is_monotonic_decreasing
    carriers = table(app, "cost_per_kg")
    assert {f"{r.carrier} / {r.service}": r.parcels for r in carriers.itertuples()} == mix
    assert sum(carriers["cost"]) == expected["cost"]
    savings = table(app, "with_alternative")
    assert sum(savings["savings"]) == expected["saved"]
    assert savings["parcels"].sum() == expected["rated"]

    # The waves chart draws the table's units per day and warehouse.
    drawn = chart_titled(app, "Units released").to_dicts()
    assert sorted((r["release_date"], r["warehouse_id"], r["units"]) for r in drawn) == sorted(
        (f"{d:%Y-%m-%d}", w, u) for d, w, _, _, u in waves
    )
    # The definitions are on the page, not only in the code.
    helps = {m.label: m.help for m in app.metric}
    assert "wave's cutoff" in helps["Cutoffs met"]
    assert "next-cheapest eligible service" in helps["Rate-shopping savings (USD)"]
    captions = " ".join(c.value for c in app.caption)
    assert "release date" in captions and "by ship date" in captions


def test_a_warehouse_filter_recuts_every_figure(demo_platform):
    with snapshot(demo_platform) as con:
        everything = expected_figures(con)
        nj = expected_figures(con, Scope(warehouse="WH-NJ"))
        nj_waves = con.execute(
            "SELECT count(DISTINCT wave_id), count(*) FROM oms.shipments "
            "WHERE warehouse_id = 'WH-NJ'"
        ).fetchall()[0]
    app = pick(open_page(PAGE), warehouse="WH-NJ")
    assert metrics(app) == nj["tiles"]
    assert 0 < nj["shipped"] < everything["shipped"]
    assert 0 < nj["saved"] < everything["saved"]
    per_day = table(app, "release_date")
    assert set(per_day["warehouse_id"]) == {"WH-NJ"}
    assert (per_day["waves"].sum(), per_day["shipments"].sum()) == nj_waves
    assert set(table(app, "wave_id")["warehouse_id"]) == {"WH-NJ"}


def test_the_period_applies_to_each_sections_own_date(demo_platform):
    with snapshot(demo_platform) as con:
        days = [
            d
            for (d,) in con.execute(
                "SELECT DISTINCT CAST(released_at AS DATE) FROM oms.waves ORDER BY 1"
            ).fetchall()
        ]
        day = days[len(days) // 2]
        one_day = expected_figures(con, Scope(day=day))
        everything = expected_figures(con)
    assert len(days) > 2
    app = pick(open_page(PAGE), day=day)
    assert metrics(app) == one_day["tiles"]
    assert 0 < one_day["shipped"] < everything["shipped"]
    assert {d.date() for d in table(app, "release_date")["release_date"]} == {day}


def test_a_channel_filter_counts_the_channels_orders(demo_platform):
    with snapshot(demo_platform) as con:
        amazon = expected_figures(con, Scope(channel="amazon"))
        everything = expected_figures(con)
        shipments = con.execute(
            "SELECT count(*) FROM oms.shipments s JOIN oms.orders o USING (order_key) "
            "WHERE o.channel = 'amazon'"
        ).fetchall()[0][0]
    app = pick(open_page(PAGE), channel="amazon")
    assert metrics(app) == amazon["tiles"]
    assert 0 < amazon["shipped"] < everything["shipped"]
    assert table(app, "release_date")["shipments"].sum() == shipments


def test_a_period_without_shipping_shows_each_sections_empty_state(demo_platform):
    with snapshot(demo_platform) as con:
        first_order, first_release = con.execute(
            "SELECT (SELECT min(CAST(ordered_at AS DATE)) FROM oms.orders), "
            "(SELECT min(CAST(released_at AS DATE)) FROM oms.waves)"
        ).fetchall()[0]
    assert first_order < first_release  # the first day's orders are released the day after
    app = pick(open_page(PAGE), day=first_order)
    assert metrics(app)["Shipped parcels"] == "0"
    assert metrics(app)["Cutoffs met"] == "–"
    messages = " ".join(i.value for i in app.info)
    assert "No wave was released in this period" in messages
    assert "No parcel was rated for a ship date in this period" in messages
    assert "No shipment shipping in this period is late." in [s.value for s in app.success]


def test_the_page_shows_its_empty_state_on_an_empty_platform(oms_env):
    app = open_page(PAGE)
    assert app.title[0].value == "Fulfilment & shipping"
    assert "No shipping data yet" in app.info[0].value
    assert not app.metric and not app.dataframe


def test_channel_feeds_table_says_what_each_channel_was_told(demo_platform):
    with snapshot(demo_platform) as con:
        expected = con.execute(
            """
            WITH latest AS (
                SELECT s.channel, s.sku, arg_max(s.quantity, f.seq) AS quantity
                FROM oms.channel_stock s JOIN oms.channel_feeds f USING (feed_id) GROUP BY ALL
            )
            SELECT f.channel, count(*),
                   (SELECT sum(quantity) FROM oms.channel_confirmations c
                    WHERE c.channel = f.channel),
                   (SELECT sum(a.quantity) FROM oms.allocations a
                    JOIN oms.orders o USING (order_key)
                    WHERE a.status = 'shipped' AND o.channel = f.channel)
                   - (SELECT sum(quantity) FROM oms.channel_confirmations c
                      WHERE c.channel = f.channel),
                   (SELECT count(*) FROM latest l WHERE l.channel = f.channel AND quantity > 0)
            FROM oms.channel_feeds f GROUP BY ALL ORDER BY 1
            """
        ).fetchall()
    # Every carrier cutoff of the demo confirmed what left, to each of the three channels.
    assert [row[0] for row in expected] == ["amazon", "shopify", "woocommerce"]
    assert all(row[2] > 0 and row[4] > 0 for row in expected)
    app = open_page(PAGE, period="All dates")
    feeds = table(app, "units_awaiting")
    assert [
        (r.channel, r.feeds, r.units_confirmed, r.units_awaiting, r.skus_offered)
        for r in feeds.itertuples()
    ] == expected
    # A channel picked in the sidebar leaves only its row.
    shopify = table(pick(app, channel="shopify"), "units_awaiting")
    assert list(shopify["channel"]) == ["shopify"]
