"""The batch end to end on a temporary warehouse: inbox → orders → validation → stock →
allocation → waves → labels → (a later cutoff: manifests; carrier events; then returns,
inspections, refunds and exchanges) → dbt → pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.defs import (
    analytics,
    channels,
    communication,
    fulfilment,
    intake,
    inventory,
    quality,
    returns,
    shipping,
)
from pipelines.defs.resources import CLOCK_TAG, folders_resource, warehouse_resource
from pipelines.lib.brokering import run_allocation_stage
from pipelines.lib.channel_feeds import MANIFEST, run_channel_feeds_stage
from pipelines.lib.generator import generate
from pipelines.lib.generator.returns import write_demo_inspections, write_demo_returns
from pipelines.lib.generator.tracking import write_demo_tracking
from pipelines.lib.quality.validate import run_validation_stage
from pipelines.lib.returns import run_returns_stage
from pipelines.lib.shipping import STATUS_OF_EVENT, run_shipping_stage
from pipelines.lib.warehouse import connect, frame, scalar
from pipelines.project import DASHBOARDS_DIR

ASSETS = [
    intake.intake,
    returns.returns,
    quality.validation,
    inventory.inventory_movements,
    inventory.allocation,
    fulfilment.fulfilment,
    shipping.shipping,
    channels.channel_feeds,
    communication.notifications,
    analytics.dbt_models,
    analytics.reporting_snapshot,
]


#: The batch's clock (the wall clock when the module starts), so a re-run can be the same batch.
BATCH_CLOCK = datetime.now(UTC).replace(microsecond=0)


def _materialize(settings, now: datetime | None = None):
    """The batch's assets, at ``now`` (the ``oms/now`` tag) or the wall clock."""
    from dagster_dbt import DbtCliResource

    return dg.materialize(
        ASSETS,
        resources={
            "warehouse": warehouse_resource(settings),
            "folders": folders_resource(settings),
            "dbt": DbtCliResource(project_dir=analytics.DBT_PROJECT),
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags={CLOCK_TAG: now.isoformat()} if now else None,
    )


@pytest.fixture(scope="module")
def batch(module_oms_env):
    """One batch over generated exports, shared by this module's tests (dbt runs once)."""
    settings = module_oms_env
    summary = generate(
        settings.inbox,
        orders=300,
        seed=11,
        days=2,
        defect_rate=0.05,
        reference_dir=settings.reference_dir,
    )
    manifest = json.loads((settings.inbox / "_generator_manifest.json").read_text())
    result = _materialize(settings, BATCH_CLOCK)
    return settings, summary, manifest, result


def test_batch_turns_inbox_exports_into_orders_models_and_a_snapshot(batch):
    settings, summary, _, result = batch
    assert result.success
    with connect(settings.warehouse_path, read_only=True) as con:
        orders = scalar(con, "SELECT count(*) FROM oms.orders")
        lines = scalar(con, "SELECT count(*) FROM oms.order_lines")
        channels = {r[0] for r in con.execute("SELECT DISTINCT channel FROM oms.orders").fetchall()}
        fct = scalar(con, "SELECT count(*) FROM analytics.fct_orders")
        unlineaged = scalar(
            con,
            "SELECT count(*) FROM oms.orders WHERE source_file IS NULL OR run_id IS NULL",
        )
    # Every generated order arrives once (re-exports of the same order are not duplicated).
    assert orders == summary.orders
    assert lines == summary.lines
    assert {"shopify", "woocommerce", "amazon", "phone"} <= channels
    assert fct == orders
    assert unlineaged == 0
    # Every export and stock file left the inbox for the archive; only the generator's
    # manifest stays.
    left = sorted(p.name for p in settings.inbox.iterdir())
    assert left == ["_generator_manifest.json"]
    assert not list(settings.rejected.iterdir())
    archived = {p.name for p in settings.archive.rglob("*.*")}
    assert archived == {n for n in summary.files if n not in left}
    with duckdb.connect(str(settings.reporting_path), read_only=True) as snap:
        assert snap.execute("SELECT count(*) FROM analytics.fct_orders").fetchall() == [(orders,)]


def test_every_asset_shows_its_figures_in_the_dagster_ui(batch):
    """Row counts, holds, backorders and timings on the assets' materializations: the dbt
    marts' and the positions' row counts are the tables' own."""
    settings, summary, _, result = batch
    shown = {
        e.asset_key.path[-1]: {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    assert [name for name, figures in shown.items() if not figures] == []
    marts = sorted(
        p.stem for p in (analytics.DBT_PROJECT.project_dir / "models/marts").glob("*.sql")
    )
    with connect(settings.warehouse_path, read_only=True) as con:
        for mart in marts:
            rows = scalar(con, f"SELECT count(*) FROM analytics.{mart}")
            assert shown[mart]["dagster/row_count"] == rows, mart
        positions = con.execute(
            "SELECT count(*), sum(on_hand), sum(committed) FROM oms.inventory_positions"
        ).fetchone()
        backordered = scalar(con, "SELECT count(*) FROM oms.backorders WHERE status = 'open'")
        held = scalar(con, "SELECT count(*) FROM oms.orders WHERE status = 'on_hold'")
    assert "dagster/row_count" not in shown["stg_oms__orders"]  # a view: not counted
    assert shown["fct_orders"]["dagster/row_count"] == summary.orders
    assert (
        shown["inventory_positions"]["dagster/row_count"],
        shown["inventory_positions"]["units_on_hand"],
        shown["inventory_positions"]["units_committed"],
    ) == positions
    assert shown["backorders"]["open"] == backordered > 0
    assert shown["order_holds"]["on_hold"] == held > 0
    # Each stage's time, as a figure or a breakdown by phase.
    timed = {name for name, figures in shown.items() if "seconds" in figures}
    assert {
        "inbox_files",
        "returns",
        "order_holds",
        "inventory_movements",
        "allocations",
        "waves",
        "tracking_events",
        "channel_feeds",
        "notifications",
        "reporting_snapshot",
    } <= timed


def _stored_state(settings) -> tuple[dict, dict]:
    """Every stored table's rows (count and a hash) and every file of the data folders and
    the snapshots (size and modification time)."""
    tables = {}
    with connect(settings.warehouse_path, read_only=True) as con:
        names = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database()"
        ).fetchall()
        for schema, name in names:
            tables[f"{schema}.{name}"] = con.execute(
                f'SELECT count(*), bit_xor(hash(t)) FROM "{schema}"."{name}" t'
            ).fetchone()
    files = {}
    folders = (settings.inbox, settings.archive, settings.rejected, settings.outbox)
    for path in [p for folder in folders for p in folder.rglob("*")] + [settings.reporting_path]:
        if path.is_file():
            files[str(path)] = (path.stat().st_size, path.stat().st_mtime_ns)
    return tables, files


def test_running_the_batch_again_with_no_new_input_changes_nothing(batch):
    settings = batch[0]
    tables, files = _stored_state(settings)
    # The same batch again (its clock too: a later one moves the positions' "as of", and
    # with it the ages the marts compute, which is a change).
    again = _materialize(settings, BATCH_CLOCK)
    assert again.success
    # No table row and no file changed: not the reorder report (recomputed, the same), not
    # the marts, not the snapshot. With nothing new the analytics refresh found the same
    # fingerprint and neither built nor published.
    tables_after, files_after = _stored_state(settings)
    assert [t for t in tables_after if tables_after[t] != tables.get(t)] == []
    assert [f for f in files_after if files_after[f] != files.get(f)] == []
    assert tables_after.keys() == tables.keys() and files_after.keys() == files.keys()
    built = {e.asset_key.path[-1] for e in again.get_asset_materialization_events()}
    assert "fct_orders" not in built and "reporting_snapshot" not in built
    assert "orders" in built  # the operational stages ran, and found nothing to do
    with connect(settings.warehouse_path, read_only=True) as con:
        # The first batch told every channel its stock; with nothing new, nothing is sent.
        assert scalar(con, "SELECT count(*) FROM oms.channel_feeds") > 0


def test_overview_page_shows_the_batch(batch):
    summary = batch[1]
    app = AppTest.from_file(str(DASHBOARDS_DIR / "streamlit_app.py"), default_timeout=60).run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Orders"] == f"{summary.orders:,}"
    assert app.title[0].value == "Overview"


def test_overview_page_says_what_to_do_when_there_is_no_data(oms_env):
    app = AppTest.from_file(str(DASHBOARDS_DIR / "streamlit_app.py"), default_timeout=60).run()
    assert not app.exception
    assert "No orders yet" in app.info[0].value


#: The generator's injected defects and the hold (reason, rule) each must produce.
DEFECT_HOLDS = {
    "bad_postal_code": ("INCORRECT_ADDRESS", "postal_code"),
    "unknown_sku": ("UNKNOWN_SKU", "sku_known"),
    "zero_quantity": ("INVALID_QUANTITY", "quantity"),
    "unpaid": ("AWAITING_PAYMENT", "payment"),
    "duplicate_order": ("DUPLICATE_ORDER", "duplicate_order"),
}


def test_every_injected_defect_puts_its_order_on_hold_with_the_right_reason(batch):
    settings, _, manifest, _ = batch
    with connect(settings.warehouse_path, read_only=True) as con:
        holds = set(
            con.execute(
                "SELECT order_key, reason, rule FROM oms.order_holds WHERE resolved_at IS NULL"
            ).fetchall()
        )
        status = dict(con.execute("SELECT order_key, status FROM oms.orders").fetchall())
    for kind, (reason, rule) in DEFECT_HOLDS.items():
        injected = manifest["defects"][kind]
        assert injected, kind
        for defect in injected:
            key = defect["order_key"]
            if status[key] == "cancelled":
                continue  # the channel cancelled it: nothing to hold
            assert (key, reason, rule) in holds, (kind, defect)
            assert status[key] == "on_hold"
    # Orders with stock were released to pick waves; the rest wait for stock.
    assert {"released", "backordered"} <= set(status.values())


def test_suite_results_show_as_asset_checks_with_unexpected_counts(batch):
    result = batch[3]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) >= {"orders_suite", "order_lines_suite"}
    orders = checks["orders_suite"]
    assert orders.asset_key == dg.AssetKey("order_holds")
    assert orders.passed is False  # the injected defects fail expectations
    assert orders.severity == dg.AssetCheckSeverity.WARN
    assert orders.metadata["unexpected_count"].value > 0
    assert "| payment |" in orders.metadata["results"].value
    lines = checks["order_lines_suite"]
    assert "sku_known" in lines.metadata["results"].value


def test_data_docs_are_published_to_the_outbox(batch):
    settings = batch[0]
    index = settings.outbox / "quality" / "index.html"
    assert index.exists()
    assert "orders" in index.read_text(encoding="utf-8")


def test_stock_files_are_booked_as_of_their_times(batch):
    settings, _, manifest, _ = batch
    with connect(settings.warehouse_path, read_only=True) as con:
        by_reason = dict(
            con.execute(
                "SELECT reason, sum(on_hand_delta) FROM oms.inventory_movements "
                "WHERE reason NOT IN ('commit', 'release') GROUP BY reason"
            ).fetchall()
        )
        rows = dict(
            con.execute(
                "SELECT source_file, count(*) FROM oms.inventory_movements "
                "WHERE source_file IS NOT NULL AND movement_id NOT LIKE '%:counted' GROUP BY ALL"
            ).fetchall()
        )
    assert by_reason["snapshot"] == manifest["inventory_snapshot"]["on_hand_units"]
    assert by_reason["receipt"] == manifest["inventory_receipts"]["units"]
    assert by_reason["adjustment"] == manifest["inventory_adjustments"]["units"]
    # A count books the difference from the book as of its time: the generator's own figure,
    # whichever order the files were read in (a receipt read after a later count is taken
    # back out at the count's time, so the net is the same).
    assert by_reason["count"] == manifest["inventory_count"]["expected_difference"]
    for kind in ("snapshot", "receipts", "adjustments", "count"):
        entry = manifest[f"inventory_{kind}"]
        assert rows[entry["name"]] == entry["rows"], kind


def test_allocation_commits_backorders_and_accounts_for_every_unit(batch):
    settings, _, _, result = batch
    with connect(settings.warehouse_path, read_only=True) as con:
        over = scalar(con, "SELECT count(*) FROM oms.inventory_positions WHERE committed > on_hand")
        unaccounted = scalar(con, inventory.UNACCOUNTED_SQL)
        committed = scalar(
            con,
            "SELECT sum(quantity) FROM oms.allocations WHERE status IN ('committed', 'released')",
        )
        ledger_committed = scalar(con, "SELECT sum(committed_delta) FROM oms.inventory_movements")
        positions_committed = scalar(con, "SELECT sum(committed) FROM oms.inventory_positions")
        rules = {r[0] for r in con.execute("SELECT DISTINCT rule FROM oms.allocations").fetchall()}
        promised = scalar(
            con,
            "SELECT count(*) FROM oms.backorders WHERE status = 'open' "
            "AND promised_date > current_date",
        )
        open_backorders = scalar(con, "SELECT count(*) FROM oms.backorders WHERE status = 'open'")
        reorder_rows = scalar(con, "SELECT count(*) FROM oms.reorder_report")
    assert over == 0
    assert unaccounted == 0
    assert committed > 0 and committed == ledger_committed == positions_committed
    assert rules == {"single", "split"}
    assert open_backorders > 0 and promised == open_backorders
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["committed_within_on_hand"].passed
    assert checks["every_unit_accounted"].passed
    csv = settings.outbox / "inventory"
    (report,) = csv.glob("reorder_*.csv")
    assert len(report.read_text().splitlines()) == reorder_rows + 1


def test_released_stock_is_in_waves_with_pick_lists_and_packing_slips(batch):
    settings, _, _, result = batch
    with connect(settings.warehouse_path, read_only=True) as con:
        waiting = scalar(con, "SELECT count(*) FROM oms.allocations WHERE status = 'committed'")
        released = scalar(con, "SELECT count(*) FROM oms.orders WHERE status = 'released'")
        with_shipment = scalar(con, "SELECT count(DISTINCT order_key) FROM oms.shipments")
        waves = con.execute(
            "SELECT wave_id, warehouse_id, wave_date, pick_list_path FROM oms.waves"
        ).fetchall()
        slips = con.execute("SELECT packing_slip_path FROM oms.shipments").fetchall()
        unpacked = scalar(
            con,
            "SELECT count(*) FROM oms.shipments s WHERE parcels = 0 OR weight_g <= 0",
        )
    assert waiting == 0  # every committed allocation went into a wave
    assert released > 0 and with_shipment == released
    assert waves and unpacked == 0
    for wave_id, warehouse, day, pick_list in waves:
        folder = settings.outbox / warehouse / day.isoformat()
        assert pick_list == str(folder / f"{wave_id}_picklist.pdf")
        assert (folder / f"{wave_id}_picklist.csv").exists() and Path(pick_list).exists()
    assert all(Path(path).exists() for (path,) in slips)
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["tasks_match_allocations"].passed


def test_every_parcel_in_a_wave_is_rated_and_labelled(batch):
    settings, _, _, result = batch
    with connect(settings.warehouse_path, read_only=True) as con:
        parcels = frame(
            con,
            "SELECT p.*, s.wave_id, s.warehouse_id FROM oms.parcels p "
            "JOIN oms.shipments s USING (shipment_id) WHERE p.status <> 'cancelled'",
        )
        quotes = scalar(
            con,
            "SELECT count(DISTINCT parcel_id) FROM oms.rate_quotes WHERE rank = 1",
        )
    assert parcels.height > 0
    assert parcels["tracking_number"].null_count() == 0
    assert parcels["tracking_number"].n_unique() == parcels.height
    assert quotes == parcels.height
    for (wave_id, warehouse), group in parcels.group_by("wave_id", "warehouse_id"):
        label_pdf = Path(group["label_path"][0])
        assert label_pdf.parent.parent.name == warehouse
        assert set(group["label_path"]) == {str(label_pdf)}
        assert label_pdf.name == f"{wave_id}_labels.pdf" and label_pdf.exists()
        zpl = label_pdf.with_suffix(".zpl").read_text("utf-8")
        assert zpl.count("^XA") == group.height
        assert all(number in zpl for number in group["tracking_number"])
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["tracking_numbers_unique"].passed
    assert checks["shipped_stock_booked"].passed


def _later(run, settings, now):
    """A stage that reads the inbox, run on its own at ``now`` (after the batch)."""
    with connect(settings.warehouse_path) as con:
        return run(
            con,
            reference_dir=settings.reference_dir,
            inbox=settings.inbox,
            archive_dir=settings.archive,
            rejected_dir=settings.rejected,
            outbox=settings.outbox,
            run_id=f"later-{now:%Y%m%d%H%M}",
            now=now,
        )


def _ship(settings, now):
    return _later(run_shipping_stage, settings, now)


def _feeds(settings, now):
    with connect(settings.warehouse_path) as con:
        return run_channel_feeds_stage(
            con,
            reference_dir=settings.reference_dir,
            outbox=settings.outbox,
            run_id=f"feeds-{now:%Y%m%d%H%M}",
            now=now,
        )


def _returns(settings, now):
    return _later(run_returns_stage, settings, now)


def test_at_the_cutoff_manifests_ship_and_carrier_events_deliver(batch):
    # (Runs last: it moves the module's warehouse past the cutoffs.)
    settings = batch[0]
    with connect(settings.warehouse_path, read_only=True) as con:
        last_cutoff = scalar(con, "SELECT max(cutoff_at) FROM oms.waves")
        labelled = scalar(con, "SELECT count(*) FROM oms.parcels WHERE tracking_number IS NOT NULL")
    closed = _ship(settings, last_cutoff + timedelta(minutes=1))
    assert closed.manifests > 0 and closed.parcels_shipped == labelled
    with connect(settings.warehouse_path, read_only=True) as con:
        assert scalar(con, shipping.UNSHIPPED_STOCK_SQL) == 0
        assert scalar(con, inventory.UNACCOUNTED_SQL) == 0
        assert scalar(con, "SELECT count(*) FROM oms.orders WHERE status = 'released'") == 0
        manifests = frame(con, "SELECT * FROM oms.manifests")
        assert manifests["parcels"].sum() == labelled
        assert all(Path(p).exists() for p in manifests["pdf_path"])
        assert all(Path(p).exists() for p in manifests["csv_path"])
        ship_units = -scalar(
            con, "SELECT sum(on_hand_delta) FROM oms.inventory_movements WHERE reason = 'ship'"
        )
        shipped_units = scalar(
            con, "SELECT sum(quantity) FROM oms.allocations WHERE status = 'shipped'"
        )
        assert ship_units == shipped_units > 0
        channel_units = scalar(
            con,
            """
            SELECT sum(a.quantity) FROM oms.allocations a JOIN oms.orders o USING (order_key)
            WHERE a.status = 'shipped' AND o.channel IN ('amazon', 'shopify', 'woocommerce')
            """,
        )

    # The channels hear of every unit that left for their orders, once.
    feeds = _feeds(settings, last_cutoff + timedelta(minutes=2))
    confirmations = [f for f in feeds.feeds if f["kind"] == "shipment_confirmation"]
    assert {f["channel"] for f in confirmations} == {"amazon", "shopify", "woocommerce"}
    assert feeds.units_confirmed == channel_units > 0 and feeds.items_waiting == 0
    for feed in confirmations:
        manifest = json.loads((settings.outbox / feed["folder"] / MANIFEST).read_text())
        (listed,) = [f for f in manifest["feeds"] if f["feed_id"] == feed["feed_id"]]
        assert listed["units"] == feed["units"] and set(listed["manifests"]) <= set(
            manifests["manifest_id"]
        )
        assert all((settings.outbox / feed["folder"] / f["name"]).exists() for f in listed["files"])
    with connect(settings.warehouse_path, read_only=True) as con:
        assert scalar(con, channels.OVER_CONFIRMED_SQL) == 0
    assert _feeds(settings, last_cutoff + timedelta(minutes=3)).feeds == []

    # Ten days on, the carriers have reported (late, failed, repeated, out of order, strangers).
    later = last_cutoff + timedelta(days=10)
    with connect(settings.warehouse_path, read_only=True) as con:
        written = write_demo_tracking(con, settings.inbox, settings.reference_dir, now=later)
    assert written is not None and written.duplicates > 0
    applied = _ship(settings, later)
    assert [f.status for f in applied.tracking_files] == ["processed"] * len(written.paths)
    assert applied.events_new == written.events
    assert applied.events_quarantined == written.unknown
    expected = written.latest.select(
        "tracking_number", pl.col("status").replace_strict(STATUS_OF_EVENT).alias("expected")
    )
    with connect(settings.warehouse_path, read_only=True) as con:
        parcels = frame(
            con, "SELECT tracking_number, status FROM oms.parcels WHERE manifest_id IS NOT NULL"
        )
        not_delivered = scalar(
            con,
            """
            SELECT count(*) FROM oms.orders o WHERE o.status = 'delivered' AND EXISTS (
                SELECT 1 FROM oms.shipments s
                WHERE s.order_key = o.order_key AND s.status NOT IN ('delivered', 'cancelled'))
            """,
        )
        delivered_orders = scalar(con, "SELECT count(*) FROM oms.orders WHERE status = 'delivered'")
        delayed = scalar(con, "SELECT count(*) FROM oms.shipments WHERE delayed_at IS NOT NULL")
    compared = parcels.join(expected, on="tracking_number", how="left")
    assert compared.filter(pl.col("status") != pl.col("expected")).is_empty()
    assert not_delivered == 0 and delivered_orders == applied.orders_delivered > 0
    assert delayed == applied.shipments_delayed > 0  # the late and lost ones


def test_customers_get_one_message_per_event_kind_in_the_outbox(batch):
    settings, _, _, result = batch
    with connect(settings.warehouse_path, read_only=True) as con:
        rows = frame(con, "SELECT * FROM oms.notifications")
        confirmed = scalar(
            con,
            "SELECT count(DISTINCT order_key) FROM oms.order_events WHERE event = 'ready'",
        )
        on_hold_payment = scalar(
            con,
            "SELECT count(DISTINCT h.order_key) FROM oms.order_holds h "
            "JOIN oms.orders o USING (order_key) WHERE h.resolved_at IS NULL "
            "AND h.reason IN ('AWAITING_PAYMENT', 'INCORRECT_ADDRESS') AND h.severity = 'hold' "
            "AND o.status = 'on_hold' AND trim(coalesce(o.email, '')) <> ''",
        )
    assert rows["notification_id"].n_unique() == rows.height
    kinds = rows.group_by("kind").len()
    by_kind = dict(kinds.iter_rows())
    assert by_kind["order_confirmed"] == confirmed
    queued_actions = rows.filter(
        (pl.col("kind") == "action_needed") & (pl.col("status") == "queued")
    ).height
    assert queued_actions == on_hold_payment
    queued = rows.filter(pl.col("status") == "queued")
    assert queued.height > 0 and set(queued["channel"]) == {"email"}  # SMS off by default
    assert all(Path(p).exists() and p.endswith(".eml") for p in queued["file_path"])
    skipped = rows.filter(pl.col("status") == "skipped")
    assert skipped["skip_reason"].null_count() == 0
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["every_message_has_its_file"].passed


def test_delivered_orders_come_back_inspected_refunded_and_exchanged(batch):
    # (Runs after the carriers delivered: the generator returns a share of delivered orders,
    # some late, some asking too much, some for orders that do not exist.)
    settings = batch[0]
    with connect(settings.warehouse_path, read_only=True) as con:
        delivered = scalar(con, "SELECT max(delivered_at) FROM oms.shipments")
    asked = delivered + timedelta(days=3)
    requests = write_demo_returns(
        settings.warehouse_path,
        settings.inbox,
        as_of=asked,
        rate=0.5,
        reference_dir=settings.reference_dir,
    )
    sent = pl.read_csv(requests, infer_schema=False)
    first = _returns(settings, asked)
    assert [f.status for f in first.files] == ["processed"]
    assert first.requests_read == sent.height
    assert first.authorized_lines + first.rejected_lines + first.quarantined + first.repeated >= (
        sent.height
    )
    assert first.authorized_lines > 0
    with connect(settings.warehouse_path, read_only=True) as con:
        quarantined = frame(con, "SELECT reason FROM quality.returns_quarantine")
        rejected = frame(con, "SELECT status_reason FROM oms.returns WHERE status = 'rejected'")
    unknown = sent.filter(pl.col("order_key").str.contains(r"^shopify:\d{12}$"))
    assert quarantined.filter(pl.col("reason").str.starts_with("unknown order")).height == (
        unknown.height
    )
    assert rejected.height == first.rejected_lines
    # The warehouse inspects what arrived within two weeks; the batch settles it.
    inspected = asked + timedelta(days=14)
    assert write_demo_inspections(settings.warehouse_path, settings.inbox, as_of=inspected)
    second = _returns(settings, inspected)
    assert second.units_received > 0 and second.refunds > 0
    with connect(settings.warehouse_path, read_only=True) as con:
        assert scalar(con, returns.OVER_REFUNDED_SQL) == 0
        assert scalar(con, returns.UNBOOKED_RESTOCK_SQL) == 0
        restocked = scalar(
            con,
            "SELECT sum(quantity) FROM oms.return_inspections WHERE disposition = 'RESTOCK'",
        )
        booked = scalar(
            con,
            "SELECT sum(on_hand_delta) FROM oms.inventory_movements "
            "WHERE reason = 'return_restock'",
        )
        unsettled = scalar(
            con,
            "SELECT count(*) FROM oms.returns WHERE status = 'inspected' "
            "AND coalesce(status_reason, '') NOT LIKE 'refund held for review: %'",
        )
        refunded_units = scalar(con, "SELECT sum(units) FROM oms.refunds")
        exchanges = scalar(con, "SELECT count(*) FROM oms.orders WHERE channel = 'exchange'")
        back = frame(con, "SELECT status FROM oms.orders WHERE status LIKE '%returned'")
        files = sorted((settings.outbox / "refunds").rglob("*.csv"))
    assert booked == restocked > 0 and unsettled == 0
    assert refunded_units == sum(
        pl.read_csv(f, infer_schema=False)["units"].cast(pl.Int64).sum() for f in files
    )
    assert exchanges == second.exchange_orders and back.height > 0
    # Validation and allocation take the exchange orders like any other order.
    later = inspected + timedelta(minutes=5)
    with connect(settings.warehouse_path) as con:
        run_validation_stage(
            con,
            inbox=settings.inbox,
            archive_dir=settings.archive,
            rejected_dir=settings.rejected,
            reference_dir=settings.reference_dir,
            run_id="exchange-validation",
            now=later,
        )
        run_allocation_stage(
            con, reference_dir=settings.reference_dir, run_id="exchange-allocation", now=later
        )
        waiting = scalar(
            con,
            "SELECT count(*) FROM oms.orders WHERE channel = 'exchange' AND status = 'received'",
        )
    assert waiting == 0
