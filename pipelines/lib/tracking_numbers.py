"""Carrier tracking numbers: build them from serials and check them, with each carrier's real
public check-digit scheme.

The shapes and prefixes match ``data/reference/carriers.csv`` (``tracking_prefix``,
``tracking_length``). Four families, each with its own check digit:

UPS ``1Z`` (18 characters)
    ``1Z`` + 6-character shipper number + 2-character service code + 7-character package
    reference + 1 check digit. Over the 15 characters after ``1Z``, letters become digits with
    ``(ord(c) - 63) % 10`` (A=2, B=3, ... H=9, I=0, J=1, ...); the sum of the characters in odd
    positions (1st, 3rd, ...) plus twice the sum of those in even positions gives
    ``check = (10 - sum % 10) % 10``. Known number: ``1Z999AA10123456784``.
    Catches every swap of two adjacent, different digits; misses a digit changed by 5 in an even
    position (2 × 5 ≡ 0 mod 10) and a letter changed into one with the same value (A ↔ K).

FedEx Express (12 digits, no prefix)
    11 digits + 1 check digit. The 11 digits, weighted **1, 3, 7, 1, 3, 7, ...** from the
    right (equivalently 3, 1, 7, 3, 1, 7, ... from the left), are summed; ``check = sum % 11 %
    10``. Known numbers: ``986578788855``, ``799531274483``. (Weights 1, 7, 3 from the right
    do *not* reproduce these published numbers, so 1, 3, 7 is the scheme.) Misses an error
    that moves ``sum % 11`` between 0 and 10, as both give check digit 0.

USPS IMpb domestic (22 digits: ``9400`` Ground Advantage, ``9405`` Priority, ``9470``
Priority Mail Express)
    21 digits + 1 check digit, the USPS mod 10 scheme (the same as GS1/UPC): from the right of
    the 21 digits, those in odd positions (rightmost first) weigh 3 and the others 1;
    ``check = (10 - sum % 10) % 10``. Known number: ``9400111201080805483016``. Catches every
    single-digit change; misses a swap of two adjacent digits that differ by 5 (0 ↔ 5, 1 ↔ 6,
    ...). ``9400111899223100012345``, a number often shown as an example, is *not* valid: its
    check digit should be 8.

USPS international, UPU S10 (13 characters, e.g. ``CP123456785US``)
    2-letter service indicator + 8-digit serial + 1 check digit + 2-letter country (ISO 3166).
    The serial digits weigh 8, 6, 4, 2, 3, 5, 9, 7; ``check = 11 - sum % 11``, with 10 written
    as 0 and 11 as 5. Known numbers: ``RB123456785GB`` (UPU S10 standard) and
    ``AA473124829GB``. Misses an error that moves ``sum % 11`` between 0 and 6 (both give 5).

:func:`make_tracking_numbers` turns integer serials (unique across runs: the caller's
sequence) into numbers: the serial is the UPS package reference, the FedEx 11-digit body, the
USPS IMpb serial after the prefix and a fixed mailer id (:data:`USPS_MAILER_ID`), or the S10
serial after ``CP`` (parcel post) and before ``US``. A serial that does not fit its field is a
``ValueError``, never silently truncated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import mul

#: Fixed, synthetic 9-digit USPS Mailer ID placed after the 4-digit IMpb prefix.
USPS_MAILER_ID = "123456789"
#: IMpb prefix of each USPS domestic service, by ``carriers.csv`` ``service_code``.
USPS_PREFIXES = {"GroundAdvantage": "9400", "Priority": "9405", "Express": "9470"}
#: S10 service indicator (parcel post) and country of the USPS international numbers we make.
S10_SERVICE = "CP"
S10_COUNTRY = "US"

_UPS_WEIGHTS = tuple(1 if i % 2 == 0 else 2 for i in range(15))
_FEDEX_WEIGHTS = tuple((1, 3, 7)[(10 - i) % 3] for i in range(11))
_USPS_WEIGHTS = tuple(3 if (20 - i) % 2 == 0 else 1 for i in range(21))
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)

_UPS_BODY = re.compile(r"1Z[0-9A-Z]{15}")
_FEDEX_BODY = re.compile(r"[0-9]{11}")
_USPS_BODY = re.compile(r"[0-9]{21}")
_S10_BODY = re.compile(r"(?:[A-Z]{2})?([0-9]{8})(?:[A-Z]{2})?")

_UPS = re.compile(r"1Z[0-9A-Z]{15}[0-9]")
_FEDEX = re.compile(r"[0-9]{12}")
_USPS = re.compile(r"9[0-9]{21}")
_S10 = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")


def _mod10(total: int) -> int:
    return (10 - total % 10) % 10


def _fedex_final(total: int) -> int:
    return total % 11 % 10


def _s10_final(total: int) -> int:
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def _ups_values(chars: str) -> list[int]:
    return [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in chars]


def _weighted(values: Sequence[int], weights: Sequence[int]) -> int:
    return sum(map(mul, values, weights))


def _carrier(carrier: str) -> str:
    key = carrier.strip().upper()
    if key not in ("UPS", "FEDEX", "USPS"):
        raise ValueError(f"unknown carrier {carrier!r}: expected UPS, FedEx or USPS")
    return key


def check_digit(carrier: str, body: str, *, international: bool = False) -> str:
    """The check digit of a tracking number given without it.

    ``body`` is ``1Z`` + 15 characters for UPS, 11 digits for FedEx, 21 digits for USPS
    domestic, and for USPS ``international`` the S10 number without its check digit
    (``CP12345678US``, ``CP12345678`` or just the 8 serial digits). UPS and FedEx use one scheme
    whatever the destination, so ``international`` only matters for USPS.
    """
    key = _carrier(carrier)
    if key == "UPS":
        if not _UPS_BODY.fullmatch(body):
            raise ValueError(f"UPS body must be '1Z' + 15 letters or digits, got {body!r}")
        return str(_mod10(_weighted(_ups_values(body[2:]), _UPS_WEIGHTS)))
    if key == "FEDEX":
        if not _FEDEX_BODY.fullmatch(body):
            raise ValueError(f"FedEx body must be 11 digits, got {body!r}")
        return str(_fedex_final(_weighted(list(map(int, body)), _FEDEX_WEIGHTS)))
    if international:
        match = _S10_BODY.fullmatch(body)
        if not match:
            raise ValueError(f"S10 body must hold an 8-digit serial, got {body!r}")
        return str(_s10_final(_weighted(list(map(int, match[1])), _S10_WEIGHTS)))
    if not _USPS_BODY.fullmatch(body):
        raise ValueError(f"USPS IMpb body must be 21 digits, got {body!r}")
    return str(_mod10(_weighted(list(map(int, body)), _USPS_WEIGHTS)))


def is_valid(tracking_number: str) -> bool:
    """Whether ``tracking_number`` has the shape of one of the four families and its check
    digit is right. Spaces are ignored; letters must be upper case."""
    if not isinstance(tracking_number, str):
        return False
    number = tracking_number.replace(" ", "")
    if _UPS.fullmatch(number):
        return check_digit("UPS", number[:-1]) == number[-1]
    if _FEDEX.fullmatch(number):
        return check_digit("FedEx", number[:-1]) == number[-1]
    if _USPS.fullmatch(number):
        return check_digit("USPS", number[:-1]) == number[-1]
    if _S10.fullmatch(number):
        return check_digit("USPS", number[2:10], international=True) == number[10]
    return False


def _build(
    serials: Sequence[int],
    width: int,
    fixed_total: int,
    weights: Sequence[int],
    final: Callable[[int], int],
    head: str,
    tail: str = "",
) -> list[str]:
    """``head`` + serial zero-padded to ``width`` + check digit + ``tail`` for each serial.

    ``fixed_total`` is the weighted sum of the fixed characters and ``weights`` those of the
    serial's digits, so each number costs one short weighted sum (the digits are read as
    ASCII codes, hence the ``48 * sum(weights)`` correction)."""
    limit = 10**width
    ascii_zero = 48 * sum(weights)
    out = []
    for serial in serials:
        if isinstance(serial, bool) or not isinstance(serial, int) or not 0 <= serial < limit:
            raise ValueError(f"serial {serial!r} does not fit {width} digits (0 to {limit - 1})")
        digits = f"{serial:0{width}d}"
        total = fixed_total + sum(map(mul, digits.encode(), weights)) - ascii_zero
        out.append(f"{head}{digits}{final(total)}{tail}")
    return out


def make_tracking_numbers(
    carrier: str,
    service_code: str,
    serials: Sequence[int],
    *,
    shipper: str = "A1B2C3",
    international: bool = False,
    prefix: str | None = None,
) -> list[str]:
    """Tracking numbers for ``serials`` (non-negative integers, unique across runs).

    - UPS: ``1Z`` + ``shipper`` (6 letters/digits) + ``service_code`` zero-padded to 2 + the
      serial in the 7-digit reference (below 10,000,000) + check digit.
    - FedEx: the serial as the 11-digit body (below 10**11) + check digit; ``service_code`` is
      not part of the number.
    - USPS domestic: ``prefix`` (default: :data:`USPS_PREFIXES` of ``service_code``) +
      :data:`USPS_MAILER_ID` + the serial zero-padded to 21 digits in all (8 digits with a
      4-digit prefix) + check digit.
    - USPS ``international``: ``CP`` + 8-digit serial + check digit + ``US``.

    Raises ``ValueError`` for an unknown carrier or service, a malformed shipper or prefix, or
    a serial that does not fit its field.
    """
    key = _carrier(carrier)
    if key == "UPS":
        code = service_code.strip().upper().zfill(2)
        if not re.fullmatch(r"[0-9A-Z]{2}", code):
            raise ValueError(
                f"UPS service code must be 1-2 letters or digits, got {service_code!r}"
            )
        if not re.fullmatch(r"[0-9A-Z]{6}", shipper):
            raise ValueError(f"UPS shipper number must be 6 letters or digits, got {shipper!r}")
        fixed = shipper + code
        fixed_total = _weighted(_ups_values(fixed), _UPS_WEIGHTS)
        return _build(serials, 7, fixed_total, _UPS_WEIGHTS[8:], _mod10, "1Z" + fixed)
    if key == "FEDEX":
        return _build(serials, 11, 0, _FEDEX_WEIGHTS, _fedex_final, "")
    if international:
        return _build(serials, 8, 0, _S10_WEIGHTS, _s10_final, S10_SERVICE, S10_COUNTRY)
    if prefix is None:
        if service_code not in USPS_PREFIXES:
            raise ValueError(f"no USPS IMpb prefix known for service code {service_code!r}")
        prefix = USPS_PREFIXES[service_code]
    if not re.fullmatch(r"9[0-9]{3}", prefix):
        raise ValueError(f"USPS IMpb prefix must be 4 digits starting with 9, got {prefix!r}")
    fixed = prefix + USPS_MAILER_ID
    fixed_total = _weighted(list(map(int, fixed)), _USPS_WEIGHTS)
    width = 21 - len(fixed)
    return _build(serials, width, fixed_total, _USPS_WEIGHTS[len(fixed) :], _mod10, fixed)
