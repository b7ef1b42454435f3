from __future__ import annotations

from decimal import Decimal

import duckdb
import polars as pl
import pytest

from pipelines.lib import schema
from pipelines.lib.warehouse import (
    connect,
    frame,
    migrate,
    publish_snapshot,
    scalar,
    schema_version,
)


def test_migrate_creates_every_table_once_and_is_a_no_op_the_second_time(tmp_path):
    path = tmp_path / "oms.duckdb"
    with connect(path) as con:
        first = migrate(con)
        second = migrate(con)
        tables = {
            f"{s}.{n}"
            for s, n in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
            ).fetchall()
        }
        versions = scalar(con, "SELECT count(*) FROM raw.schema_version")
    assert first == [f"created {t.qualified}" for t in schema.TABLES]
    assert second == []
    assert {t.qualified for t in schema.TABLES} <= tables
    assert versions == 1


def test_migration_adds_a_new_column_without_losing_rows(tmp_path):
    path = tmp_path / "oms.duckdb"
    older = schema.Table(
        "oms", "widgets", "test", (schema.Column("id", "VARCHAR", "id", False),), ("id",)
    )
    newer = schema.Table(
        "oms",
        "widgets",
        "test",
        (
            schema.Column("id", "VARCHAR", "id", False),
            schema.Column("price", schema.MONEY, "price"),
        ),
        ("id",),
    )
    with connect(path) as con:
        migrate(con, (older,))
        con.execute("INSERT INTO oms.widgets VALUES ('a'), ('b')")
    with connect(path) as con:
        changes = migrate(con, (newer,))
        rows = con.execute("SELECT id, price FROM oms.widgets ORDER BY id").fetchall()
        con.execute("INSERT INTO oms.widgets VALUES ('c', 1.5)")
        price = scalar(con, "SELECT price FROM oms.widgets WHERE id = 'c'")
        assert schema_version(con) == schema.SCHEMA_VERSION
    assert changes == ["added oms.widgets.price"]
    assert rows == [("a", None), ("b", None)]
    assert price == Decimal("1.50")


def test_polars_schema_and_duckdb_ddl_come_from_the_same_declaration(tmp_path):
    with connect(tmp_path / "oms.duckdb") as con:
        migrate(con)
        for table in schema.TABLES:
            empty = frame(con, f"SELECT * FROM {table.qualified} LIMIT 0")
            assert empty.columns == table.column_names
            assert empty.schema == table.polars_schema, table.qualified


def test_money_is_decimal_never_float():
    money = [c for t in schema.TABLES for c in t.columns if c.sql_type == schema.MONEY]
    assert {c.name for c in money} >= {"order_total", "unit_price", "line_total"}
    assert all(c.polars_type == pl.Decimal(18, 2) for c in money)
    floats = [c.name for t in schema.TABLES for c in t.columns if c.sql_type == "DOUBLE"]
    assert not [n for n in floats if "price" in n or "total" in n or "amount" in n]


def test_conform_types_fills_optional_columns_and_refuses_missing_required():
    df = pl.DataFrame({"order_key": ["a:1"], "line_no": [1], "quantity": ["3"], "extra": [1]})
    with pytest.raises(KeyError, match="requires_shipping"):
        schema.ORDER_LINES.conform(df)
    out = schema.ORDER_LINES.conform(
        df.with_columns(
            requires_shipping=pl.lit(True),
            source_file=pl.lit("f"),
            source_row=pl.lit(1),
            run_id=pl.lit("r"),
        )
    )
    assert out.columns == schema.ORDER_LINES.column_names
    assert out["quantity"].to_list() == [3]
    assert out["unit_price"].dtype == pl.Decimal(18, 2)


def test_snapshot_is_a_standalone_copy_replaced_atomically(tmp_path):
    live, snap = tmp_path / "oms.duckdb", tmp_path / "reporting.duckdb"
    with connect(live) as con:
        migrate(con)
        con.execute("CREATE TABLE analytics.t AS SELECT 1 AS x")
        con.execute("CREATE VIEW analytics.v AS SELECT x + 1 AS y FROM analytics.t")
        counts = publish_snapshot(con, snap)
    assert counts["analytics.t"] == 1 and counts["analytics.v"] == 1
    reader = duckdb.connect(str(snap), read_only=True)
    assert reader.execute("SELECT y FROM analytics.v").fetchone() == (2,)
    with connect(live) as con:
        con.execute("INSERT INTO analytics.t VALUES (5)")
        publish_snapshot(con, snap)
    # The open reader keeps its consistent copy; a new reader sees the new snapshot.
    assert reader.execute("SELECT count(*) FROM analytics.t").fetchone() == (1,)
    reader.close()
    with duckdb.connect(str(snap), read_only=True) as fresh:
        assert fresh.execute("SELECT count(*) FROM analytics.t").fetchone() == (2,)
    assert not list(tmp_path.glob(".*.tmp"))
