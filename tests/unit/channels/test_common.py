"""Shared parsing rules: timestamps with offsets, money through text, rounding."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest

from pipelines.lib.channels.common import (
    add_timestamp,
    flag_vocabulary,
    half_up_division,
    money,
    service_level_from_method,
)


@pytest.mark.parametrize(
    ("text", "utc", "offset"),
    [
        ("2025-12-06 10:37:33 -0500", datetime(2025, 12, 6, 15, 37, 33), "-05:00"),
        ("2014-11-25 14:45:53 +1100", datetime(2014, 11, 25, 3, 45, 53), "+11:00"),
        ("2020-02-18T05:05:21+00:00", datetime(2020, 2, 18, 5, 5, 21), "+00:00"),
        ("2026-11-20T14:05:00Z", datetime(2026, 11, 20, 14, 5), "+00:00"),
        ("2026-11-20T14:05:00+05:30", datetime(2026, 11, 20, 8, 35), "+05:30"),
        ("2017-03-22T19:28:02", datetime(2017, 3, 22, 19, 28, 2), None),
        ("2017-03-22T19:28:02.250-03:00", datetime(2017, 3, 22, 22, 28, 2, 250000), "-03:00"),
        ("2026-11-20T14:05-05:00", datetime(2026, 11, 20, 19, 5), "-05:00"),
        ("  2026-01-01T00:30:00+01:00 ", datetime(2025, 12, 31, 23, 30), "+01:00"),
        ("2026-11-20", datetime(2026, 11, 20), None),
    ],
)
def test_timestamps_become_utc_and_keep_the_written_offset(text, utc, offset):
    df = add_timestamp(pl.DataFrame({"t": [text]}), "t", "at", offset_target="off")
    assert df.row(0, named=True) == {"t": text, "at": utc.replace(tzinfo=UTC), "off": offset}


@pytest.mark.parametrize(
    "text", ["06/12/2025 10:37", "2025-13-01 00:00:00", "2025-12-06 10:37:33 +2500", "soon", ""]
)
def test_text_that_is_not_a_timestamp_gives_null(text):
    df = add_timestamp(pl.DataFrame({"t": [text, "2026-01-01T00:00:00Z"]}), "t", "at")
    assert df["at"].to_list() == [None, datetime(2026, 1, 1, tzinfo=UTC)]


def test_money_is_read_from_text_exactly():
    df = pl.DataFrame(
        {"m": ["14997.00", "18", "10.3", "-10.00", "0.1", "", None, "abc", "1,299.00"]}
    )
    out = df.select(money(pl.col("m"))).to_series().to_list()
    assert out == [
        Decimal("14997.00"),
        Decimal("18.00"),
        Decimal("10.30"),
        Decimal("-10.00"),
        Decimal("0.10"),
        None,
        None,
        None,  # not an amount: the adapters reject the file at this cell
        None,
    ]
    assert df.select(money(pl.col("m"))).dtypes == [pl.Decimal(18, 2)]


def test_decimal_comma_is_only_read_when_asked():
    df = pl.DataFrame({"m": ["12,99", "3.50"]})
    assert df.select(money(pl.col("m"), decimal_comma=True)).to_series().to_list() == [
        Decimal("12.99"),
        Decimal("3.50"),
    ]


def test_division_rounds_half_away_from_zero_to_the_cent():
    df = pl.DataFrame(
        {"a": ["1.35", "0.05", "10.00", "-1.35", "103.96", "5.00"], "q": [2, 2, 3, 2, 4, 0]}
    ).with_columns(money(pl.col("a")))
    out = df.select(half_up_division(pl.col("a"), pl.col("q"))).to_series().to_list()
    assert out == [
        Decimal("0.68"),
        Decimal("0.03"),
        Decimal("3.33"),
        Decimal("-0.68"),
        Decimal("25.99"),
        None,  # no units: no unit price
    ]


@pytest.mark.parametrize(
    ("method", "level"),
    [
        ("Overnight", "overnight"),
        ("next-day delivery", "overnight"),
        ("Same Day Courier", "overnight"),
        ("Expedited Shipping", "expedited"),
        ("USPS Priority Mail", "expedited"),
        ("Second Day Air", "expedited"),
        ("2-4 Day Delivery", "standard"),
        ("12-day freight", "standard"),
        ("Flat Rate", "standard"),
        (None, "standard"),
    ],
)
def test_shipping_method_keywords(method, level):
    df = pl.DataFrame({"m": [method]}, schema={"m": pl.String})
    assert df.select(service_level_from_method(pl.col("m"))).item() == level


def test_flag_vocabulary_is_never_null():
    table = {"fulfilled": True, "partial": False}
    df = pl.DataFrame({"v": ["fulfilled", " Fulfilled ", "partial", "", None, "other"]})
    got = df.select(flag_vocabulary(pl.col("v"), table))["v"].to_list()
    assert got == [True, True, False, False, False, False]
    missing = pl.DataFrame({"x": [1]}).select(flag_vocabulary(pl.lit(None, pl.String), table))
    assert missing.to_series().to_list() == [False]
