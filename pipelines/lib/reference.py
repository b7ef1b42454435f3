"""Read the committed reference data (``data/reference/*.csv``) as typed Polars frames."""

from __future__ import annotations

import tomllib
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


def read_settings(path: Path, defaults: dict[str, dict[str, object]]) -> dict[str, dict]:
    """A TOML settings file as ``{section: {key: value}}``, defaults filled in.

    ``defaults`` names every section and key the file may have; a missing file means all
    defaults, and an unknown section or key is a ValueError naming the file (a typo must not
    switch a setting off silently).
    """
    raw: dict = {}
    if path.exists():
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    unknown = sorted(
        [s for s in raw if s not in defaults]
        + [f"{s}.{k}" for s in raw if s in defaults for k in raw[s] if k not in defaults[s]]
    )
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    return {s: {**keys, **raw.get(s, {})} for s, keys in defaults.items()}


def whole_number_at_least_one(path: Path, name: str, value: object) -> int:
    """``value`` when it is an integer >= 1; else a ValueError naming the file and setting."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{path}: {name} must be a whole number >= 1, got {value!r}")
    return value
