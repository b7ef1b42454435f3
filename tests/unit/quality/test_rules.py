"""Each validation rule against a good order and a bad one, and what ops see as a result."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.orders import T0, good_line, good_order


def test_a_correct_order_is_ready_with_an_event_and_no_findings(platform):
    platform.add(good_order())
    result = platform.run().validation
    assert (result.validated, result.ready, result.on_hold) == (1, 1, 0)
    assert platform.status("shopify:1001") == "ready"
    assert platform.holds().is_empty()
    assert platform.events("shopify:1001") == [("ready", "passed validation")]


BAD_ORDERS = [
    # (what is wrong, order changes, line changes, rule, reason, detail)
    (
        "street missing",
        {"ship_address1": None},
        {},
        "ship_to_required",
        "INCORRECT_ADDRESS",
        "ship-to street address is missing",
    ),
    (
        "recipient missing",
        {"ship_name": None},
        {},
        "ship_to_required",
        "INCORRECT_ADDRESS",
        "ship-to recipient name is missing",
    ),
    (
        "not a country code",
        {"ship_country": "XX"},
        {},
        "country_code",
        "INCORRECT_ADDRESS",
        'country "XX" is not an ISO 3166 country code',
    ),
    (
        "four-digit ZIP",
        {"ship_postal_code": "9410"},
        {},
        "postal_code",
        "INCORRECT_ADDRESS",
        'postal code "9410" is not valid for US (e.g. 95014)',
    ),
    (
        "ZIP of another state",
        {"ship_postal_code": "10001"},
        {},
        "postal_code",
        "INCORRECT_ADDRESS",
        'postal code "10001" is not in CA, US',
    ),
    (
        "postal code required in Germany",
        {"ship_country": "DE", "ship_region": None, "ship_postal_code": None},
        {},
        "postal_code",
        "INCORRECT_ADDRESS",
        "postal code is missing (required for DE)",
    ),
    (
        "unknown currency",
        {"currency": "ZZZ"},
        {},
        "currency_code",
        "PRICE_MISMATCH",
        'currency "ZZZ" is not an ISO 4217 code',
    ),
    (
        "no currency",
        {"currency": None},
        {},
        "currency_code",
        "PRICE_MISMATCH",
        "currency is missing",
    ),
    (
        "total off by a dollar",
        {"order_total": Decimal("38.48")},
        {},
        "order_totals",
        "PRICE_MISMATCH",
        "order total 38.48 is not subtotal 29.98 + shipping 5.00 + tax 2.50 - discount 0.00"
        " = 37.48",
    ),
    (
        "subtotal not the lines",
        {"subtotal": Decimal("30.98"), "order_total": Decimal("38.48")},
        {},
        "order_totals",
        "PRICE_MISMATCH",
        "subtotal 30.98 is not the sum of the line totals 29.98",
    ),
    (
        "no total",
        {"order_total": None},
        {},
        "order_totals",
        "PRICE_MISMATCH",
        "order total is missing",
    ),
    (
        "payment pending",
        {"payment_status": "pending"},
        {},
        "payment",
        "AWAITING_PAYMENT",
        'payment is "pending" (needs paid or authorized)',
    ),
    (
        "payment on account from a web shop",
        {"payment_status": "on_account"},
        {},
        "payment",
        "AWAITING_PAYMENT",
        'payment "on_account" is not accepted for shopify orders',
    ),
    (
        "a country we do not ship to",
        {"ship_country": "BR", "ship_region": None, "ship_postal_code": "01310-100"},
        {},
        "serviceable_destination",
        "UNSERVICEABLE_DESTINATION",
        "no warehouse or carrier ships to BR",
    ),
    (
        "very large order",
        {"subtotal": Decimal("2998.00"), "order_total": Decimal("3005.50")},
        {"quantity": 200, "line_total": Decimal("2998.00")},
        "high_value",
        "HIGH_RISK",
        "order total 3005.50 USD (about 3006 USD) is above the review limit of 2500 USD",
    ),
    (
        "SKU not in the catalogue",
        {},
        {"sku": "SKU-99999"},
        "sku_known",
        "UNKNOWN_SKU",
        'line 1: SKU "SKU-99999" is not in the catalogue',
    ),
    (
        "line without a SKU",
        {},
        {"sku": None},
        "sku_known",
        "UNKNOWN_SKU",
        "line 1: no SKU",
    ),
    (
        "zero quantity",
        {"subtotal": Decimal("0.00"), "order_total": Decimal("7.50")},
        {"quantity": 0, "line_total": Decimal("0.00")},
        "quantity",
        "INVALID_QUANTITY",
        "line 1: quantity 0 (must be at least 1)",
    ),
    (
        "quantity missing (not a whole number at the source)",
        {},
        {"quantity": None},
        "quantity",
        "INVALID_QUANTITY",
        "line 1: quantity is missing or not a whole number",
    ),
    (
        "negative unit price",
        {},
        {"unit_price": Decimal("-14.99"), "line_total": Decimal("29.98")},
        "unit_price",
        "PRICE_MISMATCH",
        "line 1: unit price -14.99 is negative",
    ),
    (
        "line total not quantity x price",
        {},
        {"line_total": Decimal("28.98")},
        "line_total",
        "PRICE_MISMATCH",
        "line 1: total 28.98 is not 2 x 14.99 - discount 0.00 = 29.98",
    ),
]


@pytest.mark.parametrize(
    ("changes", "line_changes", "rule", "reason", "detail"),
    [case[1:] for case in BAD_ORDERS],
    ids=[case[0] for case in BAD_ORDERS],
)
def test_a_bad_order_is_held_with_the_rule_reason_and_a_sentence(
    platform, changes, line_changes, rule, reason, detail
):
    platform.add(good_order(**changes), [good_line(**line_changes)])
    platform.run()
    assert platform.status("shopify:1001") == "on_hold"
    found = platform.holds("shopify:1001")
    hit = found.filter(found["rule"] == rule)
    assert hit.height == 1, found.select("rule", "detail").rows()
    assert hit["reason"][0] == reason
    assert hit["severity"][0] == "hold"
    assert hit["detail"][0] == detail
    event, text = platform.events("shopify:1001")[-1]
    assert event == "on_hold"
    assert text.startswith("on hold: ") and f"{reason}: {detail}" in text


def test_an_order_with_no_lines_is_held_for_invalid_quantity(platform):
    platform.add(good_order(), lines=[])
    platform.run()
    assert platform.holds()[["rule", "reason", "detail"]].rows() == [
        ("has_lines", "INVALID_QUANTITY", "order has no lines")
    ]


@pytest.mark.parametrize(
    ("changes", "rule", "detail"),
    [
        (
            {"email": "ana@@example.com"},
            "email_syntax",
            'email "ana@@example.com" is not valid: The part after the @-sign contains invalid '
            "characters: '@'.",
        ),
        (
            {"phone": "12"},
            "phone_number",
            'phone "12" has the wrong number of digits for US',
        ),
        (
            {"phone": "call me"},
            "phone_number",
            'phone "call me" cannot be read as a phone number: The string supplied did not '
            "seem to be a phone number.",
        ),
    ],
    ids=["email", "short phone", "not a phone"],
)
def test_contact_problems_only_warn_and_the_order_proceeds(platform, changes, rule, detail):
    platform.add(good_order(**changes))
    result = platform.run().validation
    assert (result.ready, result.on_hold, result.warnings) == (1, 0, 1)
    assert platform.status("shopify:1001") == "ready"
    assert platform.holds()[["rule", "reason", "severity", "detail"]].rows() == [
        (rule, "INCORRECT_ADDRESS", "warn", detail)
    ]
    assert platform.events("shopify:1001") == [
        ("ready", f"passed validation with warnings: INCORRECT_ADDRESS: {detail}")
    ]


def test_missing_email_and_phone_are_not_findings(platform):
    platform.add(good_order(email=None, phone=None))
    platform.run()
    assert platform.status("shopify:1001") == "ready"
    assert platform.holds().is_empty()


@pytest.mark.parametrize(
    "changes",
    [
        {"ship_postal_code": "94103-1234"},  # ZIP+4
        {"ship_region": "California"},  # a state by name
        {"ship_country": "GB", "ship_region": None, "ship_postal_code": "SW1A 1AA"},
        {"ship_country": "CA", "ship_region": "ON", "ship_postal_code": "k1a 0b1"},
        {"channel": "phone", "order_key": "phone:P-1", "payment_status": "on_account"},
        {"payment_status": "authorized"},
        {"currency": "EUR", "order_total": Decimal("37.48")},
    ],
    ids=["zip+4", "state name", "uk", "canada lower case", "phone on account", "authorized", "eur"],
)
def test_valid_variants_pass(platform, changes):
    key = changes.get("order_key", "shopify:1001")
    platform.add(good_order(**changes), [good_line(key)])
    platform.run()
    assert platform.holds(key).select("rule", "detail").rows() == []
    assert platform.status(key) == "ready"


def test_prices_including_tax_are_not_added_again(platform):
    platform.add(
        good_order(
            prices_include_tax=True, tax_amount=Decimal("2.50"), order_total=Decimal("34.98")
        )
    )
    platform.run()
    assert platform.status("shopify:1001") == "ready"


def test_a_derived_unit_price_may_be_off_by_half_a_cent_per_unit(platform):
    # Amazon gives the line's price; 10.00 for 6 units is 1.67 a unit, 6 x 1.67 = 10.02.
    line = good_line(quantity=6, unit_price=Decimal("1.67"), line_total=Decimal("10.00"))
    platform.add(good_order(subtotal=Decimal("10.00"), order_total=Decimal("17.50")), [line])
    platform.run()
    assert platform.status("shopify:1001") == "ready"


def test_an_order_that_ships_nothing_needs_no_address(platform):
    gift_card = good_line(
        sku="SKU-00293",
        quantity=1,
        unit_price=Decimal("25.00"),
        line_total=Decimal("25.00"),
        requires_shipping=False,
    )
    order = good_order(
        ship_name=None,
        ship_address1=None,
        ship_city=None,
        ship_region=None,
        ship_postal_code=None,
        ship_country=None,
        subtotal=Decimal("25.00"),
        shipping_amount=Decimal("0.00"),
        tax_amount=Decimal("0.00"),
        order_total=Decimal("25.00"),
    )
    platform.add(order, [gift_card])
    platform.run()
    assert platform.holds().is_empty()
    assert platform.status("shopify:1001") == "ready"


def test_one_rule_failing_on_several_lines_is_one_hold_listing_them(platform):
    lines = [good_line(line_no=n, sku=f"SKU-9999{n}") for n in (1, 2)]
    platform.add(good_order(subtotal=Decimal("59.96"), order_total=Decimal("67.46")), lines)
    platform.run()
    assert platform.holds()[["rule", "detail"]].rows() == [
        (
            "sku_known",
            'line 1: SKU "SKU-99991" is not in the catalogue; '
            'line 2: SKU "SKU-99992" is not in the catalogue',
        )
    ]


def test_the_later_of_two_identical_orders_is_a_duplicate(platform):
    platform.add(good_order("shopify:1"))
    platform.add(good_order("shopify:2", ordered_at=T0 - timedelta(hours=2) + timedelta(minutes=9)))
    # Same customer and items, but another address: a different order.
    platform.add(good_order("shopify:3", ship_address1="9 Elm St", ship_postal_code="94110"))
    platform.run()
    assert platform.status("shopify:1") == "ready"
    assert platform.status("shopify:3") == "ready"
    assert platform.holds("shopify:2")[["rule", "reason", "detail"]].rows() == [
        (
            "duplicate_order",
            "DUPLICATE_ORDER",
            "same customer, ship-to and items as shopify:1 placed 9 min earlier",
        )
    ]


def test_orders_repeated_outside_the_window_or_after_a_cancellation_are_not_duplicates(platform):
    platform.add(good_order("shopify:1", ordered_at=T0 - timedelta(hours=30)))
    platform.add(good_order("shopify:2"))  # 28 h later: window is 24 h
    # Another customer cancelled an order and placed it again ten minutes later.
    other = {"email": "bo@example.com", "customer_name": "Bo Li"}
    platform.add(
        good_order("shopify:3", status="cancelled", ordered_at=T0 - timedelta(hours=1), **other)
    )
    platform.add(good_order("shopify:4", ordered_at=T0 - timedelta(minutes=50), **other))
    platform.run()
    assert platform.holds().is_empty()
    assert [platform.status(f"shopify:{n}") for n in (1, 2, 4)] == ["ready"] * 3


def test_a_duplicate_of_an_order_validated_in_an_earlier_batch_is_caught(platform):
    platform.add(good_order("shopify:1"))
    platform.run()
    platform.add(good_order("shopify:2", ordered_at=T0 - timedelta(hours=1)))
    platform.run()
    assert platform.holds("shopify:2")["rule"].to_list() == ["duplicate_order"]


def test_every_finding_of_an_order_is_listed_in_its_hold_event(platform):
    platform.add(good_order(payment_status="pending", ship_postal_code="9410"))
    platform.run()
    assert set(platform.holds()["reason"]) == {"AWAITING_PAYMENT", "INCORRECT_ADDRESS"}
    (_, detail) = platform.events("shopify:1001")[-1]
    assert detail == (
        'on hold: INCORRECT_ADDRESS: postal code "9410" is not valid for US (e.g. 95014) | '
        'AWAITING_PAYMENT: payment is "pending" (needs paid or authorized)'
    )


def test_a_line_amazon_ships_from_its_own_stock_needs_no_catalogue_sku(platform):
    fba = good_line("amazon:111-1", sku="th1218", requires_shipping=False)
    platform.add(good_order("amazon:111-1", ship_address1=None, ship_name=None), [fba])
    platform.run()
    assert platform.holds().is_empty()
    assert platform.status("amazon:111-1") == "ready"


def test_a_non_usd_order_before_the_first_fx_rate_is_judged_at_the_earliest_rate(platform):
    # fx_rates.csv starts in June 2026; a JPY order from May is still converted.
    platform.add(
        good_order(
            currency="JPY",
            ordered_at=T0.replace(month=5),
            subtotal=Decimal("600000.00"),
            order_total=Decimal("600007.50"),
        ),
        [good_line(quantity=1, unit_price=Decimal("600000.00"), line_total=Decimal("600000.00"))],
    )
    platform.run()
    assert platform.holds()["rule"].to_list() == ["high_value"]


def test_a_zip_plus_four_variant_of_the_same_address_is_still_a_duplicate(platform):
    platform.add(good_order("amazon:1", ship_postal_code="94103-2266"), [good_line("amazon:1")])
    later = good_order(
        "amazon:2", ship_postal_code="94103-7242", ordered_at=T0 - timedelta(minutes=100)
    )
    platform.add(later, [good_line("amazon:2")])
    platform.run()
    assert platform.holds("amazon:2")["rule"].to_list() == ["duplicate_order"]
