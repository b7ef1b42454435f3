"""The Phone order page: a form that writes a direct-order file the next batch turns into a
``phone:`` order, and refuses what the batch would reject or hold."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from streamlit.testing.v1 import AppTest

from pipelines.lib.intake import ingest_inbox
from pipelines.lib.quality.validate import run_validation_stage
from pipelines.lib.warehouse import connect, migrate, publish_snapshot
from pipelines.project import DASHBOARDS_DIR

PAGE = "app_pages/phone_order.py"
CUSTOMER = {
    "customer_name": "Ana Ruiz",
    "email": "ana@example.com",
    "phone": "+1 212 555 0100",
    "ship_address1": "350 5th Ave",
    "ship_city": "New York",
    "ship_region": "NY",
    "ship_postal_code": "10118",
}


def _page() -> AppTest:
    app = AppTest.from_file(str(DASHBOARDS_DIR / "ops_app.py"), default_timeout=60).run()
    assert not app.exception
    app = app.switch_page(PAGE).run()
    assert not app.exception
    assert app.title[0].value == "Phone order"
    return app


def _fill(app: AppTest, **fields: str) -> AppTest:
    for key, value in {**CUSTOMER, **fields}.items():
        app.text_input(key=key).input(value)
    return app.run()


def _add(app: AppTest, quantity: int, *, product: str | None = None, typed: str = "") -> AppTest:
    if product:
        app.selectbox(key="add_product").select(product)
    app.text_input(key="add_sku").input(typed)
    app.number_input(key="add_quantity").set_value(quantity)
    return app.button(key="add_line").click().run()


def _order_files(settings) -> list:
    return sorted(p.name for p in settings.inbox.iterdir() if p.name.startswith("phone_order_"))


def _run_intake_and_validation(settings):
    """The batch's first stages, as the batch runs them, on the test's warehouse."""
    now = datetime.now(UTC)
    with connect(settings.warehouse_path) as con:
        migrate(con)
        intake = ingest_inbox(
            con,
            settings.inbox,
            archive_dir=settings.archive,
            rejected_dir=settings.rejected,
            run_id="test-intake",
            now=now,
        )
        run_validation_stage(
            con,
            inbox=settings.inbox,
            archive_dir=settings.archive,
            rejected_dir=settings.rejected,
            reference_dir=settings.reference_dir,
            run_id="test-validation",
            now=now,
        )
        publish_snapshot(con, settings.reporting_path)
    return intake


def test_an_order_taken_on_the_page_becomes_a_ready_phone_order(oms_env):
    app = _fill(_page())
    assert app.button(key="create").disabled  # no lines yet
    assert "the order has no lines" in app.warning[0].value
    app = _add(app, 3, product="SKU-00001")
    app = _add(app, 1, typed="sku-00002")  # typed, in any case
    app = _add(app, 1, product="SKU-00001")  # the same SKU again adds to its line
    app.selectbox(key="service_level").select("expedited")
    app.radio(key="payment").set_value("On account")
    app.number_input(key="shipping_amount").set_value(7.5)
    app.number_input(key="tax_amount").set_value(3.21)
    app = app.run()
    assert not app.exception
    lines = app.dataframe[0].value
    assert lines[["sku", "quantity", "line_total"]].values.tolist() == [
        ["SKU-00001", 4, "59.96"],
        ["SKU-00002", 1, "129.00"],
    ]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {"Subtotal (USD)": "188.96", "Order total (USD)": "199.67"}
    assert not app.warning and not app.error
    assert not app.button(key="create").disabled

    app = app.button(key="create").click().run()
    assert not app.exception
    (written,) = _order_files(oms_env)
    order_id = written.removeprefix("phone_order_").removesuffix(".csv")
    assert f"Order {order_id} written to the inbox as {written}" in app.success[0].value
    # A new, empty form: a second click cannot send the same order twice.
    assert app.text_input(key="customer_name").value == ""
    assert app.button(key="create").disabled
    assert any(order_id in c.value for c in app.caption)  # waiting in the inbox

    intake = _run_intake_and_validation(oms_env)
    assert [(f.name, f.status, f.format) for f in intake.files] == [
        (written, "processed", "direct_csv")
    ]
    with connect(oms_env.warehouse_path, read_only=True) as con:
        order = con.execute(
            "SELECT channel, status, customer_name, ship_postal_code, service_level, "
            "payment_status, subtotal, shipping_amount, tax_amount, order_total "
            "FROM oms.orders WHERE order_key = ?",
            [f"phone:{order_id}"],
        ).fetchone()
        lines = con.execute(
            "SELECT line_no, sku, quantity, unit_price, line_total FROM oms.order_lines "
            "WHERE order_key = ? ORDER BY line_no",
            [f"phone:{order_id}"],
        ).fetchall()
        holds = con.execute("SELECT count(*) FROM oms.order_holds").fetchone()[0]
    assert order == (
        "phone",
        "ready",
        "Ana Ruiz",
        "10118",
        "expedited",
        "on_account",
        Decimal("188.96"),
        Decimal("7.50"),
        Decimal("3.21"),
        Decimal("199.67"),
    )
    assert lines == [
        (1, "SKU-00001", 4, Decimal("14.99"), Decimal("59.96")),
        (2, "SKU-00002", 1, Decimal("129.00"), Decimal("129.00")),
    ]
    assert holds == 0  # no hold and no warning either

    # After the batch the page shows the order's status and nothing waiting.
    app = _page()
    recent = app.dataframe[0].value
    assert recent[["order_number", "status"]].values.tolist() == [[order_id, "ready"]]
    assert any("None waiting in the inbox" in c.value for c in app.caption)


def test_an_authorized_card_order_abroad_offers_only_services_that_go_there(oms_env):
    app = _fill(
        _page(),
        ship_address1="10 Downing Street",
        ship_city="London",
        ship_region="",
        ship_postal_code="SW1A 2AA",
        phone="+44 20 7925 0918",
    )
    app.selectbox(key="ship_country").select("GB")
    app = app.run()
    assert app.selectbox(key="service_level").options == ["standard", "expedited"]
    app.radio(key="payment").set_value("Card authorized")
    app = _add(app, 2, product="SKU-00003")
    assert not app.warning and not app.error
    app = app.button(key="create").click().run()
    assert not app.exception and app.success
    _run_intake_and_validation(oms_env)
    with connect(oms_env.warehouse_path, read_only=True) as con:
        row = con.execute(
            "SELECT ship_country, payment_method, payment_status, status, order_total "
            "FROM oms.orders WHERE channel = 'phone'"
        ).fetchone()
    assert row == ("GB", "card", "authorized", "ready", Decimal("95.98"))


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"ship_postal_code": "1011"}, 'postal code "1011" is not valid for US'),
        ({"ship_region": "CA"}, 'postal code "10118" is not in CA, US'),
        ({"email": "ana@@example.com"}, 'email "ana@@example.com" is not valid'),
    ],
)
def test_a_bad_address_or_email_is_shown_as_it_is_typed_and_blocks_the_order(
    oms_env, fields, shown
):
    app = _add(_fill(_page(), **fields), 1, product="SKU-00001")
    assert not app.exception
    assert any(shown in e.value for e in app.error)
    assert shown in app.warning[0].value
    assert app.button(key="create").disabled  # a browser cannot click it
    assert _order_files(oms_env) == []


def test_an_unknown_sku_is_refused_and_an_order_without_lines_is_not_written(oms_env):
    app = _add(_fill(_page()), 1, typed="SKU-99999")
    assert not app.exception
    assert 'SKU "SKU-99999" is not in the catalogue' in app.error[0].value
    assert not app.dataframe  # no line was added
    assert "the order has no lines" in app.warning[0].value
    assert app.button(key="create").disabled
    assert _order_files(oms_env) == []


def test_the_page_works_before_any_batch(oms_env):
    assert not oms_env.reporting_path.exists()
    app = _page()
    assert any("No phone order has been through a batch yet" in c.value for c in app.caption)
    assert app.button(key="create").disabled
    assert not app.error
