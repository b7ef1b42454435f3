"""The shipping stage end to end: a real batch → manifests at the cutoff → carrier tracking
events → dbt shipping marts → the published snapshot → the Fulfilment & shipping page."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from pipelines.definitions import build_definitions
from pipelines.lib.generator import generate
from pipelines.lib.generator.tracking import write_demo_tracking
from pipelines.lib.shipping import run_shipping_stage
from pipelines.lib.warehouse import connect, frame, migrate, publish_snapshot, scalar
from tests.integration.dashboard_app import metrics, open_page, shown, snapshot, table
from tests.integration.fulfilment_figures import expected_figures

SHIPPING_PAGE = "app_pages/shipping.py"
QUOTE_COLUMNS = ["carrier", "service", "price", "transit_days", "meets_sla", "why_not"]


def _ship(settings, now):
    with connect(settings.warehouse_path) as con:
        return run_shipping_stage(
            con,
            reference_dir=settings.reference_dir,
            inbox=settings.inbox,
            archive_dir=settings.archive,
            rejected_dir=settings.rejected,
            outbox=settings.outbox,
            run_id=f"later-{now:%Y%m%d%H%M}",
            now=now,
        )


@pytest.fixture(scope="module")
def batch(module_oms_env):
    """One whole batch over ~200 generated orders; then, past the last cutoff, the manifests
    close, and ten days on the carriers' tracking files are applied; dbt and the snapshot are
    rebuilt over that. Shared by this module's tests."""
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
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(list(defs.assets), resources=defs.resources, instance=instance)
    assert result.success

    with connect(settings.warehouse_path, read_only=True) as con:
        last_cutoff = scalar(con, "SELECT max(cutoff_at) FROM oms.waves")
    closed = _ship(settings, last_cutoff + timedelta(minutes=1))
    assert closed.manifests > 0
    later = last_cutoff + timedelta(days=10)
    with connect(settings.warehouse_path, read_only=True) as con:
        written = write_demo_tracking(con, settings.inbox, settings.reference_dir, now=later)
    assert written is not None
    _ship(settings, later)

    rebuilt = dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        instance=instance,
        selection=dg.AssetSelection.groups("analytics"),
    )
    return settings, rebuilt


def test_the_snapshot_holds_shipped_delivered_and_late_parcels(batch):
    settings, rebuilt = batch
    assert rebuilt.success
    materialized = {e.asset_key.path[-1] for e in rebuilt.get_asset_materialization_events()}
    assert {"fct_parcels", "fct_shipments", "reporting_snapshot"} <= materialized
    dbt_checks = rebuilt.get_asset_check_evaluations()
    assert dbt_checks and [c.check_name for c in dbt_checks if not c.passed] == []
    with connect(settings.warehouse_path, read_only=True) as con:
        live = con.execute(
            "SELECT count(*) FILTER (WHERE shipped_at IS NOT NULL), "
            "count(*) FILTER (WHERE delivered_at IS NOT NULL) FROM oms.parcels"
        ).fetchall()[0]
        delayed = scalar(con, "SELECT count(*) FROM oms.shipments WHERE delayed_at IS NOT NULL")
        quotes = scalar(con, "SELECT count(*) FROM oms.rate_quotes")
    assert live[0] > live[1] > 0
    assert delayed > 0 and quotes > 0
    # The snapshot the page reads is the rebuilt one.
    with connect(settings.reporting_path, read_only=True) as snap:
        assert (
            snap.execute(
                "SELECT count(*) FILTER (WHERE is_shipped), count(*) FILTER (WHERE is_delivered) "
                "FROM analytics.fct_parcels"
            ).fetchall()[0]
            == live
        )
        assert scalar(snap, "SELECT count(*) FROM analytics.stg_oms__rate_quotes") == quotes


def test_shipping_page_shows_the_warehouse_figures(batch):
    settings = batch[0]
    app = open_page(SHIPPING_PAGE)
    assert not app.exception
    assert app.title[0].value == "Fulfilment & shipping"
    with snapshot(settings) as con:
        # The default period covers the whole batch: every parcel, shipment and wave counts.
        expected = expected_figures(con)
        delayed = scalar(con, "SELECT count(*) FROM oms.shipments WHERE delayed_at IS NOT NULL")
        mix = frame(
            con,
            "SELECT carrier, service, count(*) AS parcels, sum(rate) AS cost FROM oms.parcels "
            "WHERE status <> 'cancelled' AND carrier IS NOT NULL GROUP BY ALL",
        )
        default_parcel = scalar(con, "SELECT min(parcel_id) FROM oms.rate_quotes")
        quotes = frame(
            con,
            f"SELECT {', '.join(QUOTE_COLUMNS)} FROM oms.rate_quotes WHERE parcel_id = ? "
            'ORDER BY "rank" NULLS LAST, price NULLS LAST, carrier, service',
            [default_parcel],
        )
    assert delayed > 0 and expected["shipped"] > 0
    assert metrics(app) == expected["tiles"]

    shown_mix = table(app, "cost_per_kg")
    late = table(app, "delayed_at")
    shown_quotes = table(app, "quote_rank")
    assert len(shown_mix) == mix.height
    assert shown_mix["parcels"].sum() == mix["parcels"].sum() == expected["rated"]
    assert sum(shown_mix["cost"]) == mix["cost"].sum() == expected["cost"]
    assert app.get("vega_lite_chart"), "the carrier mix is charted"

    assert len(late) == min(delayed, 300)
    assert list(late.columns) == [
        "order_key",
        "shipment_id",
        "warehouse_id",
        "carriers",
        "promised_delivery_date",
        "status",
        "delayed_at",
    ]
    assert late["delayed_at"].is_monotonic_decreasing  # newest first

    # "Why this service?" opens on the first parcel with quotes: its oms.rate_quotes by rank.
    assert app.text_input(key="quote_parcel").value == default_parcel
    assert len(shown_quotes) == quotes.height > 0
    assert shown_quotes["quote_rank"].iloc[0] == 1
    assert shown_quotes[QUOTE_COLUMNS].astype(object).where(
        shown_quotes[QUOTE_COLUMNS].notna(), None
    ).values.tolist() == [list(r) for r in quotes.rows()]


def test_why_this_service_finds_a_parcel_by_tracking_number(batch):
    settings = batch[0]
    with connect(settings.warehouse_path, read_only=True) as con:
        parcel_id, tracking_number, carrier, service = con.execute(
            "SELECT p.parcel_id, p.tracking_number, p.carrier, p.service "
            "FROM oms.parcels p JOIN oms.rate_quotes q USING (parcel_id) "
            "WHERE p.tracking_number IS NOT NULL GROUP BY ALL "
            "ORDER BY count(*) DESC, p.parcel_id DESC LIMIT 1"
        ).fetchall()[0]
        quotes = frame(
            con,
            f"SELECT {', '.join(QUOTE_COLUMNS)} FROM oms.rate_quotes WHERE parcel_id = ? "
            'ORDER BY "rank" NULLS LAST, price NULLS LAST, carrier, service',
            [parcel_id],
        )
    app = open_page(SHIPPING_PAGE)
    app.text_input(key="quote_parcel").input(tracking_number).run()
    assert not app.exception
    listed = app.dataframe[-1].value
    assert len(listed) == quotes.height > 1
    assert listed["carrier"].tolist() == quotes["carrier"].to_list()
    assert listed["service"].tolist() == quotes["service"].to_list()
    assert (listed["carrier"].iloc[0], listed["service"].iloc[0]) == (carrier, service)
    assert listed["quote_rank"].iloc[0] == 1
    assert any(parcel_id in shown(m.value) and service in shown(m.value) for m in app.markdown)

    app.text_input(key="quote_parcel").input("no-such-parcel").run()
    assert not app.exception
    assert "no-such-parcel" in shown(app.warning[-1].value)


def test_shipping_page_says_so_when_there_is_no_snapshot(oms_env):
    app = open_page(SHIPPING_PAGE)
    assert not app.exception
    assert "No shipping data yet" in app.info[0].value
    assert not app.metric


def test_shipping_page_says_so_on_an_empty_snapshot(oms_env):
    with connect(oms_env.warehouse_path) as con:
        migrate(con)
        publish_snapshot(con, oms_env.reporting_path)
    assert oms_env.reporting_path.exists()
    app = open_page(SHIPPING_PAGE)
    assert not app.exception
    assert "No shipping data yet" in app.info[0].value
    assert not app.metric
    assert not app.dataframe
