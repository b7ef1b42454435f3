"""Refund calculator for returns: pure Decimal arithmetic, no database.

Requirement: *amount = returned units x unit price - line discount share + tax share, plus
shipping when the reason is the merchant's fault, minus a restocking fee where the policy sets
one (percentage, not for the merchant's faults); computed in Decimal to the cent and never
exceeding what was paid for those units; refunds never issued twice.*

Money follows :mod:`pipelines.lib.schema` (``MONEY = DECIMAL(18,2)``): ``line_total =
quantity x unit_price - line_discount``, ``subtotal = sum(line_total)`` and ``order_total =
subtotal - discount_amount + shipping_amount (+ tax_amount unless prices_include_tax)``.

API::

    refund_for(order, lines, returning, policy, *, already_refunded=0,
               shipping_already_refunded=0, previously_returned=()) -> Refund

* ``order`` (:class:`OrderMoney`), ``lines`` (:class:`LineMoney`, *all* of the order's lines),
  ``returning`` (:class:`ReturnedUnits`, one or more slices; a line may appear more than once,
  e.g. one unit DEFECTIVE and one NOT_WANTED), ``policy`` (:class:`RefundPolicy`).
* ``already_refunded`` / ``shipping_already_refunded``: what earlier refunds of this order paid
  out in total / for shipping. ``previously_returned``: the units those earlier refunds covered,
  so the same unit cannot be refunded twice and cent rounding carries on where it stopped.
* Returns a :class:`Refund` with the components, a per-slice breakdown (:class:`RefundLine`)
  and a human-readable ``explanation``.

Rules (``share(C)`` below is the rounding scheme described after the list):

1. merchandise = share(line_total + line_discount) over the line's units: units x unit_price
   exactly when the line adds up; when a channel's derived unit price is a rounding off (the
   tolerance below), what the line really charged is shared instead, so its units still add
   up to it exactly.
2. line discount share = share(line_discount) over the line's units.
3. order discount share: ``discount_amount`` is first allocated to the lines pro rata to their
   ``line_total`` (net value) over the order's net merchandise (``subtotal``); the line's part is
   then share()d over its units.
4. tax share: likewise ``tax_amount`` is allocated pro rata to net value over net merchandise
   (equally over the lines when every line is free) and
   share()d over the units. When ``prices_include_tax`` the tax is inside the price: tax share
   is 0 (the explanation says so).
5. shipping: refunded in full, less ``shipping_already_refunded``, only if any returned slice's
   reason is in :data:`MERCHANT_FAULT`; otherwise 0.
6. restocking fee: ``policy.restocking_fee_percent`` % of the net merchandise (merchandise - line
   discount share - order discount share) of the slices whose reason is *not* a merchant fault,
   rounded half-up per slice. Never charged for DEFECTIVE, WRONG_ITEM, DAMAGED_IN_TRANSIT.
7. slice amount = merchandise - discount shares + tax share - restocking fee, floored at 0;
   refund amount = sum of slices + shipping, capped to ``order_total - already_refunded``
   (never below 0); any cut shows as ``cap_adjustment`` (<= 0).

Rounding (ROUND_HALF_UP to the cent, in this order, so results are deterministic):

* order -> lines: lines are taken in ``line_no`` order and a total T is allocated
  cumulatively: line i gets ``round(T x W_i / W) - round(T x W_(i-1) / W)`` where W_i is the
  running sum of line_totals. The parts sum to T exactly.
* line -> units: a line component C (line discount, the line's order discount, the line's tax)
  for ``u`` units after ``p`` units already returned is
  ``share(C) = round(C x (p+u) / q) - round(C x p / q)``. The shares of all a line's units, over
  any number of refunds, sum to C exactly - so returning everything (at once or in parts) gives
  back exactly what was paid for the line, never a cent more.
* fee per slice, then sums. The cap is applied last.

Validation (``ValueError``): unknown reason, unknown or duplicate ``line_no``, returned quantity
< 1 or more than the line's quantity minus what was already returned, negative money or
percent > 100, ``line_total`` off ``quantity x unit_price - line_discount`` by more than
:func:`line_tolerance` (validation's own: half a cent a unit, at least a cent), ``subtotal``
off the sum of line totals by more than a cent, order discount above the subtotal, negative
``already_refunded``. Floats are rejected (``TypeError``): money is Decimal (ints are
accepted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from pipelines.lib.schema import RETURN_REASONS

REASONS = RETURN_REASONS
MERCHANT_FAULT = frozenset({"DEFECTIVE", "WRONG_ITEM", "DAMAGED_IN_TRANSIT"})

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class OrderMoney:
    """Order-level money, as in ``oms.orders``."""

    subtotal: Decimal
    shipping_amount: Decimal
    tax_amount: Decimal
    discount_amount: Decimal  # order-level discount
    order_total: Decimal
    prices_include_tax: bool = False
    currency: str = "USD"


@dataclass(frozen=True)
class LineMoney:
    """One order line's money, as in ``oms.order_lines``."""

    line_no: int
    quantity: int
    unit_price: Decimal
    line_discount: Decimal
    line_total: Decimal


@dataclass(frozen=True)
class ReturnedUnits:
    """Units of one line coming back, and why (one of :data:`REASONS`)."""

    line_no: int
    quantity: int
    reason: str


@dataclass(frozen=True)
class RefundPolicy:
    """``restocking_fee_percent``: 0-100, charged only for non-merchant-fault returns."""

    restocking_fee_percent: Decimal = Decimal("0")


@dataclass(frozen=True)
class RefundLine:
    """The refund for one :class:`ReturnedUnits` slice."""

    line_no: int
    quantity: int
    reason: str
    merchandise: Decimal
    line_discount_share: Decimal
    order_discount_share: Decimal
    tax_share: Decimal
    restocking_fee: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Refund:
    """``amount = merchandise - discount_share + tax_share + shipping - restocking_fee
    + cap_adjustment`` (``cap_adjustment`` <= 0 only when a cap applied)."""

    amount: Decimal
    merchandise: Decimal
    discount_share: Decimal  # line + order discount shares
    tax_share: Decimal
    shipping: Decimal
    restocking_fee: Decimal
    cap_adjustment: Decimal
    currency: str
    lines: tuple[RefundLine, ...]
    explanation: str


def _cent(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _money(value: Decimal | int, name: str) -> Decimal:
    if type(value) is Decimal:  # the usual case, checked first (refunds come by the 10,000)
        amount = value
    elif isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal (or int), got {type(value).__name__}")
    else:
        amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"{name} must be finite, got {amount}")
    if amount < 0:
        raise ValueError(f"{name} must not be negative, got {amount}")
    return amount


def _allocate(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split ``total`` pro rata to ``weights`` by cumulative rounding; parts sum to ``total``.
    All-zero weights (every line free, yet tax charged) share it equally."""
    whole = sum(weights, Decimal(0))
    if whole == 0:
        weights = [Decimal(1)] * len(weights)
        whole = Decimal(len(weights))
    parts, running, before = [], Decimal(0), ZERO
    for weight in weights:
        running += weight
        upto = _cent(total * running / whole)
        parts.append(upto - before)
        before = upto
    return parts


def line_tolerance(quantity: int) -> Decimal:
    """How far a line total may be off quantity x unit_price - discount: a unit price the
    channel did not give but was derived (line total / quantity, to the cent) is off by up to
    half a cent a unit (the validation rule's tolerance, pipelines/lib/quality/prepare.py)."""
    return CENT * max(1, quantity // 2)


def _share(component: Decimal, prior: int, units: int, quantity: int) -> Decimal:
    """Share of a line ``component`` for ``units`` after ``prior`` of ``quantity`` units."""
    return _cent(component * (prior + units) / quantity) - _cent(component * prior / quantity)


def _validate_lines(order: OrderMoney, lines: Sequence[LineMoney]) -> dict[int, LineMoney]:
    by_no: dict[int, LineMoney] = {}
    for line in lines:
        if line.line_no in by_no:
            raise ValueError(f"duplicate line_no {line.line_no}")
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int):
            raise TypeError(f"line {line.line_no}: quantity must be an int")
        if line.quantity < 1:
            raise ValueError(f"line {line.line_no}: quantity must be >= 1, got {line.quantity}")
        _money(line.unit_price, f"line {line.line_no} unit_price")
        _money(line.line_discount, f"line {line.line_no} line_discount")
        _money(line.line_total, f"line {line.line_no} line_total")
        expected = line.quantity * line.unit_price - line.line_discount
        if abs(line.line_total - expected) > line_tolerance(line.quantity):
            raise ValueError(
                f"line {line.line_no}: line_total {line.line_total} != quantity x unit_price - "
                f"line_discount = {expected}"
            )
        by_no[line.line_no] = line
    for name in ("subtotal", "shipping_amount", "tax_amount", "discount_amount", "order_total"):
        _money(getattr(order, name), name)
    lines_total = sum((line.line_total for line in lines), Decimal(0))
    if abs(order.subtotal - lines_total) > CENT:
        raise ValueError(
            f"subtotal {order.subtotal} != sum of line totals {lines_total} "
            "(pass all of the order's lines)"
        )
    if order.discount_amount > order.subtotal:
        raise ValueError(
            f"order discount {order.discount_amount} exceeds the subtotal {order.subtotal}"
        )
    return by_no


def refund_for(
    order: OrderMoney,
    lines: Sequence[LineMoney],
    returning: Sequence[ReturnedUnits],
    policy: RefundPolicy,
    *,
    already_refunded: Decimal | int = 0,
    shipping_already_refunded: Decimal | int = 0,
    previously_returned: Sequence[ReturnedUnits] = (),
) -> Refund:
    """Refund for ``returning`` units of ``order``; see the module docstring for the rules."""
    by_no = _validate_lines(order, lines)
    already = _money(already_refunded, "already_refunded")
    shipping_already = _money(shipping_already_refunded, "shipping_already_refunded")
    percent = _money(policy.restocking_fee_percent, "restocking_fee_percent")
    if percent > 100:
        raise ValueError(f"restocking_fee_percent must be <= 100, got {percent}")
    if not returning:
        raise ValueError("nothing is being returned")

    ordered = sorted(by_no.values(), key=lambda line: line.line_no)
    numbers = [line.line_no for line in ordered]
    weights = [line.line_total for line in ordered]
    order_discounts = dict(zip(numbers, _allocate(order.discount_amount, weights), strict=True))
    tax_total = ZERO if order.prices_include_tax else order.tax_amount
    taxes = dict(zip(numbers, _allocate(tax_total, weights), strict=True))

    returned: dict[int, int] = dict.fromkeys(by_no, 0)

    def _take(units: ReturnedUnits, what: str) -> tuple[LineMoney, int]:
        if units.reason not in REASONS:
            raise ValueError(f"{what}: unknown reason {units.reason!r}; expected one of {REASONS}")
        if units.line_no not in by_no:
            raise ValueError(f"{what}: unknown line_no {units.line_no}")
        if isinstance(units.quantity, bool) or not isinstance(units.quantity, int):
            raise TypeError(f"{what}: quantity must be an int")
        if units.quantity < 1:
            raise ValueError(f"{what}: quantity must be >= 1, got {units.quantity}")
        line, prior = by_no[units.line_no], returned[units.line_no]
        if prior + units.quantity > line.quantity:
            raise ValueError(
                f"{what}: line {line.line_no} has {line.quantity - prior} of {line.quantity} "
                f"units left to return, not {units.quantity} (refunds are never issued twice)"
            )
        returned[units.line_no] = prior + units.quantity
        return line, prior

    for units in previously_returned:
        _take(units, "previously returned")

    slices: list[RefundLine] = []
    notes: list[str] = []
    for units in returning:
        line, prior = _take(units, "returning")
        gross = line.line_total + line.line_discount
        merchandise = _share(gross, prior, units.quantity, line.quantity)
        line_disc = _share(line.line_discount, prior, units.quantity, line.quantity)
        order_disc = _share(order_discounts[line.line_no], prior, units.quantity, line.quantity)
        tax = _share(taxes[line.line_no], prior, units.quantity, line.quantity)
        net = merchandise - line_disc - order_disc
        fee = ZERO
        if units.reason not in MERCHANT_FAULT and percent:
            fee = _cent(net * percent / 100)
        amount = max(ZERO, _cent(net + tax - fee))
        slices.append(
            RefundLine(
                line.line_no,
                units.quantity,
                units.reason,
                _cent(merchandise),
                line_disc,
                order_disc,
                tax,
                fee,
                amount,
            )
        )
        note = (
            f"line {line.line_no} ({units.reason}): {units.quantity} x {line.unit_price} = "
            f"{_cent(merchandise)}"
            + ("" if merchandise == units.quantity * line.unit_price else " (of the line's total)")
            + f", line discount -{line_disc}, order discount -{order_disc}, "
            f"tax +{tax}"
        )
        if fee:
            note += f", restocking fee {percent}% of {_cent(net)} = -{fee}"
        notes.append(note + f" -> {amount}")

    if order.prices_include_tax:
        notes.append("prices include tax: the tax is inside the unit price, tax share 0")
    faults = sorted({s.reason for s in slices} & MERCHANT_FAULT)
    if faults:
        shipping = max(ZERO, _cent(order.shipping_amount - shipping_already))
        notes.append(
            f"shipping {order.shipping_amount} refunded (merchant fault: {', '.join(faults)})"
            + (f", {shipping_already} of it already refunded" if shipping_already else "")
            + f" -> {shipping}"
        )
    else:
        shipping = ZERO
        notes.append("shipping not refunded (no merchant-fault reason)")

    uncapped = sum((s.amount for s in slices), ZERO) + shipping
    limit = max(ZERO, _cent(order.order_total - already))
    amount = min(uncapped, limit)
    if amount < uncapped:
        notes.append(
            f"capped at order_total {order.order_total} - already refunded {already} = {limit}"
        )
    merchandise_sum = sum((s.merchandise for s in slices), ZERO)
    discount_sum = sum((s.line_discount_share + s.order_discount_share for s in slices), ZERO)
    tax_sum = sum((s.tax_share for s in slices), ZERO)
    fee_sum = sum((s.restocking_fee for s in slices), ZERO)
    formula = merchandise_sum - discount_sum + tax_sum + shipping - fee_sum
    notes.append(f"refund {amount} {order.currency}")
    return Refund(
        amount=amount,
        merchandise=merchandise_sum,
        discount_share=discount_sum,
        tax_share=tax_sum,
        shipping=shipping,
        restocking_fee=fee_sum,
        cap_adjustment=amount - formula,
        currency=order.currency,
        lines=tuple(slices),
        explanation="; ".join(notes),
    )
