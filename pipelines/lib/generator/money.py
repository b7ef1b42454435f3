"""Money is integer cents inside the generator; these render it the way channels write it."""

from __future__ import annotations

import numpy as np
import polars as pl


def cents_text(cents: pl.Expr) -> pl.Expr:
    """``1234`` -> ``"12.34"``, ``-5`` -> ``"-0.05"`` (plain decimal, two places, no symbol)."""
    sign = pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    whole = (cents.abs() // 100).cast(pl.String)
    frac = (cents.abs() % 100).cast(pl.String).str.zfill(2)
    return sign + whole + pl.lit(".") + frac


def round_half_up(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """Integer division rounding halves up (for non-negative numerators)."""
    return (numerator * 2 + denominator) // (2 * denominator)
