"""Tracking numbers: the four check-digit schemes against published numbers and against
straightforward re-implementations written here, error detection, and the shapes in
carriers.csv."""

from __future__ import annotations

import csv
import random
import time
from itertools import cycle
from pathlib import Path

import pytest

from pipelines.lib.tracking_numbers import check_digit, is_valid, make_tracking_numbers

CARRIERS_CSV = Path(__file__).resolve().parents[2] / "data" / "reference" / "carriers.csv"

# Published numbers with a correct check digit.
# UPS: 1Z999AA10123456784 is UPS's own sample number, used throughout its developer docs;
#   the other four are the valid test numbers of github.com/jkeen/tracking_number_data
#   (couriers/ups.json).
# FedEx Express (12): the valid test numbers of jkeen/tracking_number_data (couriers/fedex.json).
# USPS IMpb (22): jkeen/tracking_number_data couriers/usps.json ("USPS 91" valid numbers).
# S10: RB123456785GB is the example of the UPU S10 standard (also in jkeen/tracking_number_data
#   couriers/s10.json); AA473124829GB is Wikipedia's "S10 (UPU standard)" worked example.
UPS_EXAMPLES = [
    "1Z999AA10123456784",
    "1Z5R89390357567127",
    "1Z879E930346834440",
    "1Z410E7W0392751591",
    "1Z8V92A70367203024",
]
FEDEX_EXAMPLES = ["986578788855", "477179081230", "799531274483", "790535312317", "974367662710"]
USPS_EXAMPLES = [
    "9400111201080805483016",
    "9505511069605048600624",
    "9101123456789000000013",
    "9361289878700317633795",
    "9405803699300124287899",
]
S10_EXAMPLES = ["RB123456785GB", "RB123456785US", "AA473124829GB", "CP123456785US"]
ALL_EXAMPLES = UPS_EXAMPLES + FEDEX_EXAMPLES + USPS_EXAMPLES + S10_EXAMPLES


# --- independent re-implementations (no helper from the module) -------------------------------

# UPS's published letter table: A=2, B=3, ... I=0, J=1, ... S=0, T=1, ... Z=7.
UPS_LETTERS = dict(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "23456789012345678901234567", strict=True))


def ups_reference(number_without_check: str) -> str:
    odd = even = 0
    for position, char in enumerate(number_without_check[2:], start=1):
        value = int(UPS_LETTERS.get(char, char))
        if position % 2:
            odd += value
        else:
            even += value
    total = odd + 2 * even
    return str(0 if total % 10 == 0 else 10 - total % 10)


def fedex_sum(digits11: str) -> int:
    return sum(int(d) * w for d, w in zip(reversed(digits11), cycle([1, 3, 7])))


def fedex_reference(digits11: str) -> str:
    remainder = fedex_sum(digits11) % 11
    return "0" if remainder == 10 else str(remainder)


def usps_reference(digits21: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits21)):
        total += int(d) * (3 if i % 2 == 0 else 1)
    return str((10 - total % 10) % 10)


def s10_sum(serial8: str) -> int:
    return sum(int(d) * w for d, w in zip(serial8, [8, 6, 4, 2, 3, 5, 9, 7], strict=True))


def s10_reference(serial8: str) -> str:
    check = 11 - s10_sum(serial8) % 11
    return {10: "0", 11: "5"}.get(check, str(check))


# --- published numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("number", ALL_EXAMPLES)
def test_published_numbers_are_valid(number):
    assert is_valid(number)


@pytest.mark.parametrize("number", UPS_EXAMPLES)
def test_ups_check_digit_of_published_numbers(number):
    assert check_digit("UPS", number[:-1]) == number[-1] == ups_reference(number[:-1])


@pytest.mark.parametrize("number", FEDEX_EXAMPLES)
def test_fedex_check_digit_of_published_numbers(number):
    assert check_digit("FedEx", number[:-1]) == number[-1] == fedex_reference(number[:-1])


@pytest.mark.parametrize("number", USPS_EXAMPLES)
def test_usps_check_digit_of_published_numbers(number):
    assert check_digit("USPS", number[:-1]) == number[-1] == usps_reference(number[:-1])


@pytest.mark.parametrize("number", S10_EXAMPLES)
def test_s10_check_digit_of_published_numbers(number):
    body = number[:10] + number[11:]
    assert check_digit("USPS", body, international=True) == number[10]
    assert check_digit("usps", number[2:10], international=True) == number[10]
    assert s10_reference(number[2:10]) == number[10]


def test_fedex_weights_are_1_3_7_from_the_right_not_1_7_3():
    # The 1, 7, 3 weighting would give other check digits for most published numbers.
    def with_1_7_3(digits11):
        return str(sum(int(d) * w for d, w in zip(reversed(digits11), cycle([1, 7, 3]))) % 11 % 10)

    assert any(with_1_7_3(n[:-1]) != n[-1] for n in FEDEX_EXAMPLES)


def test_a_number_often_shown_as_a_usps_example_has_the_wrong_check_digit():
    assert check_digit("USPS", "940011189922310001234") == "8"
    assert not is_valid("9400111899223100012345")
    assert is_valid("9400111899223100012348")


# --- agreement with the re-implementations on random bodies ----------------------------------


def test_check_digits_match_the_reference_implementations_on_random_bodies():
    rng = random.Random(20260601)
    alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(2000):
        ups = "1Z" + "".join(rng.choice(alnum) for _ in range(15))
        assert check_digit("UPS", ups) == ups_reference(ups)
        fedex = "".join(rng.choice("0123456789") for _ in range(11))
        assert check_digit("FedEx", fedex) == fedex_reference(fedex)
        usps = "9" + "".join(rng.choice("0123456789") for _ in range(20))
        assert check_digit("USPS", usps) == usps_reference(usps)
        serial = "".join(rng.choice("0123456789") for _ in range(8))
        assert check_digit("USPS", serial, international=True) == s10_reference(serial)


# --- error detection --------------------------------------------------------------------------


def change_digit(number: str, index: int) -> str:
    return number[:index] + str((int(number[index]) + 1) % 10) + number[index + 1 :]


def swap(number: str, index: int) -> str:
    return number[:index] + number[index + 1] + number[index] + number[index + 2 :]


@pytest.mark.parametrize(
    ("number", "digit_index", "swap_index"),
    [
        ("1Z999AA10123456784", 9, 11),  # "01" -> "10" in the reference
        ("1Z5R89390357567127", 12, 13),
        ("986578788855", 0, 0),
        ("799531274483", 5, 2),
        ("9400111201080805483016", 10, 7),
        ("9405803699300124287899", 15, 16),
        ("RB123456785GB", 2, 2),
        ("AA473124829GB", 6, 5),
    ],
)
def test_a_changed_digit_or_an_adjacent_swap_is_rejected(number, digit_index, swap_index):
    assert number[swap_index] != number[swap_index + 1]
    assert not is_valid(change_digit(number, digit_index))
    assert not is_valid(swap(number, swap_index))


def single_digit_changes(number: str, start: int, end: int):
    for index in range(start, end):
        if number[index].isdigit():
            for digit in "0123456789":
                if digit != number[index]:
                    yield index, digit, number[:index] + digit + number[index + 1 :]


def adjacent_swaps(number: str, start: int, end: int):
    for index in range(start, end - 1):
        a, b = number[index], number[index + 1]
        if a != b and a.isdigit() and b.isdigit():
            yield index, a, b, swap(number, index)


def sample_numbers(carrier, service_code, *, international=False):
    rng = random.Random(7)
    limit = 10**7 if carrier == "UPS" else 10**8
    serials = rng.sample(range(limit), 30)
    return make_tracking_numbers(carrier, service_code, serials, international=international)


def test_usps_catches_every_single_digit_change_and_misses_only_swaps_of_digits_5_apart():
    for number in USPS_EXAMPLES + sample_numbers("USPS", "Priority"):
        assert not any(is_valid(bad) for _, _, bad in single_digit_changes(number, 0, 22))
        for _, a, b, bad in adjacent_swaps(number, 1, 21):  # keep the leading 9 of the shape
            assert is_valid(bad) == (abs(int(a) - int(b)) == 5)


def test_ups_catches_every_adjacent_swap_and_misses_only_changes_by_5_in_even_positions():
    for number in UPS_EXAMPLES + sample_numbers("UPS", "03"):
        for _, _, _, bad in adjacent_swaps(number, 2, 17):
            assert not is_valid(bad)
        for index, digit, bad in single_digit_changes(number, 2, 18):
            even_position = index < 17 and (index - 2) % 2 == 1  # 2nd, 4th, ... after "1Z"
            missed = even_position and abs(int(digit) - int(number[index])) == 5
            assert is_valid(bad) == missed


def test_fedex_misses_only_errors_that_move_the_mod_11_remainder_between_0_and_10():
    missed_any = False
    for number in FEDEX_EXAMPLES + sample_numbers("FedEx", "FEDEX_GROUND"):
        before = fedex_sum(number[:11]) % 11
        bads = [bad for _, _, bad in single_digit_changes(number, 0, 11)]
        bads += [bad for *_, bad in adjacent_swaps(number, 0, 11)]
        for bad in bads:
            after = fedex_sum(bad[:11]) % 11
            assert after != before  # 11 is prime: the remainder always moves
            missed = {before, after} == {0, 10}
            missed_any |= missed
            assert is_valid(bad) == missed
    assert missed_any  # the blind spot is real, not hypothetical


def test_s10_misses_only_errors_that_move_the_mod_11_remainder_between_0_and_6():
    for number in S10_EXAMPLES + sample_numbers("USPS", "X", international=True):
        before = s10_sum(number[2:10]) % 11
        bads = [bad for _, _, bad in single_digit_changes(number, 2, 10)]
        bads += [bad for *_, bad in adjacent_swaps(number, 2, 10)]
        for bad in bads:
            after = s10_sum(bad[2:10]) % 11
            assert after != before
            assert is_valid(bad) == ({before, after} == {0, 6})


@pytest.mark.parametrize(
    "number",
    [
        "",
        "1Z999AA1012345678",  # too short
        "1z999aa10123456784",  # lower case
        "1Z999AA1012345678A",  # letter as check digit
        "98657878885",
        "98657878885X",
        "8400111201080805483016",  # 22 digits not starting with 9
        "RB12345678GB",
        "rb123456785gb",
        "1234",
    ],
)
def test_malformed_numbers_are_invalid(number):
    assert not is_valid(number)


def test_is_valid_ignores_spaces_and_rejects_non_strings():
    assert is_valid("9400 1112 0108 0805 4830 16")
    assert not is_valid(None)
    assert not is_valid(986578788855)


def test_check_digit_rejects_bad_bodies_and_carriers():
    for carrier, body, international in [
        ("UPS", "999AA1012345678", False),
        ("FedEx", "1234567890", False),
        ("USPS", "94001112010808054830", False),
        ("USPS", "CP1234567US", True),
        ("DHL", "12345678901", False),
    ]:
        with pytest.raises(ValueError):
            check_digit(carrier, body, international=international)


# --- making numbers -----------------------------------------------------------------------


def carrier_services() -> list[dict[str, str]]:
    with CARRIERS_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("service", carrier_services(), ids=lambda s: s["service"])
def test_numbers_for_every_service_have_the_reference_prefix_and_length(service):
    numbers = make_tracking_numbers(
        service["carrier"],
        service["service_code"],
        [0, 1, 42, 9_999_999],
        international=service["scope"] == "international",
    )
    for number in numbers:
        assert number.startswith(service["tracking_prefix"])
        assert len(number) == int(service["tracking_length"])
        assert is_valid(number)
    if service["carrier"] == "UPS":
        assert {n[8:10] for n in numbers} == {service["service_code"].zfill(2)}


def test_made_numbers_match_the_reference_implementations():
    serials = random.Random(1).sample(range(10**7), 200)
    for number in make_tracking_numbers("UPS", "3", serials, shipper="999AA1"):
        assert number[:10] == "1Z999AA103"
        assert number[-1] == ups_reference(number[:-1])
    for number in make_tracking_numbers("FedEx", "FEDEX_2_DAY", serials):
        assert number[-1] == fedex_reference(number[:-1])
    for number in make_tracking_numbers("USPS", "Express", serials, prefix="9470"):
        assert number[-1] == usps_reference(number[:-1])
    for number in make_tracking_numbers("USPS", "X", serials, international=True):
        assert number[:2] == "CP" and number[-2:] == "US"
        assert number[10] == s10_reference(number[2:10])


def test_ups_reference_field_holds_the_serial():
    assert make_tracking_numbers("UPS", "01", [123456], shipper="999AA1") == [
        "1Z999AA1010123456" + ups_reference("1Z999AA1010123456")
    ]


def test_different_serials_give_different_numbers():
    serials = list(range(0, 5_000_000, 997))
    for carrier, code, international in [
        ("UPS", "03", False),
        ("FedEx", "FEDEX_GROUND", False),
        ("USPS", "GroundAdvantage", False),
        ("USPS", "PriorityMailInternational", True),
    ]:
        numbers = make_tracking_numbers(carrier, code, serials, international=international)
        assert len(set(numbers)) == len(serials)


@pytest.mark.parametrize(
    ("carrier", "code", "international", "too_large"),
    [
        ("UPS", "03", False, 10**7),
        ("FedEx", "FEDEX_GROUND", False, 10**11),
        ("USPS", "Priority", False, 10**8),
        ("USPS", "PriorityMailInternational", True, 10**8),
    ],
)
def test_a_serial_that_does_not_fit_is_an_error(carrier, code, international, too_large):
    largest = make_tracking_numbers(carrier, code, [too_large - 1], international=international)
    assert is_valid(largest[0])
    for bad in (too_large, -1, 1.5, True):
        with pytest.raises(ValueError):
            make_tracking_numbers(carrier, code, [0, bad], international=international)


def test_bad_service_shipper_or_prefix_is_an_error():
    with pytest.raises(ValueError):
        make_tracking_numbers("USPS", "NoSuchService", [1])
    with pytest.raises(ValueError):
        make_tracking_numbers("USPS", "Priority", [1], prefix="12")
    with pytest.raises(ValueError):
        make_tracking_numbers("UPS", "03", [1], shipper="AB")
    with pytest.raises(ValueError):
        make_tracking_numbers("UPS", "FEDEX_GROUND", [1])
    with pytest.raises(ValueError):
        make_tracking_numbers("DHL", "X", [1])


def test_a_hundred_thousand_numbers_take_under_a_second():
    serials = range(100_000)
    for carrier, code, international in [
        ("UPS", "03", False),
        ("FedEx", "FEDEX_GROUND", False),
        ("USPS", "Priority", False),
        ("USPS", "PriorityMailInternational", True),
    ]:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            make_tracking_numbers(carrier, code, serials, international=international)
            best = min(best, time.perf_counter() - start)
        assert best < 1.0, (carrier, best)
