"""Read the committed reference data (``data/reference/*.csv``) as typed Polars frames."""

from __future__ import annotations

from pathlib import Path

import polars as pl

#: Columns kept as text whatever they look like (leading zeros, codes).
_TEXT = {"postal_code", "service_code", "zone", "aisle", "bay", "sku", "asin", "carrier_cutoff"}
_BOOLEAN = {"requires_shipping", "active", "served"}


def read_reference(reference_dir: Path, name: str) -> pl.DataFrame:
    """``data/reference/<name>.csv`` with codes as text and true/false columns as booleans."""
    path = reference_dir / f"{name}.csv"
    header = path.open(encoding="utf-8").readline().strip().split(",")
    overrides = {c: pl.String for c in header if c in _TEXT or c in _BOOLEAN}
    frame = pl.read_csv(path, schema_overrides=overrides, try_parse_dates=True)
    return frame.with_columns(
        (pl.col(c).str.to_lowercase() == "true").alias(c) for c in header if c in _BOOLEAN
    )
