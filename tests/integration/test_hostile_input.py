"""Hostile text in orders and file names: stored as text, shown as text, never run.

SQL: orders whose number, names, address, notes, SKU, product name and email are SQL
fragments (``O'Brien'); DROP TABLE oms.orders; --``) go through the real intake, validation
and an ops decision on a temporary warehouse: the values are stored verbatim, nothing else
changes, and the customer lookup finds the order by such an email.

HTML: orders whose names are ``<script>`` and ``<img onerror>`` make a customer email whose
HTML part escapes them, and a tracking page that shows them as text; a hostile upload's file
name is shown as text on the Upload page.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import re
import secrets
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.lib.intake import ingest_inbox
from pipelines.lib.notifications import run_notifications_stage
from pipelines.lib.ops_files import DIRECT_COLUMNS, Decision, write_decisions
from pipelines.lib.order_lookup import find_order
from pipelines.lib.privacy import assign_privacy_keys
from pipelines.lib.quality.validate import run_validation_stage
from pipelines.lib.warehouse import connect, frame, migrate, publish_snapshot
from pipelines.project import DASHBOARDS_DIR, Settings
from tests.conftest import free_port
from tests.integration.dashboard_app import shown

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

SQL_DROP = "O'Brien'); DROP TABLE oms.orders; --"
SQL_DELETE = '"; DELETE FROM oms.order_lines; --'
#: Fullwidth quote and semicolon, a right-to-left override, a combining accent, an emoji.
ODD_UNICODE = "Zoë Ø\uff07Neill\uff1b \u202eDROP\u202c Jose\u0301 🧨 ᚠ"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def direct_order(order_id: str, **fields: str) -> dict:
    """A direct (phone) order that passes validation unless ``fields`` say otherwise."""
    order = {
        "order_id": order_id,
        "channel": "phone",
        "ordered_at": "2026-11-20T09:30:00-05:00",
        "customer_name": "Ana Ruiz",
        "email": "ana@example.com",
        "phone": "+1 973 555 0100",
        "ship_name": "Ana Ruiz",
        "ship_address1": "12 Main St",
        "ship_city": "Newark",
        "ship_region": "NJ",
        "ship_postal_code": "07102",
        "ship_country": "US",
        "currency": "USD",
        "service_level": "standard",
        "payment_method": "card",
        "payment_status": "paid",
        "shipping_amount": "5.00",
        "tax_amount": "0.00",
        "line_no": "1",
        "sku": "SKU-00001",
        "product_name": "Enamel Kettle",
        "quantity": "2",
        "unit_price": "10.00",
    }
    order.update(fields)
    return order


def direct_csv(rows: list[dict]) -> str:
    """A direct-order CSV (docs/direct-orders.md), one row per order line."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(DIRECT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in DIRECT_COLUMNS})
    return out.getvalue()


#: The hostile orders: every free-text field an SQL fragment or odd unicode.
HOSTILE = [
    direct_order(
        SQL_DROP,
        customer_name=SQL_DROP,
        email="o'brien'); drop table oms.orders; --@example.com",
        phone="+1 973 555 0101'; --",
        ship_name=SQL_DELETE,
        ship_company=ODD_UNICODE,
        ship_address1="1 O'Brien'); DROP TABLE oms.orders; -- St",
        ship_address2=SQL_DELETE,
        notes=f"{SQL_DELETE}\n{SQL_DROP}",
        sku="SKU-1'); DELETE FROM oms.order_lines; --",
        product_name=SQL_DELETE,
    ),
    direct_order(
        SQL_DELETE,
        customer_name=ODD_UNICODE,
        email='"; delete from oms.order_lines; --"@example.com',
        ship_name=ODD_UNICODE,
        ship_address1=ODD_UNICODE,
        notes=ODD_UNICODE,
        product_name=ODD_UNICODE,
    ),
]
#: Stored as given (the adapter only trims order ids and SKUs; there is nothing to trim).
STORED_ORDER_FIELDS = (
    "customer_name",
    "email",
    "phone",
    "ship_name",
    "ship_company",
    "ship_address1",
    "ship_address2",
    "notes",
)


class Warehouse:
    """The test platform's warehouse (``oms_env``: a temporary one) with its folders."""

    def __init__(self, settings: Settings):
        self.reference_dir = settings.reference_dir
        self.inbox, self.archive = settings.inbox, settings.archive
        self.rejected, self.outbox = settings.rejected, settings.outbox
        self.path = settings.warehouse_path
        self.runs = 0
        with connect(self.path) as con:
            migrate(con)

    def drop(self, name: str, rows: list[dict]) -> None:
        (self.inbox / name).write_text(direct_csv(rows), encoding="utf-8")

    def batch(self) -> None:
        """Intake, then decisions and validation, as the batch runs them."""
        self.runs += 1
        now = NOW + timedelta(minutes=self.runs)
        with connect(self.path) as con:
            kwargs = {"archive_dir": self.archive, "rejected_dir": self.rejected}
            result = ingest_inbox(con, self.inbox, **kwargs, run_id=f"run{self.runs}", now=now)
            assert not [f for f in result.files if f.status == "rejected"], result.files
            run_validation_stage(
                con,
                inbox=self.inbox,
                **kwargs,
                reference_dir=self.reference_dir,
                run_id=f"run{self.runs}",
                now=now,
            )

    def tables(self) -> dict[str, pl.DataFrame]:
        """Every table of the warehouse, whole, in a stable order."""
        with connect(self.path, read_only=True) as con:
            names = [
                f"{schema}.{table}"
                for schema, table in con.execute(
                    "SELECT schema_name, table_name FROM duckdb_tables() "
                    "ORDER BY schema_name, table_name"
                ).fetchall()
            ]
            return {name: frame(con, f"SELECT * FROM {name}") for name in names}


def _about(table: pl.DataFrame, keys: set[str]) -> pl.DataFrame:
    """The table's rows about these orders (all of them when it has no order_key)."""
    if "order_key" not in table.columns:
        return table
    return table.filter(pl.col("order_key").is_in(sorted(keys)))


def _sorted(table: pl.DataFrame) -> pl.DataFrame:
    return table.sort(pl.all().cast(pl.String), nulls_last=True)


@pytest.fixture
def warehouse(oms_env) -> Warehouse:
    return Warehouse(oms_env)


def test_sql_fragments_are_stored_verbatim_and_change_nothing_else(warehouse):
    benign = [direct_order(f"P-{n}", email=f"p{n}@example.com") for n in (1, 2, 3)]
    warehouse.drop("phone_orders.csv", benign)
    warehouse.batch()
    before = warehouse.tables()
    benign_keys = set(before["oms.orders"]["order_key"])
    assert len(benign_keys) == 3

    warehouse.drop("hostile_orders.csv", HOSTILE)
    warehouse.batch()
    after = warehouse.tables()

    # No table went missing, and what the batch keeps about the other orders is unchanged.
    assert set(after) == set(before)
    for name, table in before.items():
        if "order_key" in table.columns:
            assert _sorted(_about(after[name], benign_keys)).equals(_sorted(table)), name
        else:  # every row is still there, as it was
            kept = after[name].join(table, on=table.columns, how="semi", nulls_equal=True)
            assert _sorted(kept).equals(_sorted(table)), name
    grown = {name for name in before if after[name].height != before[name].height}
    # New rows only about the new orders, the new file and this run's validation results.
    assert grown == {
        "oms.orders",
        "oms.order_lines",
        "oms.order_events",
        "oms.order_holds",
        "raw.files",
        "quality.expectation_results",
    }
    assert after["raw.files"].height == before["raw.files"].height + 1
    # The hostile orders arrived whole: 3 + 2 orders, 3 + 2 lines.
    orders = after["oms.orders"]
    assert orders.height == 5
    assert after["oms.order_lines"].height == 5
    hostile = orders.filter(~pl.col("order_key").is_in(sorted(benign_keys)))
    by_number = {row["order_number"]: row for row in hostile.iter_rows(named=True)}
    assert set(by_number) == {SQL_DROP, SQL_DELETE}
    for given in HOSTILE:
        stored = by_number[given["order_id"]]
        assert stored["external_order_id"] == given["order_id"]
        for field in STORED_ORDER_FIELDS:
            assert stored[field] == (given.get(field) or None), field
        line = after["oms.order_lines"].filter(pl.col("order_key") == stored["order_key"])
        assert line.select("sku", "product_name").row(0) == (given["sku"], given["product_name"])

    # The customer lookup finds each by its number and such an email, and only that one.
    key = secrets.token_bytes(24)
    with connect(warehouse.path) as con:
        assign_privacy_keys(con, key)
        for given in HOSTILE:
            found = find_order(con, f"  #{given['order_id']} ", given["email"].upper(), key)
            assert found is not None and found.number == given["order_id"]
            assert [line.name for line in found.lines] == [given["product_name"]]
        assert find_order(con, SQL_DROP, HOSTILE[1]["email"], key) is None
        assert find_order(con, "P-1", "' OR '1'='1", key) is None


def test_an_ops_decision_full_of_sql_is_applied_as_text(warehouse):
    benign = [direct_order(f"P-{n}", email=f"p{n}@example.com") for n in (1, 2)]
    warehouse.drop("phone_orders.csv", [*benign, HOSTILE[0]])
    warehouse.batch()
    before = warehouse.tables()
    orders = before["oms.orders"]
    key = orders.filter(pl.col("order_number") == SQL_DROP)["order_key"].item()
    held = before["oms.order_holds"].filter(pl.col("order_key") == key)
    assert "UNKNOWN_SKU" in set(held["reason"]), held  # its SKU is not in the catalogue

    street = "2 O'Brien'); DELETE FROM oms.hold_decisions; -- Rd"
    write_decisions(
        warehouse.inbox,
        [
            Decision(key, "correct", field="sku", line_no=1, value="SKU-00001"),
            Decision(key, "correct", field="ship_address1", value=street),
        ],
        decided_by="Dana O'Brien'); DROP TABLE oms.hold_decisions; --",
        note=f"{SQL_DELETE} {ODD_UNICODE}",
        now=NOW + timedelta(minutes=1, seconds=30),
    )
    warehouse.batch()
    after = warehouse.tables()

    decisions = after["oms.hold_decisions"]
    assert decisions.height == 2
    assert set(decisions["status"]) == {"applied"}, decisions.select("status", "outcome")
    assert set(decisions["decided_by"]) == {"Dana O'Brien'); DROP TABLE oms.hold_decisions; --"}
    assert set(decisions["note"]) == {f"{SQL_DELETE} {ODD_UNICODE}"}
    assert after["oms.orders"].filter(pl.col("order_key") == key)["ship_address1"].item() == street
    lines = after["oms.order_lines"].filter(pl.col("order_key") == key)
    assert lines["sku"].to_list() == ["SKU-00001"]
    # The other orders, and every table's rows about them, are as they were.
    others = set(orders["order_key"]) - {key}
    for name, table in before.items():
        if "order_key" in table.columns:
            kept = _about(after[name], others)
            assert _sorted(kept).equals(_sorted(_about(table, others))), name
    assert set(after) == set(before)


# --- HTML ------------------------------------------------------------------------------------

#: An unescaped tag: "<script", "<img" not preceded by a markdown backslash escape.
_RAW_TAG = re.compile(r"(?<!\\)<\s*/?\s*(?:script|img)\b", re.IGNORECASE)
#: A markdown link or image built from the data: "](" not escaped.
_RAW_LINK = re.compile(r"(?<!\\)\]\s*(?<!\\)\(")


def _markdown_bodies(app: AppTest) -> list[str]:
    """The markdown source of every element that renders markdown."""
    bodies: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption"):
        bodies += [str(e.value) for e in getattr(app, kind)]
    for kind in ("info", "error", "warning", "success"):
        bodies += [str(e.value) for e in getattr(app, kind)]
    return bodies


XSS_ORDER = direct_order(
    "XSS-1",
    customer_name=SCRIPT,
    email="xss@example.com",
    ship_name=IMG,
    ship_address1=f"1 {IMG} St",
    product_name=f"Kettle {SCRIPT}",
)


def test_a_customer_email_escapes_hostile_names_in_its_html(warehouse):
    warehouse.drop("phone_orders.csv", [XSS_ORDER])
    warehouse.batch()
    with connect(warehouse.path) as con:
        assert frame(con, "SELECT status FROM oms.orders")["status"].to_list() == ["ready"]
        run_notifications_stage(
            con,
            reference_dir=warehouse.reference_dir,
            outbox=warehouse.outbox,
            run_id="notify",
            now=NOW + timedelta(minutes=5),
            environ={},
        )
    mails = sorted(warehouse.outbox.rglob("*.eml"))
    assert len(mails) == 1  # the order confirmation
    message = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert SCRIPT in text  # plain text shows the name as written
    assert not _RAW_TAG.search(html), html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "onerror=alert(1)>" not in html


def test_the_tracking_page_shows_hostile_text_as_text(warehouse, oms_env):
    order = {**XSS_ORDER, "order_id": SCRIPT}
    warehouse.drop("phone_orders.csv", [order])
    warehouse.batch()
    with connect(warehouse.path) as con:
        publish_snapshot(con, oms_env.reporting_path)

    app = AppTest.from_file(str(DASHBOARDS_DIR / "tracking_app.py"), default_timeout=60).run()
    app.text_input(key="track_order_number").input(SCRIPT)
    app.text_input(key="track_order_secret").input(order["email"])
    app.form_submit_button[0].click().run()
    assert not app.exception and not app.error
    assert app.subheader[0].value.startswith("Order ")
    bodies = _markdown_bodies(app)
    assert [b for b in bodies if _RAW_TAG.search(b) or _RAW_LINK.search(b)] == []
    assert shown(app.subheader[0].value) == f"Order {SCRIPT}"  # shown, as text
    items = app.dataframe[-1].value  # a table cell is text, never markup
    assert list(items["Item"]) == [order["product_name"]]


def test_the_tracking_page_shows_a_hostile_city_as_text(warehouse, oms_env):
    """The ship-to place comes from the channel export, typed by the customer: shown as text,
    it must not become a link or markup on the public page."""
    order = direct_order(
        "CITY-1", email="city@example.com", ship_city=f"[Pay here](https://evil.example) {IMG}"
    )
    warehouse.drop("phone_orders.csv", [order])
    warehouse.batch()
    with connect(warehouse.path) as con:
        publish_snapshot(con, oms_env.reporting_path)

    app = AppTest.from_file(str(DASHBOARDS_DIR / "tracking_app.py"), default_timeout=60).run()
    app.text_input(key="track_order_number").input("CITY-1")
    app.text_input(key="track_order_secret").input(order["email"])
    app.form_submit_button[0].click().run()
    assert not app.exception and not app.error
    assert any("shipping to" in b for b in _markdown_bodies(app))
    assert [b for b in _markdown_bodies(app) if _RAW_TAG.search(b) or _RAW_LINK.search(b)] == []


def test_the_exception_queue_shows_a_held_orders_customer_text_as_text(warehouse, oms_env):
    """Names, address and contact details typed by a customer, on the ops workspace: text,
    never a link (phishing the ops user), an image (leaking their address) or HTML."""
    link = "[Verify payment](https://evil.example)"
    order = direct_order(
        "HELD-1",
        customer_name=link,
        email="held@example.com",
        ship_name=f"![]( https://evil.example/p.png) {IMG}",
        ship_company=SCRIPT,
        ship_city=link,
        ship_postal_code="ABC",  # not a US ZIP: held for INCORRECT_ADDRESS
    )
    warehouse.drop("phone_orders.csv", [order])
    warehouse.batch()
    with connect(warehouse.path) as con:
        assert frame(con, "SELECT status FROM oms.orders")["status"].to_list() == ["on_hold"]
        publish_snapshot(con, oms_env.reporting_path)
    app = AppTest.from_file(str(DASHBOARDS_DIR / "ops_app.py"), default_timeout=60).run()
    app = app.switch_page("app_pages/exceptions.py").run()
    assert not app.exception
    bodies = _markdown_bodies(app)
    assert any("Ship to" in b for b in bodies)
    assert [b for b in bodies if _RAW_TAG.search(b) or _RAW_LINK.search(b)] == []
    seen = " ".join(shown(b) for b in bodies)
    assert link in seen and SCRIPT in seen  # the text itself is there, as typed


# --- the Upload page -------------------------------------------------------------------------

#: A link and an image tag in a name with no folder in it: saved under a safe name.
HOSTILE_FILE_NAME = f"[Pay here](javascript:alert(1)) {IMG}.csv"
#: ... and with one (the link's "//"): refused, the name shown as it came.
HOSTILE_PATH_NAME = f"[Pay here](https://evil.example) {SCRIPT}.csv"


def _upload_page() -> AppTest:
    app = AppTest.from_file(str(DASHBOARDS_DIR / "ops_app.py"), default_timeout=60).run()
    assert not app.exception
    page = app.switch_page("app_pages/upload.py").run()
    assert not page.exception
    return page


@pytest.fixture
def no_dagster(monkeypatch):
    monkeypatch.setenv("OMS_DAGSTER_URL", f"http://127.0.0.1:{free_port()}")


def test_a_hostile_file_name_is_shown_as_text_on_the_upload_page(oms_env, no_dagster):
    app = _upload_page()
    content = direct_csv([direct_order("UP-1")]).encode("utf-8")
    app.file_uploader[0].set_value(
        [
            (HOSTILE_FILE_NAME, content, "text/csv"),
            (f"{IMG}.csv", b"", "text/csv"),
            (HOSTILE_PATH_NAME, content, "text/csv"),
        ]
    )
    app.run()
    assert not app.exception
    bodies = _markdown_bodies(app)
    assert [b for b in bodies if _RAW_TAG.search(b) or _RAW_LINK.search(b)] == []
    # The names are there, as the user gave them, once the markdown escapes are read.
    seen = [shown(b) for b in bodies]
    assert f"Uploaded as {HOSTILE_FILE_NAME!r}; saved under a safe name." in seen
    assert f"**{IMG}.csv** refused: empty file (0 bytes). Nothing was saved." in seen
    assert (
        f"**{HOSTILE_PATH_NAME}** refused: the name {HOSTILE_PATH_NAME!r} carries a folder "
        "path; upload the file under its own name. Nothing was saved."
    ) in seen
    # The file itself is accepted under its safe name.
    assert next(b.label for b in app.button) == "Accept the file"
