"""Customer order lookup (pipelines.lib.order_lookup) on a warehouse of hand-made orders."""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.lib.order_lookup import (
    ACTION_NEEDED_LABEL,
    CARRIER_TRACKING_URLS,
    HOLD_ACTIONS,
    UNDER_REVIEW_LABEL,
    OrderView,
    find_order,
    tracking_url,
)
from pipelines.lib.privacy import assign_privacy_keys
from pipelines.lib.schema import (
    BACKORDERS,
    ORDER_EVENTS,
    ORDER_HOLDS,
    ORDER_LINES,
    ORDERS,
    PARCELS,
    SHIPMENTS,
    Table,
)
from pipelines.lib.warehouse import connect, migrate
from tests.orders import T0, good_line, good_order

#: The customer-hash key of these tests (made per run: no key is ever committed).
KEY = secrets.token_bytes(24)

# --- hand-made orders (also used by tests/integration/test_tracking_page.py) ---------------

#: Order A: Shopify #5001, partly shipped by UPS, one line backordered, once held for payment.
A = {
    "key": "shopify:5001",
    "number": "#5001",
    "email": "Ana.Ruiz@Example.com",
    "postal": "94103-1234",
    "name": "Ana Ruiz",
    "city": "San Francisco",
    "street": "1 Market St",
    "phone": "+1 415 555 0134",
    "tracking": "1ZA5001X0312345678",
    "voided_tracking": "1ZA5001X0399999999",
    "products": ("Braided USB-C Cable 6ft", "Travel Charger 65W"),
}
#: Order B: WooCommerce order 5001 (the same number once the '#' is dropped), shipped by FedEx.
B = {
    "key": "woocommerce:5001",
    "number": "5001",
    "email": "bob.stone@example.org",
    "postal": "10001",
    "name": "Bob Stone",
    "city": "New York",
    "street": "350 Fifth Avenue",
    "phone": "+1 212 555 0199",
    "tracking": "794612345678",
    "products": ("Walnut Desk Lamp",),
}
#: Order C: Amazon, in the UK, held for its address (and, internally, for risk).
C = {
    "key": "amazon:114-0000000-0000001",
    "number": "114-0000000-0000001",
    "email": "carol@example.co.uk",
    "postal": "SW1A 1AA",
    "city": "London",
}
#: Order D: a phone order held for risk only (nothing the customer can do).
D = {"key": "phone:P-42", "number": "P-42", "email": "dan@example.com", "postal": "60601"}

#: Internal details that must never reach a customer (warehouse ids, waves, totes, manifests,
#: hold rules and reasons not meant for the customer, file names, run ids, staff, labels).
INTERNAL = (
    "WH-NJ",
    "WH-TX",
    "W-WH",
    "T07",
    "M-UPS",
    "max_risk_score",
    "awaiting_payment_rule",
    "address_check",
    "HIGH_RISK",
    "AWAITING_PAYMENT",
    "INCORRECT_ADDRESS",
    "shopify_orders_",
    ".csv",
    "run-2026",
    "ops.jane",
    "labels.pdf",
    "no stock at",
)


def _insert(con: duckdb.DuckDBPyConnection, table: Table, rows: list[dict]) -> None:
    con.register("rows_in", table.conform(pl.DataFrame(rows)).to_arrow())
    con.execute(f"INSERT INTO {table.qualified} BY NAME SELECT * FROM rows_in")
    con.unregister("rows_in")


def _order(o: dict, **changes) -> dict:
    fields = {
        "order_number": o["number"],
        "email": o["email"],
        "ship_postal_code": o["postal"],
        "source_file": "shopify_orders_0001.csv",
        "run_id": "run-2026-11-20-aaa",
    }
    return good_order(o["key"], **{**fields, **changes})


def _event(key: str, event: str, hours: float, detail: str) -> dict:
    return {
        "event_id": f"{key}|{event}|{hours}",
        "order_key": key,
        "event": event,
        "at": T0 + timedelta(hours=hours),
        "detail": detail,
        "run_id": "run-2026-11-20-aaa",
    }


def _shipment(key: str, shipment_id: str, status: str, hours: float) -> dict:
    return {
        "shipment_id": shipment_id,
        "wave_id": shipment_id.rsplit("-", 1)[0],
        "order_key": key,
        "warehouse_id": "WH-NJ",
        "tote": "T07",
        "status": status,
        "lines": 1,
        "units": 2,
        "parcels": 1,
        "weight_g": 900,
        "released_at": T0 + timedelta(hours=hours),
        "packing_slip_path": "data/outbox/WH-NJ/2026-11-21/slip.pdf",
        "run_id": "run-2026-11-21-bbb",
        "shipped_at": T0 + timedelta(hours=hours + 4),
        "promised_delivery_date": date(2026, 11, 27),
    }


def _parcel(shipment_id: str, no: int, carrier: str, service: str, tracking: str, **kw) -> dict:
    parcel = {
        "parcel_id": f"{shipment_id}-P{no}",
        "shipment_id": shipment_id,
        "parcel_no": no,
        "box_id": "BOX-M",
        "ship_alone": False,
        "units": 2,
        "items_weight_g": 800,
        "weight_g": 900,
        "length_mm": 300,
        "width_mm": 200,
        "height_mm": 100,
        "contents": "SKU-00001 x2",
        "status": "shipped",
        "run_id": "run-2026-11-21-bbb",
        "carrier": carrier,
        "service": service,
        "tracking_number": tracking,
        "labelled_at": T0 + timedelta(hours=20),
        "label_path": "data/outbox/WH-NJ/2026-11-21/W-WH-NJ-20261121-001_labels.pdf",
        "manifest_id": "M-UPS-WH-NJ-20261121-01",
        "promised_delivery_date": date(2026, 11, 27),
    }
    parcel.update(kw)
    return parcel


def seed(con: duckdb.DuckDBPyConnection) -> None:
    """Store orders A, B, C, D and two orders sharing a number with the same email."""
    a_ship = "W-WH-NJ-20261121-001-T07"
    b_ship = "W-WH-NJ-20261121-001-T08"
    orders = [
        _order(
            A,
            status="partially_shipped",
            customer_name=A["name"],
            ship_name=A["name"],
            ship_address1=A["street"],
            phone=A["phone"],
            ship_city=A["city"],
        ),
        _order(
            B,
            status="shipped",
            customer_name=B["name"],
            ship_name=B["name"],
            ship_address1=B["street"],
            phone=B["phone"],
            ship_city=B["city"],
            ship_region="NY",
        ),
        _order(
            C,
            status="on_hold",
            customer_name="Carol King",
            ship_city=C["city"],
            ship_region=None,
            ship_country="GB",
        ),
        _order(D, status="on_hold", ship_city="Chicago", ship_region="IL"),
        # Two channels, one number, one customer: only the postal code tells them apart.
        _order(
            {"key": "shopify:7001", "number": "#7001", "email": "same@example.com", "postal": ""},
            ship_postal_code="30301",
        ),
        _order(
            {"key": "email:7001", "number": "7001", "email": "same@example.com", "postal": ""},
            ship_postal_code="60601",
            ship_city="Chicago",
            ship_region="IL",
        ),
    ]
    for o in orders:
        _insert(con, ORDERS, [o])
    _insert(
        con,
        ORDER_LINES,
        [
            good_line(A["key"], 1, product_name=A["products"][0], quantity=2),
            good_line(A["key"], 2, sku="SKU-00002", product_name=A["products"][1], quantity=1),
            good_line(B["key"], 1, sku="SKU-00003", product_name=B["products"][0], quantity=1),
            good_line(C["key"], 1),
            good_line(D["key"], 1),
            good_line("shopify:7001", 1),
            good_line("email:7001", 1),
        ],
    )
    ka, kb = A["key"], B["key"]
    _insert(
        con,
        ORDER_EVENTS,
        [
            _event(ka, "received", 0, "received from shopify_orders_0001.csv"),
            _event(ka, "updated", 1, "updated from shopify_orders_0002.csv: email"),
            _event(
                ka,
                "on_hold",
                1,
                "on hold: AWAITING_PAYMENT: payment status pending (awaiting_payment_rule) "
                "| HIGH_RISK: risk score 87 over max_risk_score",
            ),
            _event(ka, "hold_released", 3, "hold released (AWAITING_PAYMENT) by ops.jane"),
            _event(ka, "ready", 3, "released from hold by ops.jane"),
            _event(
                ka,
                "stock_released",
                4,
                "order changed: 2 x SKU-00001 at WH-NJ",
            ),
            _event(
                ka,
                "partially_allocated",
                4,
                "2 of 3 units allocated (2 now from WH-NJ, single); 1 backordered, "
                "promised 2026-12-04",
            ),
            _event(ka, "released", 5, f"2 units from WH-NJ in wave {a_ship[:-4]} (tote T07)"),
            _event(
                ka,
                "partially_shipped",
                9,
                f"2 unit(s) shipped (2 of 3 so far): UPS {A['tracking']}",
            ),
            _event(ka, "out_for_delivery", 30, f"shipment {a_ship}: Out for delivery"),
            _event(kb, "received", 0.5, "received from woo_export.csv"),
            _event(kb, "ready", 1, "passed validation"),
            _event(kb, "allocated", 4, "1 of 1 units allocated (1 now from WH-NJ, single)"),
            _event(kb, "released", 5, f"1 units from WH-NJ in wave {b_ship[:-4]} (tote T08)"),
            _event(kb, "shipped", 9, f"1 unit(s) shipped: FedEx {B['tracking']}"),
            _event(
                C["key"],
                "on_hold",
                1,
                "on hold: INCORRECT_ADDRESS: postal code does not match city (address_check) "
                "| HIGH_RISK: risk score 91 over max_risk_score",
            ),
            _event(D["key"], "on_hold", 1, "on hold: HIGH_RISK: risk score 99 over max_risk_score"),
        ],
    )
    hold = {
        "severity": "hold",
        "detail": "internal finding",
        "opened_at": T0,
        "opened_run_id": "run-2026-11-20-aaa",
    }
    _insert(
        con,
        ORDER_HOLDS,
        [
            {
                **hold,
                "hold_id": "h1",
                "order_key": ka,
                "rule": "awaiting_payment_rule",
                "reason": "AWAITING_PAYMENT",
                "resolved_at": T0 + timedelta(hours=3),
                "resolution": "released",
                "resolved_by": "ops.jane",
            },
            {
                **hold,
                "hold_id": "h2",
                "order_key": C["key"],
                "rule": "address_check",
                "reason": "INCORRECT_ADDRESS",
            },
            {
                **hold,
                "hold_id": "h3",
                "order_key": C["key"],
                "rule": "max_risk_score",
                "reason": "HIGH_RISK",
            },
            {
                **hold,
                "hold_id": "h4",
                "order_key": D["key"],
                "rule": "max_risk_score",
                "reason": "HIGH_RISK",
            },
        ],
    )
    _insert(
        con,
        SHIPMENTS,
        [
            _shipment(ka, a_ship, "out_for_delivery", 5),
            _shipment(kb, b_ship, "in_transit", 5),
        ],
    )
    _insert(
        con,
        PARCELS,
        [
            _parcel(
                a_ship,
                1,
                "UPS",
                "UPS Ground",
                A["tracking"],
                status="out_for_delivery",
                shipped_at=T0 + timedelta(hours=9),
                status_detail="Out for delivery, SAN FRANCISCO CA",
            ),
            _parcel(
                a_ship,
                2,
                "UPS",
                "UPS Ground",
                A["voided_tracking"],
                status="cancelled",
                voided_at=T0 + timedelta(hours=8),
            ),
            _parcel(
                b_ship,
                1,
                "FedEx",
                "FedEx Ground",
                B["tracking"],
                status="in_transit",
                shipped_at=T0 + timedelta(hours=9),
                promised_delivery_date=date(2026, 11, 26),
            ),
        ],
    )
    _insert(
        con,
        BACKORDERS,
        [
            {
                "order_key": ka,
                "line_no": 2,
                "sku": "SKU-00002",
                "quantity": 1,
                "reason": "no_stock",
                "detail": "no stock at WH-NJ, WH-GA",
                "promised_date": date(2026, 12, 4),
                "promised_warehouse_id": "WH-TX",
                "status": "open",
                "backordered_at": T0 + timedelta(hours=4),
                "updated_at": T0 + timedelta(hours=4),
                "run_id": "run-2026-11-20-aaa",
            }
        ],
    )


def texts(view: OrderView) -> list[str]:
    """Every text (and date) the view holds, for leak checks."""
    out: list[str] = []

    def walk(value: object) -> None:
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name))
        elif isinstance(value, tuple | list):
            for item in value:
                walk(item)
        elif value is not None:
            out.append(str(value))

    walk(view)
    return out


# --- tests ---------------------------------------------------------------------------------


@pytest.fixture
def con(tmp_path: Path):
    with connect(tmp_path / "oms.duckdb") as con:
        migrate(con)
        seed(con)
        assign_privacy_keys(con, KEY)
        yield con


def _find(con: duckdb.DuckDBPyConnection, number: str, secret: str) -> OrderView | None:
    return find_order(con, number, secret, KEY)


@pytest.mark.parametrize(
    "number, secret",
    [
        ("#5001", "Ana.Ruiz@Example.com"),
        ("5001", "ana.ruiz@example.com"),
        ("  #5001 ", "  ANA.RUIZ@EXAMPLE.COM  "),
        ("5001", "94103"),  # ZIP5 of the ZIP+4 on the order
        ("#5001", "94103-1234"),
        ("5001", " 94103 1234 "),
    ],
)
def test_the_right_number_and_email_or_postal_code_find_the_order(con, number, secret):
    view = _find(con, number, secret)
    assert view is not None
    assert view.number == "#5001"
    assert view.ship_region == "CA"
    assert [line.name for line in view.lines] == list(A["products"])


def test_postal_codes_ignore_spaces_and_case(con):
    for secret in ("SW1A 1AA", "sw1a1aa", " Sw1A  1aA "):
        view = _find(con, C["number"], secret)
        assert view is not None and view.number == C["number"]
    # Letters in the order number are case-insensitive too.
    assert _find(con, "p-42", "60601").number == "P-42"


@pytest.mark.parametrize(
    "number, secret",
    [
        ("#5001", "someone@example.com"),
        ("#5001", C["email"]),  # another customer's email
        ("#5001", "ana.ruiz@example.co"),
        ("#5001", "9410"),  # a ZIP prefix is not the ZIP
        ("#5001", "94103-9999"),
        ("#5001", "1234"),  # the +4 alone
        ("#5002", A["email"]),  # unknown number
        ("5001X", A["email"]),
        ("", A["email"]),
        ("#5001", ""),
        ("   ", "   "),
        ("#", A["email"]),
        ("#5001", "-"),
        (C["number"], "SW1A"),
        # Injection-ish input: parameters, never SQL text.
        ("' OR 1=1 --", "' OR 1=1 --"),
        ("#5001", "' OR 1=1 --"),
        ("#5001' OR '1'='1", A["email"]),
        ("%", "%"),
        ("5001", "%"),
        ("5001", ".*"),
    ],
)
def test_anything_else_finds_nothing(con, number, secret):
    assert _find(con, number, secret) is None


def test_orders_sharing_a_number_are_found_each_with_its_own_secret_only(con):
    a = _find(con, "5001", A["email"])
    b = _find(con, "5001", B["email"])
    assert a.number == "#5001" and a.ship_region == "CA"
    assert b.number == "5001" and b.ship_region == "NY"
    assert _find(con, "#5001", B["postal"]).number == "5001"
    # Nothing of the other order in either view.
    a_text, b_text = "\n".join(texts(a)), "\n".join(texts(b))
    for leaked in (A["tracking"], A["city"], A["postal"], *A["products"]):
        assert leaked not in b_text
    for leaked in (B["tracking"], B["city"], *B["products"]):
        assert leaked not in a_text


def test_an_ambiguous_match_finds_nothing(con):
    # Both orders numbered 7001 carry the same email: the lookup cannot tell which one.
    assert _find(con, "7001", "same@example.com") is None
    assert _find(con, "#7001", "same@example.com") is None
    # Their postal codes differ, and pick one each.
    assert _find(con, "7001", "30301").ship_region == "CA"
    assert _find(con, "7001", "60601").ship_region == "IL"


def test_the_view_holds_the_timeline_parcels_and_backorders_in_friendly_words(con):
    view = _find(con, "#5001", A["email"])
    assert view.status == "Partly shipped"
    assert view.status_note is None
    assert [e.text for e in view.timeline] == [
        "Order received",
        f"{ACTION_NEEDED_LABEL}: {HOLD_ACTIONS['AWAITING_PAYMENT']}",
        "Order confirmed",
        "Being prepared",  # partially allocated and released: one step for the customer
        "Part of your order has shipped",
        "Out for delivery",
    ]
    assert [e.at for e in view.timeline] == sorted(e.at for e in view.timeline)
    assert all(e.at.utcoffset() == timedelta(0) for e in view.timeline)
    # The voided parcel is not shown; the live one links to the carrier.
    assert len(view.parcels) == 1
    parcel = view.parcels[0]
    assert (parcel.carrier, parcel.service, parcel.tracking_number) == (
        "UPS",
        "UPS Ground",
        A["tracking"],
    )
    assert parcel.tracking_url == f"https://www.ups.com/track?tracknum={A['tracking']}"
    assert parcel.status == "Out for delivery"
    assert parcel.promised_delivery_date == date(2026, 11, 27)
    assert parcel.shipped_at == T0 + timedelta(hours=9)
    assert parcel.delivered_at is None
    assert [(b.name, b.quantity, b.promised_date) for b in view.backordered] == [
        (A["products"][1], 1, date(2026, 12, 4))
    ]
    assert [(line.name, line.quantity) for line in view.lines] == [
        (A["products"][0], 2),
        (A["products"][1], 1),
    ]


def test_holds_tell_the_customer_only_what_they_can_act_on(con):
    c = _find(con, C["number"], C["postal"])
    assert c.status == ACTION_NEEDED_LABEL
    assert c.status_note == HOLD_ACTIONS["INCORRECT_ADDRESS"]
    assert [e.text for e in c.timeline] == [
        f"{ACTION_NEEDED_LABEL}: {HOLD_ACTIONS['INCORRECT_ADDRESS']}"
    ]
    d = _find(con, D["number"], D["email"])
    assert d.status == UNDER_REVIEW_LABEL
    assert d.status_note is None
    assert [e.text for e in d.timeline] == [UNDER_REVIEW_LABEL]


@pytest.mark.parametrize("order", [A, B, C, D], ids=lambda o: o["key"])
def test_no_internal_detail_or_contact_data_reaches_the_view(con, order):
    view = _find(con, order["number"], order["email"])
    assert view is not None
    shown = "\n".join(texts(view))
    for token in INTERNAL:
        assert token not in shown, token
    # Street, email and phone are never echoed back.
    for field in ("street", "email", "phone"):
        if field in order:
            assert order[field].lower() not in shown.lower(), field
    assert "@" not in shown
    # Every timeline text is one of the fixed friendly texts (no event detail copied).
    for entry in view.timeline:
        assert re.fullmatch(r"[A-Za-z .,:'\-]+", entry.text), entry.text


def test_tracking_url_per_carrier():
    assert tracking_url("UPS", "1Z999AA10123456784") == (
        "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    )
    assert tracking_url("FedEx", "794612345678") == (
        "https://www.fedex.com/fedextrack/?trknbr=794612345678"
    )
    assert tracking_url("USPS", "9400100000000000000000") == (
        "https://tools.usps.com/go/TrackConfirmAction?tLabels=9400100000000000000000"
    )
    assert tracking_url(" fedex ", " 794612345678 ").endswith("trknbr=794612345678")
    assert tracking_url("USPS", "CP123456785US") == CARRIER_TRACKING_URLS["USPS"] + "CP123456785US"
    # Unknown carriers and missing numbers have no link; odd characters are encoded.
    assert tracking_url("DHL", "123") is None
    assert tracking_url(None, "123") is None
    assert tracking_url("UPS", "") is None
    assert tracking_url("UPS", None) is None
    assert tracking_url("UPS", "1Z 9&x=y") == "https://www.ups.com/track?tracknum=1Z%209%26x%3Dy"
