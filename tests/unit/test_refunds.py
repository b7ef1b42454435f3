"""Refund calculator: hand-computed cases, validation, and a property test."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.lib.refunds import (
    MERCHANT_FAULT,
    REASONS,
    LineMoney,
    OrderMoney,
    RefundPolicy,
    ReturnedUnits,
    refund_for,
)

NO_FEE = RefundPolicy()
TEN_PERCENT = RefundPolicy(D("10"))


def _simple() -> tuple[OrderMoney, list[LineMoney]]:
    # 2 x 25.00, tax 8% = 4.00, shipping 5.00 -> 59.00
    order = OrderMoney(D("50.00"), D("5.00"), D("4.00"), D("0.00"), D("59.00"), False, "USD")
    return order, [LineMoney(1, 2, D("25.00"), D("0.00"), D("50.00"))]


def _discounted() -> tuple[OrderMoney, list[LineMoney]]:
    # line 1: 2 x 30.00 - 10.00 = 50.00; line 2: 1 x 50.00 = 50.00; subtotal 100.00
    # order discount 20.00, tax 8.00 (on 80.00), shipping 6.00 -> 100 - 20 + 6 + 8 = 94.00
    order = OrderMoney(D("100.00"), D("6.00"), D("8.00"), D("20.00"), D("94.00"), False, "EUR")
    lines = [
        LineMoney(1, 2, D("30.00"), D("10.00"), D("50.00")),
        LineMoney(2, 1, D("50.00"), D("0.00"), D("50.00")),
    ]
    return order, lines


def test_not_wanted_with_restocking_fee():
    order, lines = _simple()
    refund = refund_for(order, lines, [ReturnedUnits(1, 1, "NOT_WANTED")], TEN_PERCENT)
    # 25.00 + tax 2.00 - 10% of 25.00 = 24.50; no shipping
    assert refund.merchandise == D("25.00")
    assert refund.tax_share == D("2.00")
    assert refund.restocking_fee == D("2.50")
    assert refund.shipping == D("0.00")
    assert refund.amount == D("24.50")
    assert refund.cap_adjustment == 0
    assert "shipping not refunded" in refund.explanation


def test_defective_includes_shipping_and_no_fee():
    order, lines = _simple()
    refund = refund_for(order, lines, [ReturnedUnits(1, 1, "DEFECTIVE")], TEN_PERCENT)
    # 25.00 + tax 2.00 + shipping 5.00, no restocking fee for a merchant fault
    assert refund.restocking_fee == D("0.00")
    assert refund.shipping == D("5.00")
    assert refund.amount == D("32.00")
    assert "merchant fault: DEFECTIVE" in refund.explanation


def test_mixed_reasons_on_one_line_fee_only_on_customer_part():
    order, lines = _simple()
    refund = refund_for(
        order,
        lines,
        [ReturnedUnits(1, 1, "WRONG_ITEM"), ReturnedUnits(1, 1, "SIZE_EXCHANGE")],
        TEN_PERCENT,
    )
    # 2 x (25.00 + 2.00) + shipping 5.00 - 10% of 25.00 (size exchange only) = 56.50
    assert [s.restocking_fee for s in refund.lines] == [D("0.00"), D("2.50")]
    assert refund.amount == D("56.50")


def test_line_and_order_discount_shared_pro_rata():
    order, lines = _discounted()
    refund = refund_for(order, lines, [ReturnedUnits(1, 1, "NOT_WANTED")], NO_FEE)
    # 30.00 - line discount 10.00/2 - order discount (20 x 50/100)/2 + tax (8 x 50/100)/2
    (line,) = refund.lines
    assert (line.merchandise, line.line_discount_share) == (D("30.00"), D("5.00"))
    assert (line.order_discount_share, line.tax_share) == (D("5.00"), D("2.00"))
    assert refund.discount_share == D("10.00")
    assert refund.amount == D("22.00")
    assert refund.currency == "EUR"

    refund = refund_for(order, lines, [ReturnedUnits(2, 1, "WRONG_ITEM")], NO_FEE)
    # 50.00 - order discount 10.00 + tax 4.00 + shipping 6.00
    assert refund.amount == D("50.00")


def test_restocking_fee_is_on_net_merchandise():
    order, lines = _discounted()
    refund = refund_for(order, lines, [ReturnedUnits(1, 1, "OTHER")], TEN_PERCENT)
    # net 30 - 5 - 5 = 20.00 -> fee 2.00; 22.00 - 2.00
    assert refund.restocking_fee == D("2.00")
    assert refund.amount == D("20.00")


def test_tax_inclusive_prices_have_no_tax_share():
    order = OrderMoney(D("120.00"), D("0.00"), D("20.00"), D("0.00"), D("120.00"), True, "GBP")
    lines = [LineMoney(1, 1, D("120.00"), D("0.00"), D("120.00"))]
    refund = refund_for(order, lines, [ReturnedUnits(1, 1, "NOT_WANTED")], NO_FEE)
    assert refund.tax_share == D("0.00")
    assert refund.amount == D("120.00")
    assert "prices include tax" in refund.explanation


def test_partial_quantity_odd_cent_discount_rounds_half_up_and_adds_up():
    # 2 x 10.00 - 0.05 = 19.95: first unit's discount share 0.025 -> 0.03 (half up)
    order = OrderMoney(D("19.95"), D("0.00"), D("0.00"), D("0.00"), D("19.95"))
    lines = [LineMoney(1, 2, D("10.00"), D("0.05"), D("19.95"))]
    first = refund_for(order, lines, [ReturnedUnits(1, 1, "NOT_WANTED")], NO_FEE)
    assert first.discount_share == D("0.03")
    assert first.amount == D("9.97")
    second = refund_for(
        order,
        lines,
        [ReturnedUnits(1, 1, "NOT_WANTED")],
        NO_FEE,
        already_refunded=first.amount,
        previously_returned=[ReturnedUnits(1, 1, "NOT_WANTED")],
    )
    assert second.discount_share == D("0.02")
    assert second.amount == D("9.98")
    assert first.amount + second.amount == order.order_total


def test_thirds_carry_rounding_across_refunds():
    # 3 x 10.00 - 1.00 = 29.00; shares 0.33, 0.34, 0.33
    order = OrderMoney(D("29.00"), D("0.00"), D("0.00"), D("0.00"), D("29.00"))
    lines = [LineMoney(1, 3, D("10.00"), D("1.00"), D("29.00"))]
    amounts, before, total = [], [], D(0)
    for _ in range(3):
        refund = refund_for(
            order,
            lines,
            [ReturnedUnits(1, 1, "OTHER")],
            NO_FEE,
            already_refunded=total,
            previously_returned=before,
        )
        amounts.append(refund.amount)
        total += refund.amount
        before = [*before, ReturnedUnits(1, 1, "OTHER")]
    assert amounts == [D("9.67"), D("9.66"), D("9.67")]
    assert total == D("29.00")


def test_returning_everything_gives_back_what_was_paid():
    order, lines = _discounted()
    refund = refund_for(
        order,
        lines,
        [ReturnedUnits(1, 2, "NOT_WANTED"), ReturnedUnits(2, 1, "DEFECTIVE")],
        NO_FEE,
    )
    assert refund.amount == order.order_total == D("94.00")
    assert refund.cap_adjustment == 0


def test_second_return_of_the_rest_refunds_shipping_once():
    order, lines = _discounted()
    first_units = [ReturnedUnits(1, 1, "DEFECTIVE")]
    first = refund_for(order, lines, first_units, NO_FEE)
    assert first.amount == D("28.00")  # 22.00 + shipping 6.00
    second = refund_for(
        order,
        lines,
        [ReturnedUnits(1, 1, "WRONG_ITEM"), ReturnedUnits(2, 1, "DAMAGED_IN_TRANSIT")],
        NO_FEE,
        already_refunded=first.amount,
        shipping_already_refunded=first.shipping,
        previously_returned=first_units,
    )
    assert second.shipping == D("0.00")
    assert second.amount == D("66.00")  # 22.00 + (50.00 - 10.00 + 4.00)
    assert first.amount + second.amount == order.order_total
    assert "already refunded" in second.explanation


def test_cap_at_order_total_minus_already_refunded():
    order, lines = _simple()
    refund = refund_for(
        order, lines, [ReturnedUnits(1, 1, "DEFECTIVE")], NO_FEE, already_refunded=D("50.00")
    )
    assert refund.amount == D("9.00")
    assert refund.cap_adjustment == D("-23.00")
    assert "capped" in refund.explanation
    refund = refund_for(
        order, lines, [ReturnedUnits(1, 1, "DEFECTIVE")], NO_FEE, already_refunded=D("70.00")
    )
    assert refund.amount == D("0.00")


@pytest.mark.parametrize(
    ("returning", "kwargs", "message"),
    [
        ([ReturnedUnits(1, 3, "NOT_WANTED")], {}, "units left to return"),
        ([ReturnedUnits(1, 0, "NOT_WANTED")], {}, ">= 1"),
        ([ReturnedUnits(1, -1, "NOT_WANTED")], {}, ">= 1"),
        ([ReturnedUnits(9, 1, "NOT_WANTED")], {}, "unknown line_no"),
        ([ReturnedUnits(1, 1, "CHANGED_MIND")], {}, "unknown reason"),
        ([], {}, "nothing"),
        (
            [ReturnedUnits(1, 1, "NOT_WANTED"), ReturnedUnits(1, 2, "DEFECTIVE")],
            {},
            "units left to return",
        ),
        (
            [ReturnedUnits(1, 2, "NOT_WANTED")],
            {"previously_returned": [ReturnedUnits(1, 1, "DEFECTIVE")]},
            "never issued twice",
        ),
        ([ReturnedUnits(1, 1, "NOT_WANTED")], {"already_refunded": D("-1")}, "negative"),
    ],
)
def test_validation_errors(returning, kwargs, message):
    order, lines = _simple()
    with pytest.raises(ValueError, match=message):
        refund_for(order, lines, returning, NO_FEE, **kwargs)


def test_validation_of_money():
    order, lines = _simple()
    units = [ReturnedUnits(1, 1, "NOT_WANTED")]
    with pytest.raises(ValueError, match="<= 100"):
        refund_for(order, lines, units, RefundPolicy(D("101")))
    with pytest.raises(ValueError, match="negative"):
        refund_for(order, lines, units, RefundPolicy(D("-5")))
    with pytest.raises(ValueError, match="line_total"):
        refund_for(order, [LineMoney(1, 2, D("25.00"), D("0.00"), D("60.00"))], units, NO_FEE)
    with pytest.raises(ValueError, match="subtotal"):
        refund_for(order, [*lines, LineMoney(2, 1, D("1.00"), D("0"), D("1.00"))], units, NO_FEE)
    with pytest.raises(ValueError, match="duplicate"):
        refund_for(order, [*lines, *lines], units, NO_FEE)
    with pytest.raises(ValueError, match="negative"):
        refund_for(order, [LineMoney(1, 2, D("-25.00"), D("0"), D("-50.00"))], units, NO_FEE)
    with pytest.raises(TypeError, match="Decimal"):
        refund_for(order, lines, units, NO_FEE, already_refunded=1.5)


@st.composite
def _orders_and_returns(draw):
    cents = st.integers(min_value=0, max_value=50_000)
    lines = []
    for line_no in range(1, draw(st.integers(1, 4)) + 1):
        quantity = draw(st.integers(1, 5))
        unit_price = D(draw(cents)) / 100
        line_discount = D(draw(st.integers(0, int(quantity * unit_price * 100)))) / 100
        total = quantity * unit_price - line_discount
        lines.append(LineMoney(line_no, quantity, unit_price, line_discount, total))
    subtotal = sum((line.line_total for line in lines), D("0.00"))
    discount = D(draw(st.integers(0, int(subtotal * 100)))) / 100
    shipping, tax = D(draw(cents)) / 100, D(draw(cents)) / 100
    included = draw(st.booleans())
    order_total = subtotal - discount + shipping + (0 if included else tax)
    order = OrderMoney(subtotal, shipping, tax, discount, order_total, included)
    first, second = [], []
    for line in lines:
        back = draw(st.integers(0, line.quantity))
        now = draw(st.integers(0, back))
        for units, into in ((now, first), (back - now, second)):
            if units:
                into.append(ReturnedUnits(line.line_no, units, draw(st.sampled_from(REASONS))))
    policy = RefundPolicy(D(draw(st.integers(0, 100))))
    return order, lines, first, second, policy


@settings(max_examples=300, deadline=None)
@given(_orders_and_returns())
def test_two_refunds_never_exceed_order_total(case):
    order, lines, first_units, second_units, policy = case
    refunded, shipping_refunded, refunds = D("0.00"), D("0.00"), []
    before: list[ReturnedUnits] = []
    for units in (first_units, second_units):
        if not units:
            continue
        refund = refund_for(
            order,
            lines,
            units,
            policy,
            already_refunded=refunded,
            shipping_already_refunded=shipping_refunded,
            previously_returned=before,
        )
        assert refund.amount >= 0
        assert refund.amount == refund.amount.quantize(D("0.01"))
        refunds.append(refund)
        refunded += refund.amount
        shipping_refunded += refund.shipping
        before = [*before, *units]
    assert refunded <= order.order_total
    assert shipping_refunded <= order.shipping_amount
    everything = all(
        sum(u.quantity for u in before if u.line_no == line.line_no) == line.quantity
        for line in lines
    )
    no_fee = policy.restocking_fee_percent == 0 or all(u.reason in MERCHANT_FAULT for u in before)
    faulty = any(u.reason in MERCHANT_FAULT for u in before)
    if everything and no_fee and (faulty or order.shipping_amount == 0):
        assert refunded == order.order_total


def test_tax_on_free_lines_is_shared_equally_and_given_back_in_full():
    # Found by the property above: every line free, yet a cent of tax charged. With no net
    # value to allocate by, the lines share it equally, so returning everything returns it.
    order = OrderMoney(D("0.00"), D("0.00"), D("0.01"), D("0.00"), D("0.01"))
    lines = [LineMoney(1, 1, D("0.00"), D("0.00"), D("0.00"))]
    refund = refund_for(order, lines, [ReturnedUnits(1, 1, "NOT_WANTED")], NO_FEE)
    assert (refund.amount, refund.tax_share) == (D("0.01"), D("0.01"))


def test_a_derived_unit_price_a_cent_off_refunds_what_the_line_charged():
    # Amazon gives item-price per line: 10.00 for 3 units, so the unit price is 3.33 and the
    # line does not add up to the cent (validation tolerates half a cent a unit). The units,
    # returned one at a time, give back exactly the 10.00 the line charged.
    order = OrderMoney(D("10.00"), D("0.00"), D("0.00"), D("0.00"), D("10.00"))
    lines = [LineMoney(1, 3, D("3.33"), D("0.00"), D("10.00"))]
    paid, before, notes = [], [], []
    for _ in range(3):
        refund = refund_for(
            order,
            lines,
            [ReturnedUnits(1, 1, "NOT_WANTED")],
            NO_FEE,
            already_refunded=sum(paid, D("0")),
            previously_returned=before,
        )
        paid.append(refund.amount)
        notes.append(refund.explanation)
        before.append(ReturnedUnits(1, 1, "NOT_WANTED"))
    assert paid == [D("3.33"), D("3.34"), D("3.33")]
    assert "1 x 3.33 = 3.34 (of the line's total)" in notes[1]
    # Beyond the tolerance it is still an error.
    with pytest.raises(ValueError, match="line_total"):
        refund_for(order, [LineMoney(1, 3, D("3.30"), D("0"), D("10.00"))], [], NO_FEE)
