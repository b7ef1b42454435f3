"""``oms forget-customer`` on a copy of a played demo: the customer's personal data leaves the
warehouse, the archived exports, the outbox and both snapshots; the financial and stock facts
stay; a second run changes nothing; the audit trail has it; a later export of the same order
does not bring the data back, and a later order of the same person starts a new customer."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.lib import audit
from pipelines.lib.erasure import scrub_reexported
from pipelines.lib.intake import ingest_inbox
from pipelines.lib.privacy import (
    PERSONAL_ORDER_FIELDS,
    assign_privacy_keys,
    keyed_hash,
    pii_key,
)
from pipelines.lib.warehouse import connect, ops_snapshot_path
from pipelines.project import get_settings
from tests.conftest import use_platform

DONE = ("shipped", "delivered", "cancelled", "partially_returned", "returned")
PERSONAL = PERSONAL_ORDER_FIELDS
#: Tables whose rows are facts an erasure must keep exactly.
FACTS = {
    "oms.order_lines": "SELECT * FROM oms.order_lines WHERE list_contains($k, order_key)",
    "oms.allocations": "SELECT * FROM oms.allocations WHERE list_contains($k, order_key)",
    "oms.inventory_positions": "SELECT * FROM oms.inventory_positions",
    "oms.inventory_movements": "SELECT * FROM oms.inventory_movements",
    "oms.refunds": "SELECT refund_id, amount, merchandise, tax_share, shipping, units "
    "FROM oms.refunds WHERE list_contains($k, order_key)",
    "oms.parcels": "SELECT p.parcel_id, p.tracking_number, p.rate, p.weight_g, p.status "
    "FROM oms.parcels p JOIN oms.shipments s USING (shipment_id) "
    "WHERE list_contains($k, s.order_key)",
    "amounts": "SELECT order_key, subtotal, shipping_amount, tax_amount, discount_amount, "
    "order_total, currency, status, ship_country, ship_region FROM oms.orders "
    "WHERE list_contains($k, order_key)",
}


def _copy_platform(source: Path, target: Path) -> None:
    """Copy a played platform; the paths the warehouse stores follow it to the copy."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("dagster_home"))
    old, new = str(source), str(target)
    with connect(target / "data" / "warehouse" / "oms.duckdb") as con:
        columns = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema IN ('raw', 'oms', 'quality') "
            "AND table_name IN (SELECT table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE')"
        ).fetchall()
        for schema, table, column in columns:
            con.execute(
                f'UPDATE {schema}."{table}" SET "{column}" = replace("{column}", $old, $new) '
                f'WHERE starts_with("{column}", $old)',
                {"old": old, "new": new},
            )


@pytest.fixture
def platform(demo_root: Path, tmp_path: Path):
    root = tmp_path / "copy"
    _copy_platform(demo_root, root)
    with pytest.MonkeyPatch.context() as mp:
        yield use_platform(root, mp)
    get_settings.cache_clear()


def _customer(con) -> dict:
    """The demo customer with the most documents: all orders done, labelled parcels, mail."""
    (email,) = con.execute(
        f"""
        SELECT lower(trim(o.email)) AS email
        FROM oms.orders o
        LEFT JOIN oms.shipments s USING (order_key)
        LEFT JOIN oms.notifications n USING (order_key)
        LEFT JOIN oms.returns r USING (order_key)
        WHERE o.email LIKE '%@%'
        GROUP BY 1
        HAVING bool_and(o.status IN {DONE}) AND count(s.packing_slip_path) > 0
           AND count(n.file_path) > 0
        ORDER BY count(DISTINCT r.rma_number) DESC, count(DISTINCT o.order_key) DESC,
                 count(n.file_path) DESC, 1
        LIMIT 1
        """
    ).fetchall()[0]
    rows = con.execute(
        f"SELECT order_key, {', '.join(PERSONAL)}, ship_postal_code FROM oms.orders "
        "WHERE lower(trim(email)) = ? ORDER BY 1",
        [email],
    ).fetchall()
    phones = {r[3] for r in rows if r[3]}
    return {
        "email": email,
        "orders": [r[0] for r in rows],
        "phones": phones,
        "names": {r[1] for r in rows if r[1]} | {r[4] for r in rows if r[4]},
        "streets": {r[6] for r in rows if r[6]},
        "postal": {r[-1] for r in rows if r[-1]},
    }


def _phone_pattern(phones: set[str]) -> re.Pattern:
    """A phone in any of the layouts channels write it: +1 478 972 5851, (478) 972-5851 ..."""
    national = {re.sub(r"\D", "", p)[-10:] for p in phones}
    sep = r"[\s.\-()]*"
    return re.compile("|".join(sep.join(n[:3]) + sep + sep.join(n[3:]) for n in national))


def _file_text(path: Path) -> str:
    if path.suffix == ".pdf":
        return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    return path.read_bytes().decode("utf-8", "replace")


def _data_files(settings) -> list[Path]:
    skip = {settings.warehouse_path.parent, settings.data_dir / "audit"}
    return sorted(
        p
        for p in settings.data_dir.rglob("*")
        if p.is_file() and not any(s in p.parents for s in skip) and p.suffix != ".key"
    )


def _facts(con, orders: list[str]) -> dict[str, list]:
    return {
        name: sorted(con.execute(sql, {"k": orders} if "$k" in sql else {}).fetchall(), key=repr)
        for name, sql in FACTS.items()
    }


def _fingerprint(settings) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest() + str(p.stat().st_mtime_ns)
        for p in _data_files(settings)
    }


def _orders(con) -> dict[str, dict]:
    rows = con.sql("SELECT * FROM oms.orders").pl()
    return {r["order_key"]: r for r in rows.iter_rows(named=True)}


def _ingest(con, platform, run_id: str, now: datetime) -> None:
    ingest_inbox(
        con,
        platform.inbox,
        archive_dir=platform.archive,
        rejected_dir=platform.rejected,
        run_id=run_id,
        now=now,
    )


def _forget(*args: str):
    return CliRunner().invoke(app, ["forget-customer", *args, "--yes"])


def test_a_forgotten_customer_leaves_every_store_and_the_facts_stay(platform):
    with connect(platform.warehouse_path) as con:
        who = _customer(con)
        facts = _facts(con, who["orders"])
        archived = [
            Path(p)
            for (p,) in con.execute(
                "SELECT stored_path FROM raw.files WHERE status = 'processed'"
            ).fetchall()
        ]
    phone = _phone_pattern(who["phones"])
    holding = [p for p in archived if who["email"] in _file_text(p).lower()]
    assert holding, "the customer's export should be in the archive"
    original_export = platform.data_dir.parent / "kept" / holding[0].name
    original_export.parent.mkdir()
    shutil.copy(holding[0], original_export)

    result = _forget("--email", who["email"].upper())
    assert result.exit_code == 0, result.output
    erasure_id = re.search(r"ER-\d{8}T\d{6}-[0-9a-f]{8}", result.output).group(0)
    assert f"{len(who['orders'])} order(s), {len(who['orders'])} erased now" in result.output

    with connect(platform.warehouse_path, read_only=True) as con:
        rows = con.execute(
            f"SELECT {', '.join(PERSONAL)}, ship_postal_code, identified_by, customer_key, "
            "erased_at FROM oms.orders WHERE list_contains($k, order_key)",
            {"k": who["orders"]},
        ).fetchall()
        assert len(rows) == len(who["orders"])
        for row in rows:
            assert row[: len(PERSONAL)] == (None,) * len(PERSONAL)
            assert len(row[len(PERSONAL)]) <= 3  # the postal prefix
            assert row[len(PERSONAL) + 1 :][:2] == ("erased", None) and row[-1] is not None
        # Amounts, lines, allocations, stock, parcels and refunds exactly as before.
        assert _facts(con, who["orders"]) == facts
        # No table anywhere holds the email or the phone any more.
        for schema, table, column in con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR'"
        ).fetchall():
            for (text,) in con.execute(
                f'SELECT DISTINCT "{column}" FROM {schema}."{table}" WHERE "{column}" IS NOT NULL'
            ).fetchall():
                assert who["email"] not in text.lower(), (schema, table, column)
                assert not phone.search(text), (schema, table, column, text)
        # The customer's own free text names them no more.
        texts = con.execute(
            "SELECT detail FROM oms.order_events WHERE list_contains($k, order_key) "
            "UNION ALL SELECT note FROM oms.returns WHERE list_contains($k, order_key)",
            {"k": who["orders"]},
        ).fetchall()
        for (text,) in texts:
            for value in who["names"] | who["streets"]:
                assert value.lower() not in (text or "").lower()
        files = con.execute(
            "SELECT action, count(*) FROM oms.erasure_files WHERE erasure_id = ? GROUP BY 1",
            [erasure_id],
        ).fetchall()
        assert dict(files).get("rewritten", 0) > 0 and dict(files).get("removed", 0) > 0

    # No file under data/ (archive, rejected, outbox: text and PDF) holds them.
    for path in _data_files(platform):
        text = _file_text(path)
        assert who["email"] not in text.lower(), path
        assert not phone.search(text), path
    # Neither snapshot does.
    for snapshot in (platform.reporting_path, ops_snapshot_path(platform.reporting_path)):
        with duckdb.connect(str(snapshot), read_only=True) as snap:
            for schema, table, column in snap.execute(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                "WHERE data_type = 'VARCHAR'"
            ).fetchall():
                (hits,) = snap.execute(
                    f'SELECT count(*) FROM {schema}."{table}" WHERE contains(lower("{column}"), ?)',
                    [who["email"]],
                ).fetchall()[0]
                assert hits == 0, (snapshot, table, column)
    # The audit trail has the request, by its id, never by the address.
    last = audit.read(platform.data_dir)[-1]
    assert (last["action"], last["target"], last["app"]) == ("forget_customer", erasure_id, "cli")
    assert who["email"] not in (platform.data_dir / "audit" / "audit.jsonl").read_text().lower()
    assert audit.verify(platform.data_dir) == []

    # Again: nothing changes, and it says so.
    before = _fingerprint(platform)
    with connect(platform.warehouse_path, read_only=True) as con:
        tables_before = (
            _facts(con, who["orders"]),
            con.execute("SELECT * FROM oms.orders ORDER BY order_key").fetchall(),
        )
    again = _forget("--email", who["email"])
    assert again.exit_code == 0, again.output
    assert f"{erasure_id}: already erased" in again.output
    assert _fingerprint(platform) == before
    with connect(platform.warehouse_path, read_only=True) as con:
        tables_after = (
            _facts(con, who["orders"]),
            con.execute("SELECT * FROM oms.orders ORDER BY order_key").fetchall(),
        )
    assert tables_after == tables_before
    assert [r["action"] for r in audit.read(platform.data_dir)[-2:]] == ["forget_customer"] * 2

    # The channel exports the order again, with the customer's data: it is not stored.
    inbox_copy = platform.inbox / f"again_{original_export.name}"
    inbox_copy.write_bytes(original_export.read_bytes() + b"\n")
    now = datetime.now(UTC)
    with connect(platform.warehouse_path) as con:
        _ingest(con, platform, "re-export", now)
        again_rows = con.execute(
            f"SELECT {', '.join(PERSONAL)} FROM oms.orders WHERE list_contains($k, order_key)",
            {"k": who["orders"]},
        ).fetchall()
        assert all(r == (None,) * len(PERSONAL) for r in again_rows)
        ignored = con.execute(
            "SELECT count(*) FROM oms.order_events WHERE event = 'personal_data_ignored' "
            "AND list_contains($k, order_key)",
            {"k": who["orders"]},
        ).fetchall()[0][0]
        assert ignored >= 1
        # ... and the archived copy of that export is rewritten as at the erasure.
        rewritten = scrub_reexported(con, data_dir=platform.data_dir, run_id="re-export", now=now)
        assert [a.action for a in rewritten] == ["rewritten"]
        archived_again = Path(rewritten[0].path)
        assert archived_again.name.startswith("again_")
        assert who["email"] not in _file_text(archived_again).lower()
        assert not phone.search(_file_text(archived_again))

        # A new order of the same person: a new customer, and an event says why.
        key = pii_key(platform.data_dir)
        order = {
            "channel": "phone",
            "order_id": "ERASED-RETURNS",
            "ordered_at": "2026-11-27T10:00:00Z",
            "customer_name": "Returning Customer",
            "email": who["email"],
            "ship_address1": "1 New Street",
            "ship_city": "Boston",
            "ship_region": "MA",
            "ship_postal_code": "02108",
            "ship_country": "US",
            "currency": "USD",
            "payment_status": "paid",
            "lines": [{"sku": "SKU-00001", "quantity": 1, "unit_price": "10.00"}],
        }
        (platform.inbox / "direct_return.json").write_text(json.dumps(order))
        _ingest(con, platform, "new-order", now)
        assign_privacy_keys(con, key)
        new_key, events = con.execute(
            "SELECT o.customer_key, list(e.event) FROM oms.orders o "
            "JOIN oms.order_events e USING (order_key) "
            "WHERE o.order_key = 'phone:ERASED-RETURNS' GROUP BY 1"
        ).fetchall()[0]
        assert new_key is not None
        assert new_key != keyed_hash(key, f"email:{who['email']}")
        assert "customer_previously_erased" in events
        (linked,) = con.execute(
            "SELECT count(*) FROM oms.orders WHERE customer_key = ?", [new_key]
        ).fetchall()[0]
        assert linked == 1
        con.execute(
            "UPDATE oms.orders SET status = 'delivered' WHERE order_key = 'phone:ERASED-RETURNS'"
        )

    # Forgotten again, this time by that order's key: the next order is yet another customer.
    assert _forget("--order", "phone:ERASED-RETURNS").exit_code == 0
    with connect(platform.warehouse_path) as con:
        order["order_id"] = "ERASED-TWICE"
        (platform.inbox / "direct_twice.json").write_text(json.dumps(order))
        _ingest(con, platform, "third-order", now)
        assign_privacy_keys(con, key)
        (third_key,) = con.execute(
            "SELECT customer_key FROM oms.orders WHERE order_key = 'phone:ERASED-TWICE'"
        ).fetchall()[0]
        assert third_key not in (None, new_key, keyed_hash(key, f"email:{who['email']}"))


def test_an_open_order_is_refused_and_nothing_changes(platform):
    with connect(platform.warehouse_path) as con:
        assign_privacy_keys(con, pii_key(platform.data_dir))  # as the last publish left them
        (order_key,) = con.execute(
            f"SELECT order_key FROM oms.orders WHERE status NOT IN {DONE} AND email LIKE '%@%' "
            "ORDER BY 1 LIMIT 1"
        ).fetchall()[0]
        before = _orders(con)
    files = _fingerprint(platform)
    result = _forget("--order", order_key)
    assert result.exit_code == 1
    assert "still open" in result.output and order_key in result.output
    with connect(platform.warehouse_path, read_only=True) as con:
        after = _orders(con)
        changed = {(k, c) for k in before for c in before[k] if before[k][c] != after[k][c]}
        assert changed == set()
        assert con.execute("SELECT count(*) FROM oms.erasures").fetchall()[0][0] == 0
    assert _fingerprint(platform) == files


def test_an_unknown_customer_is_nothing_to_erase(platform):
    result = _forget("--email", "nobody@nowhere.example")
    assert result.exit_code == 0
    assert "nothing to erase" in result.output
    assert audit.read(platform.data_dir)[-1]["action"] == "forget_customer"
