"""No customer's email, phone, name or street in the analytics marts or the reporting snapshot
of a played demo: every text column of every table is scanned for the demo's own values."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from pipelines.lib.warehouse import connect, ops_snapshot_path


def _personal_values(settings) -> list[str]:
    """The demo customers' emails, phones, full names and street lines, as stored."""
    with connect(settings.warehouse_path, read_only=True) as con:
        rows = con.execute(
            "SELECT email, phone, customer_name, ship_name, ship_address1 FROM oms.orders"
        ).fetchall()
    values = set()
    for email, phone, name, ship_name, street in rows:
        values |= {v.strip() for v in (email, phone, street) if v and len(v.strip()) >= 6}
        # Full names only: a single first name can be a word anywhere.
        values |= {n.strip() for n in (name, ship_name) if n and " " in n.strip()}
    return sorted(values)


def _leaks(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...], values: list[str]) -> dict:
    pattern = re.compile("|".join(re.escape(v) for v in values), re.IGNORECASE)
    found: dict[str, str] = {}
    columns = con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        f"WHERE data_type = 'VARCHAR' AND table_schema IN ({', '.join('?' for _ in schemas)})",
        list(schemas),
    ).fetchall()
    assert columns, "no text column to scan"
    for schema, table, column in columns:
        for (text,) in con.execute(
            f'SELECT DISTINCT "{column}" FROM {schema}."{table}" WHERE "{column}" IS NOT NULL'
        ).fetchall():
            if hit := pattern.search(text):
                found[f"{schema}.{table}.{column}"] = hit.group(0)
                break
    return found


def test_no_mart_and_no_snapshot_table_holds_a_customers_email_phone_name_or_street(
    demo_platform,
):
    values = _personal_values(demo_platform)
    assert sum("@" in v for v in values) > 100  # the scan looks for real data
    with connect(demo_platform.warehouse_path, read_only=True) as con:
        assert _leaks(con, ("analytics",), values) == {}
    with duckdb.connect(str(demo_platform.reporting_path), read_only=True) as snap:
        tables = snap.execute("SELECT count(*) FROM information_schema.tables").fetchall()[0][0]
        assert tables > 50
        assert _leaks(snap, ("oms", "analytics"), values) == {}
        # The customers are still there for analysts, as keyed hashes.
        (customers,) = snap.execute(
            "SELECT count(*) FROM analytics.dim_customers WHERE length(customer_key) = 32"
        ).fetchall()[0]
        assert customers > 100


def test_the_ops_snapshot_holds_only_the_orders_ops_works_on(demo_platform):
    with connect(demo_platform.warehouse_path, read_only=True) as con:
        wanted = {
            k
            for (k,) in con.execute(
                "SELECT order_key FROM oms.order_holds WHERE resolved_at IS NULL UNION "
                "SELECT order_key FROM oms.orders WHERE channel IN ('phone', 'email') "
                "AND status NOT IN ('shipped', 'delivered', 'cancelled', 'partially_returned', "
                "'returned')"
            ).fetchall()
        }
        (all_orders,) = con.execute("SELECT count(*) FROM oms.orders").fetchall()[0]
    path = Path(ops_snapshot_path(demo_platform.reporting_path))
    with duckdb.connect(str(path), read_only=True) as ops:
        held = {k for (k,) in ops.execute("SELECT order_key FROM oms.orders").fetchall()}
        with_email = ops.execute("SELECT count(email) FROM oms.orders").fetchall()[0][0]
    assert held == wanted
    assert 0 < len(held) < all_orders / 4
    assert with_email > 0  # full details, where ops needs them
