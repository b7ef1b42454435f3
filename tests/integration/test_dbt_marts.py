"""The analytics foundation on a real batch: order lines, order events, daily stock, the
dimensions and money in the reporting currency, each checked against an independent
computation from the operational tables and data/reference/fx_rates.csv."""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.definitions import build_definitions
from pipelines.lib.generator import generate
from pipelines.lib.privacy import keyed_hash, pii_key
from pipelines.lib.warehouse import connect

NEW_MODELS = {
    "stg_oms__order_events",
    "stg_reference__fx_rates",
    "stg_reference__products",
    "stg_reference__warehouses",
    "int_orders__reporting_fx",
    "int_orders__customer_keys",
    "int_order_lines__fulfilment",
    "fct_order_lines",
    "fct_order_events",
    "fct_inventory_daily",
    "dim_customers",
    "dim_channels",
    "dim_dates",
    "dim_products",
    "dim_warehouses",
}
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def batch(module_oms_env):
    """One whole batch over ~400 generated orders (some in CAD, EUR, GBP, AUD through
    WooCommerce), shared by the module so dbt builds once."""
    settings = module_oms_env
    generate(
        settings.inbox,
        orders=400,
        seed=7,
        days=3,
        defect_rate=0.05,
        reference_dir=settings.reference_dir,
    )
    defs = build_definitions()
    result = dg.materialize(
        list(defs.assets),
        resources=defs.resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    return settings, result


def _rows(settings, sql: str) -> list[tuple]:
    with connect(settings.warehouse_path, read_only=True) as con:
        return con.execute(sql).fetchall()


def _usd_rates(reference_dir: Path) -> dict[str, tuple[list[dt.date], list[Decimal]]]:
    """fx_rates.csv per currency: rate dates ascending and their USD rates."""
    by_currency: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    with (reference_dir / "fx_rates.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            by_currency[row["currency"]].append(
                (dt.date.fromisoformat(row["date"]), Decimal(row["rate_to_usd"]))
            )
    return {
        c: ([d for d, _ in sorted(rows)], [r for _, r in sorted(rows)])
        for c, rows in by_currency.items()
    }


def _rate_on(rates, currency: str, day: dt.date) -> Decimal | None:
    """USD per unit of ``currency`` on ``day``: the latest rate on or before it."""
    if currency == "USD":
        return Decimal(1)
    if currency not in rates:
        return None
    dates, values = rates[currency]
    i = bisect.bisect_right(dates, day)
    return values[i - 1] if i else None


def _convert(amount: Decimal | None, rate: Decimal | None) -> Decimal | None:
    if amount is None or rate is None:
        return None
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def test_batch_builds_the_new_models_and_their_checks_pass(batch):
    _, result = batch
    assert result.success
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized >= NEW_MODELS
    checks = result.get_asset_check_evaluations()
    on_new = [c for c in checks if c.asset_key.path[-1] in NEW_MODELS]
    assert {c.asset_key.path[-1] for c in on_new} == NEW_MODELS
    assert [c.check_name for c in on_new if not c.passed] == []
    # Every order converted (all generated currencies have rates), so the warn test is quiet.
    assert any(
        c.check_name == "assert_order_amounts_convert_to_reporting_currency" and c.passed
        for c in checks
    )


def test_order_lines_mart_has_exactly_the_order_lines(batch):
    settings, _ = batch
    lines = set(_rows(settings, "SELECT order_key, line_no FROM oms.order_lines"))
    mart = _rows(settings, "SELECT order_key, line_no FROM analytics.fct_order_lines")
    assert len(mart) == len(lines) > 0
    assert set(mart) == lines
    # Units shipped per line are the shipped pick tasks'.
    shipped = dict(
        ((k, n), q)
        for k, n, q in _rows(
            settings,
            "SELECT order_key, line_no, sum(quantity) FROM oms.pick_tasks "
            "WHERE status = 'shipped' GROUP BY ALL",
        )
    )
    for key, line_no, quantity in _rows(
        settings, "SELECT order_key, line_no, shipped_quantity FROM analytics.fct_order_lines"
    ):
        assert quantity == shipped.get((key, line_no), 0)


def test_reporting_amounts_are_order_amounts_times_the_nearest_earlier_rate(batch):
    settings, _ = batch
    rates = _usd_rates(settings.reference_dir)
    orders = _rows(
        settings,
        "SELECT order_key, currency, CAST(ordered_at AS DATE), order_total, status FROM oms.orders",
    )
    mart = {
        key: (currency, fx_rate, total)
        for key, currency, fx_rate, total in _rows(
            settings,
            "SELECT order_key, reporting_currency, fx_rate, order_total_reporting "
            "FROM analytics.fct_orders",
        )
    }
    foreign = 0
    for key, currency, day, total, _ in orders:
        rate = _rate_on(rates, currency, day)
        reporting_currency, fx_rate, total_reporting = mart[key]
        assert reporting_currency == "USD"
        assert fx_rate == rate, key
        assert total_reporting == _convert(total, rate), key
        foreign += currency != "USD"
    assert foreign > 0, "the batch has orders in other currencies than USD"

    # Lines: each line total converted on its own at its order's rate.
    order_rates = {key: _rate_on(rates, c, day) for key, c, day, _, _ in orders}
    for key, line_no, line_total, line_total_reporting in _rows(
        settings,
        "SELECT l.order_key, l.line_no, o.line_total, l.line_total_reporting "
        "FROM analytics.fct_order_lines l JOIN oms.order_lines o USING (order_key, line_no)",
    ):
        assert line_total_reporting == _convert(line_total, order_rates[key]), (key, line_no)

    # The daily KPI keeps revenue in the order currency and adds it in the reporting currency.
    expected: dict[tuple, Decimal] = defaultdict(Decimal)
    for key, currency, day, total, status in orders:
        if status != "cancelled" and total is not None:
            expected[(day, currency)] += _convert(total, order_rates[key])
    kpi: dict[tuple, Decimal] = defaultdict(Decimal)
    for day, currency, revenue in _rows(
        settings,
        "SELECT order_date, currency, revenue_reporting FROM analytics.kpi_orders_daily",
    ):
        kpi[(day, currency)] += revenue or 0
    assert {k: v for k, v in kpi.items() if v} == {k: v for k, v in expected.items() if v}


def test_last_day_of_daily_stock_is_the_current_positions(batch):
    settings, _ = batch
    positions = {
        (w, s): (on_hand, committed)
        for w, s, on_hand, committed in _rows(
            settings, "SELECT warehouse_id, sku, on_hand, committed FROM oms.inventory_positions"
        )
    }
    moved = dict(
        ((w, s), first)
        for w, s, first in _rows(
            settings,
            'SELECT warehouse_id, sku, min(CAST("at" AS DATE)) FROM oms.inventory_movements '
            "GROUP BY ALL",
        )
    )
    (last_day,) = _rows(settings, 'SELECT max(CAST("at" AS DATE)) FROM oms.inventory_movements')[0]
    daily = _rows(
        settings,
        "SELECT warehouse_id, sku, min(snapshot_date), max(snapshot_date), count(*), "
        "arg_max(on_hand, snapshot_date), arg_max(committed_units, snapshot_date) "
        "FROM analytics.fct_inventory_daily GROUP BY ALL",
    )
    assert {(w, s) for w, s, *_ in daily} == set(moved)
    for w, s, first, last, days, on_hand, committed in daily:
        assert first == moved[(w, s)]
        assert last == last_day
        assert days == (last - first).days + 1
        assert (on_hand, committed) == positions[(w, s)]


def _identity(email, phone, name, ship_name, postal) -> str | None:
    """The customer identity rule of docs/analytics.md, written again in Python."""
    email = (email or "").strip().lower()
    if re.fullmatch(r".+@.+", email, re.S):
        return f"email:{email}"
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 11 and digits.startswith("1"):
        return f"phone:{digits[1:]}"
    if len(digits) >= 7:
        return f"phone:{digits}"
    who = name if name is not None else (ship_name if ship_name is not None else "")
    who = re.sub(r"\s+", " ", who).strip().lower()
    postal = re.sub(r"\s", "", postal or "").upper()
    if who and postal:
        return f"name_postal_code:{who}|{postal}"
    return None


def test_customers_are_recognised_across_orders(batch):
    settings, _ = batch
    expected = {}
    # The platform hashes in SQL; here the same keyed hash in Python, from the raw fields.
    secret = pii_key(settings.data_dir)
    for key, *fields in _rows(
        settings,
        "SELECT order_key, email, phone, customer_name, ship_name, ship_postal_code "
        "FROM oms.orders",
    ):
        identity = _identity(*fields)
        expected[key] = keyed_hash(secret, identity) if identity else None
    keyed = dict(_rows(settings, "SELECT order_key, customer_key FROM analytics.fct_orders"))
    assert keyed == expected
    customers = {k for k in expected.values() if k}
    dim = _rows(settings, "SELECT customer_key, orders FROM analytics.dim_customers")
    assert {k for k, _ in dim} == customers
    # Repeat buyers exist in generated data, so there are fewer customers than orders.
    assert 0 < len(customers) < len(expected)
    assert sum(n for _, n in dim) == sum(1 for k in expected.values() if k)


def test_dates_cover_every_order_and_stock_day_without_gaps(batch):
    settings, _ = batch
    days = [d for (d,) in _rows(settings, "SELECT date_day FROM analytics.dim_dates ORDER BY 1")]
    assert days == [days[0] + dt.timedelta(n) for n in range(len(days))]
    needed = {
        d
        for (d,) in _rows(
            settings,
            "SELECT CAST(ordered_at AS DATE) FROM oms.orders UNION "
            'SELECT CAST("at" AS DATE) FROM oms.inventory_movements UNION '
            'SELECT CAST("at" AS DATE) FROM oms.order_events',
        )
    }
    assert needed <= set(days)
    weekdays = dict(_rows(settings, "SELECT date_day, is_weekday FROM analytics.dim_dates"))
    assert all(weekdays[d] == (d.isoweekday() < 6) for d in days)


def test_events_dimensions_and_snapshot(batch):
    settings, _ = batch
    (events,) = _rows(settings, "SELECT count(*) FROM oms.order_events")[0]
    (mart_events, unmatched) = _rows(
        settings,
        "SELECT count(*), count(*) FILTER (WHERE channel IS NULL) FROM analytics.fct_order_events",
    )[0]
    assert mart_events == events > 0
    assert unmatched == 0
    channels = {c for (c,) in _rows(settings, "SELECT channel FROM analytics.dim_channels")}
    assert {"shopify", "woocommerce", "amazon", "phone", "email", "exchange"} <= channels
    with (settings.reference_dir / "warehouses.csv").open(newline="") as f:
        warehouse_ids = {r["warehouse_id"] for r in csv.DictReader(f)}
    dim_warehouses = {
        w for (w,) in _rows(settings, "SELECT warehouse_id FROM analytics.dim_warehouses")
    }
    assert warehouse_ids <= dim_warehouses
    (catalogued,) = _rows(
        settings, "SELECT count(*) FROM analytics.dim_products WHERE is_in_catalogue"
    )[0]
    with (settings.reference_dir / "products.csv").open(newline="") as f:
        assert catalogued == sum(1 for _ in csv.DictReader(f))
    # The dashboards' snapshot carries the new marts.
    with duckdb.connect(str(settings.reporting_path), read_only=True) as snap:
        (lines,) = snap.execute("SELECT count(*) FROM analytics.fct_order_lines").fetchone()
        (order_lines,) = snap.execute("SELECT count(*) FROM oms.order_lines").fetchone()
    assert lines == order_lines
