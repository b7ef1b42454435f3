"""The customer tracking app end to end: hand-made orders in a real warehouse → the published
read-only snapshot → ``dashboards/tracking_app.py`` (the tracking page served alone)."""

from __future__ import annotations

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.lib.order_lookup import ACTION_NEEDED_LABEL, HOLD_ACTIONS
from pipelines.lib.warehouse import connect, migrate, publish_snapshot
from pipelines.project import DASHBOARDS_DIR
from tests.integration.dashboard_app import shown
from tests.unit.test_order_lookup import INTERNAL, A, B, C, D, seed

NOT_FOUND = (
    "We couldn't find an order with those details. Check the order number and the email or "
    "postal code you used."
)
TOO_MANY = "Too many attempts"
UNAVAILABLE = "Tracking is not available right now"


def _app() -> AppTest:
    app = AppTest.from_file(str(DASHBOARDS_DIR / "tracking_app.py"), default_timeout=60).run()
    assert not app.exception
    return app


def _submit(app: AppTest, number: str, secret: str) -> AppTest:
    app.text_input(key="track_order_number").input(number)
    app.text_input(key="track_order_secret").input(secret)
    app.form_submit_button[0].click().run()
    assert not app.exception
    return app


def _rendered(app: AppTest) -> str:
    """Everything the page shows (the form's inputs aside)."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text"):
        parts += [str(e.value) for e in getattr(app, kind)]
    for kind in ("info", "error", "warning", "success"):
        parts += [f"{kind}: {e.value}" for e in getattr(app, kind)]
    for frame in app.dataframe:
        parts.append(frame.value.to_csv(index=False))
    for table in app.table:
        parts.append(table.value.to_csv(index=False))
    return "\n".join(parts)


@pytest.fixture
def snapshot(oms_env):
    """The hand-made orders in a warehouse, published as the reporting snapshot."""
    with connect(oms_env.warehouse_path) as con:
        migrate(con)
        seed(con)
        publish_snapshot(con, oms_env.reporting_path)
    return oms_env


def test_the_page_is_a_form_and_nothing_else(snapshot):
    app = _app()
    assert app.title[0].value == "Track your order"
    assert [t.label for t in app.text_input] == ["Order number", "Email or postal code"]
    assert len(app.form_submit_button) == 1
    # No list, table or suggestion of orders before a lookup.
    assert not app.dataframe and not app.table and not app.selectbox and not app.subheader
    assert not app.error and not app.info


@pytest.mark.parametrize("secret", [A["email"], "  ana.ruiz@EXAMPLE.com ", "94103"])
def test_the_right_lookup_shows_the_timeline_parcels_and_backorders(snapshot, secret):
    app = _submit(_app(), "5001" if secret == "94103" else "#5001", secret)
    assert not app.error and not app.warning
    assert shown(app.subheader[0].value) == "Order #5001"
    markdown = [m.value for m in app.markdown]
    assert "**Status:** Partly shipped" in markdown

    timeline, backordered, items = (d.value for d in app.dataframe)
    assert list(timeline["What"]) == [
        "Order received",
        f"{ACTION_NEEDED_LABEL}: {HOLD_ACTIONS['AWAITING_PAYMENT']}",
        "Order confirmed",
        "Being prepared",
        "Part of your order has shipped",
        "Out for delivery",
    ]
    assert list(timeline["When"]) == sorted(timeline["When"])  # oldest first
    assert timeline["When"][0] == "2026-11-20 15:00 UTC"

    # The parcel, with a clickable link to the carrier's tracking page and its promise.
    url = f"https://www.ups.com/track?tracknum={A['tracking']}"
    parcels = [m for m in markdown if A["tracking"] in m]
    assert len(parcels) == 1
    assert f"[{A['tracking']}]({url})" in parcels[0]
    assert "UPS Ground" in parcels[0]
    assert "Out for delivery" in parcels[0]
    assert "promised by 2026-11-27" in shown(parcels[0])
    assert A["voided_tracking"] not in _rendered(app)  # a voided label is not a parcel

    assert backordered.to_dict("records") == [
        {"Item": A["products"][1], "Quantity": 1, "Expected to ship by": "2026-12-04"}
    ]
    assert list(items["Item"]) == list(A["products"])
    assert list(items["Quantity"]) == [2, 1]


def test_a_hold_the_customer_can_fix_says_what_to_do(snapshot):
    app = _submit(_app(), C["number"], "sw1a 1aa")
    assert "**Status:** We need something from you" in [m.value for m in app.markdown]
    assert [w.value for w in app.warning] == [HOLD_ACTIONS["INCORRECT_ADDRESS"]]
    shown = _rendered(app)
    assert "HIGH_RISK" not in shown and "risk" not in shown.lower()


def test_wrong_email_unknown_number_and_ambiguous_match_look_the_same(snapshot):
    failures = {
        "wrong email": ("#5001", "someone@example.com"),
        "another customer's email": ("#5001", C["email"]),
        "wrong postal code": ("#5001", "94104"),
        "unknown number": ("#9999", A["email"]),
        "ambiguous": ("7001", "same@example.com"),
        "injection": ("' OR 1=1 --", "' OR 1=1 --"),
    }
    pages = {}
    for why, (number, secret) in failures.items():
        app = _submit(_app(), number, secret)
        assert [e.value for e in app.error] == [NOT_FOUND], why
        pages[why] = _rendered(app)
    # The whole page, not only the message, is identical whatever the reason.
    assert len(set(pages.values())) == 1, pages
    assert not set(pages["wrong email"].splitlines()) - {
        "Track your order",
        f"error: {NOT_FOUND}",
    }


@pytest.mark.parametrize(
    "shown, others",
    [(A, (B, C, D)), (B, (A, C, D))],
    ids=lambda v: v["key"] if isinstance(v, dict) else "others",
)
def test_the_page_of_one_order_shows_nothing_of_another(snapshot, shown, others):
    app = _submit(_app(), shown["number"], shown["email"])
    page = _rendered(app)
    assert shown["tracking"] in page
    for other in others:
        for field in ("email", "tracking", "voided_tracking", "name", "city", "street", "phone"):
            if field in other:
                assert other[field] not in page, (other["key"], field)
        for product in other.get("products", ()):
            assert product not in page, (other["key"], product)
        if other["number"].lstrip("#") != shown["number"].lstrip("#"):
            assert other["number"] not in page, other["key"]
    # Neither contact data nor internal details of the order itself.
    for field in ("email", "street", "phone", "name"):
        assert shown[field] not in page, field
    assert "@" not in page
    for token in INTERNAL:
        assert token not in page, token


def test_empty_inputs_do_not_look_up(snapshot):
    app = _app()
    for number, secret in [("", ""), ("#5001", ""), ("", A["email"]), ("   ", "  ")] * 2:
        _submit(app, number, secret)
        assert [w.value for w in app.warning] == [
            "Enter both the order number and the email or postal code used on the order."
        ]
        assert not app.error and not app.subheader and not app.dataframe
    # None of them counted as a failed lookup: the right details still work.
    _submit(app, "#5001", A["email"])
    assert shown(app.subheader[0].value) == "Order #5001"


def test_six_failures_stop_the_lookups_for_the_session(snapshot):
    app = _app()
    for attempt in range(5):
        _submit(app, "#5001", f"guess{attempt}@example.com")
        assert [e.value for e in app.error] == [NOT_FOUND], attempt
    _submit(app, "#5001", "guess6@example.com")
    assert len(app.error) == 1 and app.error[0].value.startswith(TOO_MANY)
    # Even the right details are not looked up any more in this session.
    _submit(app, "#5001", A["email"])
    assert len(app.error) == 1 and app.error[0].value.startswith(TOO_MANY)
    assert not app.subheader and not app.dataframe
    assert A["tracking"] not in _rendered(app)
    # A new session starts afresh.
    assert shown(_submit(_app(), "#5001", A["email"]).subheader[0].value) == "Order #5001"


def test_a_successful_lookup_does_not_reset_the_brake(snapshot):
    app = _app()
    for attempt in range(4):
        _submit(app, "#5001", f"guess{attempt}@example.com")
    _submit(app, "#5001", A["email"])
    assert shown(app.subheader[0].value) == "Order #5001"
    _submit(app, "#5001", "guess5@example.com")
    assert [e.value for e in app.error] == [NOT_FOUND]
    _submit(app, "#5001", A["email"])
    assert app.error[0].value.startswith(TOO_MANY) and not app.subheader


def test_no_snapshot_yet_is_a_neutral_message(oms_env):
    assert not oms_env.reporting_path.exists()
    app = _app()
    assert app.title[0].value == "Track your order"
    assert len(app.info) == 1 and app.info[0].value.startswith(UNAVAILABLE)
    assert not app.text_input and not app.error


def test_a_snapshot_without_the_order_tables_is_a_neutral_message(oms_env):
    duckdb.connect(str(oms_env.reporting_path)).close()  # a snapshot file with no tables
    app = _submit(_app(), "#5001", A["email"])
    assert len(app.info) == 1 and app.info[0].value.startswith(UNAVAILABLE)
    assert not app.error and not app.subheader


def test_an_empty_snapshot_finds_nothing(oms_env):
    with connect(oms_env.warehouse_path) as con:
        migrate(con)
        publish_snapshot(con, oms_env.reporting_path)
    app = _submit(_app(), "#5001", A["email"])
    assert [e.value for e in app.error] == [NOT_FOUND]
