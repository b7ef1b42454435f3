"""Customer data kept to need: keyed hashes, postal prefixes, and what the two snapshots hold.

Real warehouse files; the keyed hash computed in DuckDB is checked against Python's hmac."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from datetime import timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.lib.privacy import (
    ERASED,
    KEY_ENV,
    MissingKey,
    assign_privacy_keys,
    keyed_hash,
    pii_key,
    scrub_sql,
)
from pipelines.lib.schema import (
    HOLD_DECISIONS,
    ORDER_EVENTS,
    ORDER_HOLDS,
    ORDERS,
    PARCELS,
    RETURNS,
    SHIPMENTS,
    Table,
)
from pipelines.lib.warehouse import connect, migrate, ops_snapshot_path, publish_snapshot
from tests.orders import T0, good_order

KEY = secrets.token_bytes(24)


def _insert(con: duckdb.DuckDBPyConnection, table: Table, rows: list[dict]) -> None:
    con.register("rows_in", table.conform(pl.DataFrame(rows)).to_arrow())
    con.execute(f"INSERT INTO {table.qualified} BY NAME SELECT * FROM rows_in")
    con.unregister("rows_in")


def _hmac(value: str) -> str:
    return hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()[:32]


@pytest.fixture
def con(tmp_path: Path):
    with connect(tmp_path / "oms.duckdb") as con:
        migrate(con)
        yield con


def _keys(con) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT order_key, identified_by, customer_key, ship_postal_prefix FROM oms.orders"
        ).fetchall()
    }


def test_customers_are_recognised_by_email_then_phone_then_name_and_postal_code(con):
    people = dict(customer_name=None, ship_name=None, email=None, phone=None)
    ada = {"customer_name": "  Ada   Lovelace "}
    _insert(
        con,
        ORDERS,
        [
            good_order(
                "shopify:1",
                **{**people, "email": " Ada@Example.com ", "phone": "+1 555-123-4567"},
                ship_postal_code="10001",
            ),
            good_order(
                "amazon:2", **{**people, "phone": "(555) 123-4567"}, ship_postal_code="10001"
            ),
            good_order(
                "phone:3",
                **{**people, **ada, "email": "not an address", "phone": ""},
                ship_postal_code="sw1a 1aa",
                ship_country="GB",
            ),
            good_order(
                "email:4",
                **{**people, "ship_name": "ada lovelace"},
                ship_postal_code="SW1A1AA",
                ship_country="GB",
            ),
            good_order("amazon:5", **{**people, "phone": "12"}, ship_postal_code="10001"),
        ],
    )
    assert assign_privacy_keys(con, KEY) == 5
    keys = _keys(con)
    # Computed in SQL, equal to the HMAC of the normalised identity in Python.
    assert keys["shopify:1"] == ("email", _hmac("email:ada@example.com"), "100")
    assert keys["amazon:2"] == ("phone", _hmac("phone:5551234567"), "100")
    assert keys["phone:3"] == (
        "name_postal_code",
        _hmac("name_postal_code:ada lovelace|SW1A1AA"),
        "SW1A",
    )
    assert keys["email:4"][1] == keys["phone:3"][1]  # the same person, by name and postal code
    assert keys["amazon:5"] == (None, None, "100")
    assert keyed_hash(KEY, "email:ada@example.com") == keys["shopify:1"][1]
    # Nothing new or changed: nothing keyed again.
    assert assign_privacy_keys(con, KEY) == 0


def test_a_changed_order_is_keyed_again_and_another_key_gives_other_hashes(con):
    _insert(con, ORDERS, [good_order("shopify:1")])
    assign_privacy_keys(con, KEY)
    before = _keys(con)["shopify:1"]
    con.execute(
        "UPDATE oms.orders SET email = 'new@example.com', updated_at = updated_at + INTERVAL 1 HOUR"
    )
    assert assign_privacy_keys(con, KEY) == 1
    after = _keys(con)["shopify:1"]
    assert after[1] == _hmac("email:new@example.com") != before[1]
    other = secrets.token_bytes(24)
    con.execute("UPDATE oms.orders SET updated_at = updated_at + INTERVAL 1 HOUR")
    assign_privacy_keys(con, other)
    assert _keys(con)["shopify:1"][1] == keyed_hash(other, "email:new@example.com") != after[1]


@pytest.mark.parametrize(
    "code, country, prefix",
    [
        ("94103-1234", "US", "941"),
        ("K1A 0B1", "CA", "K1A"),
        ("SW1A 1AA", "GB", "SW1A"),
        ("M1 1AE", "GB", "M1"),
        ("75008", "FR", "750"),
        ("", "US", None),
    ],
)
def test_the_postal_prefix_is_a_region_never_the_whole_code(con, code, country, prefix):
    _insert(con, ORDERS, [good_order("shopify:1", ship_postal_code=code, ship_country=country)])
    assign_privacy_keys(con, KEY)
    assert _keys(con)["shopify:1"][2] == prefix


def test_the_key_comes_from_the_environment_or_a_private_local_file(tmp_path):
    given = "k" * 8 + secrets.token_urlsafe(12)
    assert pii_key(tmp_path, {KEY_ENV: given}) == given.encode()
    with pytest.raises(MissingKey, match="too short"):
        pii_key(tmp_path, {KEY_ENV: "short"})
    with pytest.raises(MissingKey, match="production"):
        pii_key(tmp_path, {"OMS_ENV": "prod"})
    assert not (tmp_path / "secrets").exists()
    made = pii_key(tmp_path, {})
    path = tmp_path / "secrets" / "pii.key"
    assert len(made) >= 32 and path.read_bytes().strip() == made
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert pii_key(tmp_path, {}) == made  # made once, then kept


def _held_order_with_personal_text(con) -> None:
    """An order held for its email, corrected by ops, with notes quoting the customer."""
    _insert(
        con,
        ORDERS,
        [
            good_order(
                "shopify:1",
                status="on_hold",
                email="ana.ruiz@example",
                phone="+1 415 555 0134",
                ship_address1="12 Old Road",
                notes="call Ana on 415 555 0134",
            ),
            good_order("shopify:2", status="delivered", email="bo@example.com"),
        ],
    )
    _insert(
        con,
        ORDER_HOLDS,
        [
            {
                "hold_id": "h1",
                "order_key": "shopify:1",
                "rule": "email_syntax",
                "reason": "INCORRECT_ADDRESS",
                "severity": "hold",
                "detail": 'email "ana.ruiz@example" is not valid',
                "opened_at": T0,
                "opened_run_id": "r1",
                # Quotes a value ops corrected away: no longer on the order.
                "resolution_note": "the parcel to 12 Old Road came back",
            }
        ],
    )
    _insert(
        con,
        SHIPMENTS,
        [
            {
                "shipment_id": "S-2",
                "wave_id": "W-1",
                "order_key": "shopify:2",
                "warehouse_id": "WH-CA",
                "tote": "T01",
                "status": "delivered",
                "lines": 1,
                "units": 1,
                "parcels": 1,
                "weight_g": 500,
                "released_at": T0,
                "run_id": "r1",
            }
        ],
    )
    _insert(
        con,
        PARCELS,
        [
            {
                "parcel_id": "S-2-1",
                "shipment_id": "S-2",
                "parcel_no": 1,
                "ship_alone": False,
                "units": 1,
                "items_weight_g": 400,
                "weight_g": 500,
                "length_mm": 200,
                "width_mm": 150,
                "height_mm": 100,
                "contents": "SKU-00001 x1",
                "status": "delivered",
                "tracking_number": "1Z999",
                "status_detail": "Delivered, San Francisco, CA 94103, US",
                "run_id": "r1",
            }
        ],
    )
    _insert(
        con,
        HOLD_DECISIONS,
        [
            {
                "decision_id": "d1",
                "order_key": "shopify:1",
                "action": "correct",
                "field": "ship_address1",
                "value": "12 New Road",
                "previous_value": "12 Old Road",
                "note": "customer rang from +1 415 555 0134, ana.ruiz@example.org",
                "decided_by": "jane",
                "decided_at": T0,
                "status": "applied",
                "outcome": "ship_address1 corrected",
                "applied_at": T0,
                "source_file": "decisions.csv",
                "source_row": 1,
                "run_id": "r2",
            }
        ],
    )
    _insert(
        con,
        HOLD_DECISIONS,
        [
            {
                "decision_id": "d2",
                "order_key": "shopify:2",
                "action": "correct",
                "field": "email",
                "value": "bo@example.com",
                "previous_value": "bo@example",
                "decided_by": "jane",
                "decided_at": T0 - timedelta(days=3),
                "status": "applied",
                "outcome": "email corrected",
                "applied_at": T0 - timedelta(days=3),
                "source_file": "decisions.csv",
                "source_row": 2,
                "run_id": "r0",
            }
        ],
    )
    _insert(
        con,
        ORDER_EVENTS,
        [
            {
                "event_id": "e1",
                "order_key": "shopify:1",
                "event": "corrected",
                "at": T0,
                "detail": 'ship_address1 corrected from "12 Old Road" to "12 New Road" by jane',
                "run_id": "r2",
            },
            {
                "event_id": "e2",
                "order_key": "shopify:1",
                "event": "on_hold",
                "at": T0 - timedelta(hours=1),
                "detail": 'on hold: INCORRECT_ADDRESS: email "ana.ruiz@example" is not valid',
                "run_id": "r1",
            },
        ],
    )
    _insert(
        con,
        RETURNS,
        [
            {
                "return_line_id": "R1-1",
                "return_id": "R1",
                "order_key": "shopify:2",
                "line_no": 1,
                "sku": "SKU-00001",
                "quantity": 1,
                "reason": "DEFECTIVE",
                "resolution": "refund",
                "requested_at": T0,
                "note": "broken; reach me at bo@example.com or 212-555-0199",
                "status": "requested",
                "updated_at": T0,
                "source_file": "returns.csv",
                "source_row": 1,
                "run_id": "r3",
            }
        ],
    )


def _texts(path: Path) -> str:
    """Every text value of every table in a published file, one per line."""
    out = []
    with duckdb.connect(str(path), read_only=True) as snap:
        for schema, table, column in snap.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR'"
        ).fetchall():
            out += [
                str(v)
                for (v,) in snap.execute(f'SELECT "{column}" FROM {schema}."{table}"').fetchall()
                if v is not None
            ]
    return "\n".join(out)


def test_the_reporting_snapshot_holds_no_personal_data_and_the_ops_one_only_held_orders(
    con, tmp_path
):
    _held_order_with_personal_text(con)
    # Views and marts copy the same text (as dbt's staging views and marts do).
    con.execute("CREATE VIEW analytics.stg_holds AS SELECT * FROM oms.order_holds")
    con.execute("CREATE VIEW analytics.stg_returns AS SELECT * FROM oms.returns")
    con.execute(
        "CREATE TABLE analytics.fct_parcels AS SELECT p.parcel_id, p.status_detail "
        "FROM oms.parcels p"
    )
    target = tmp_path / "reporting.duckdb"
    publish_snapshot(con, target, key=KEY)
    texts = _texts(target)
    for value in (
        "ana.ruiz@example",
        "bo@example.com",
        "415 555 0134",
        "212-555-0199",
        "12 Old Road",
        "12 New Road",
        "Ana Ruiz",
        "1 Market St",
        "San Francisco",
        "94103",
    ):
        assert value not in texts, value
    assert "the parcel to [erased] came back" in texts
    assert "Delivered, [erased], CA [erased], US" in texts
    with duckdb.connect(str(target), read_only=True) as snap:
        orders = snap.execute(
            "SELECT order_key, customer_key, ship_postal_prefix, ship_region FROM oms.orders "
            "ORDER BY 1"
        ).fetchall()
        columns = {
            c for (c,) in snap.execute("SELECT column_name FROM (DESCRIBE oms.orders)").fetchall()
        }
        held = snap.execute("SELECT detail FROM oms.order_holds").fetchall()
        corrected = snap.execute(
            "SELECT detail FROM oms.order_events WHERE event = 'corrected'"
        ).fetchall()
        note = snap.execute("SELECT note FROM oms.returns").fetchall()
    assert orders[1] == ("shopify:2", _hmac("email:bo@example.com"), "941", "CA")
    assert not {"email", "phone", "customer_name", "ship_address1", "ship_city"} & columns
    # What analysts may still read: the rule's words, with the value scrubbed.
    assert held == [(f'email "{ERASED}" is not valid',)]
    assert corrected == [("ship_address1 corrected (personal data: values not shown)",)]
    assert note == [(f"broken; reach me at {ERASED} or {ERASED}",)]

    # The ops snapshot: the held order in full, nobody else.
    with duckdb.connect(str(ops_snapshot_path(target)), read_only=True) as ops:
        assert ops.execute("SELECT order_key, email FROM oms.orders").fetchall() == [
            ("shopify:1", "ana.ruiz@example")
        ]
        assert ops.execute("SELECT detail FROM oms.order_holds").fetchall() == [
            ('email "ana.ruiz@example" is not valid',)
        ]
        # Every recent decision, but a personal value only of an order still worked on.
        assert ops.execute(
            "SELECT decision_id, value FROM oms.hold_decisions ORDER BY 1"
        ).fetchall() == [("d1", "12 New Road"), ("d2", None)]


def test_the_snapshot_and_the_erasure_scrub_text_alike(con):
    """Longest value first (a surname never left behind), whatever the case, and the same
    words in SQL (the snapshot) as in Python (the erasure)."""
    from pipelines.lib.erasure import _scrub_text
    from pipelines.lib.privacy import _snapshot_setup

    _insert(
        con,
        ORDERS,
        [good_order("shopify:1", customer_name="Ann", ship_name="Ann Whitfield", phone=None)],
    )
    con.execute(
        "CREATE TEMP TABLE texts AS SELECT * FROM (VALUES "
        "('please deliver to Ann Whitfield, not Ann Whitfield-Jones'), "
        "('DELIVERED, SAN FRANCISCO, CA 94103, US'), "
        "('call (415) 555-0134 or +44 20 7946 0958 after 2026-11-19'), "
        "('shipment W-CA-20261119-001-T01 and RMA-2026-000123')) t(text)"
    )
    for statement in _snapshot_setup():
        con.execute(statement)
    sql = scrub_sql("text", "p", phones=True)
    rows = con.execute(
        f"SELECT text, {sql} FROM texts, snapshot_people p WHERE p.order_key = 'shopify:1'"
    ).fetchall()
    values = ["Ann Whitfield", "San Francisco", "1 Market St", "94103", "Ann"]
    scrubbed = {text: out for text, out in rows}
    for text, out in scrubbed.items():
        assert out == _scrub_text(text, values, phones=True), text
    assert scrubbed["please deliver to Ann Whitfield, not Ann Whitfield-Jones"] == (
        f"please deliver to {ERASED}, not {ERASED}-Jones"
    )
    assert scrubbed["DELIVERED, SAN FRANCISCO, CA 94103, US"] == (
        f"DELIVERED, {ERASED}, CA {ERASED}, US"
    )
    assert scrubbed["call (415) 555-0134 or +44 20 7946 0958 after 2026-11-19"] == (
        f"call {ERASED} or {ERASED} after 2026-11-19"
    )
    # Ids and dates are nobody's phone.
    text = "shipment W-CA-20261119-001-T01 and RMA-2026-000123"
    assert scrubbed[text] == text
