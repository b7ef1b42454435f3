"""The slice of the committed reference data the generator needs, and the US ZIP table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import zipcodes

from pipelines.lib.generator.vocab import US_STATES


@dataclass(frozen=True)
class Reference:
    #: sku, name, brand, unit_cents, unit_weight_g, requires_shipping, active, asin
    products: pl.DataFrame
    #: warehouse_id, sku (every stocked pair)
    locations: pl.DataFrame
    #: currency -> (date, rate_to_usd) rows
    fx_rates: pl.DataFrame
    #: warehouse_id, sku, safety_stock, reorder_point, max_level (stock_policy.csv)
    policy: pl.DataFrame

    def usd_to(self, currency: str, on: dt.date) -> float:
        """Units of ``currency`` per USD on ``on`` (latest rate on or before it)."""
        if currency == "USD":
            return 1.0
        rates = self.fx_rates.filter(
            (pl.col("currency") == currency) & (pl.col("date") <= on)
        ).sort("date")
        if rates.is_empty():
            rates = self.fx_rates.filter(pl.col("currency") == currency).sort("date")
        if rates.is_empty():
            raise KeyError(f"fx_rates.csv has no rate for {currency}")
        return 1.0 / float(rates["rate_to_usd"][-1])


def load_reference(reference_dir: Path) -> Reference:
    products = pl.read_csv(
        reference_dir / "products.csv",
        schema_overrides={"unit_price": pl.String, "sku": pl.String},
    )
    cents = products["unit_price"].str.replace(".", "", literal=True).cast(pl.Int64)
    products = products.select(
        "sku",
        "name",
        "brand",
        cents.alias("unit_cents"),
        "unit_weight_g",
        "requires_shipping",
        "active",
        "asin",
    )
    locations = pl.read_csv(reference_dir / "product_locations.csv").select("warehouse_id", "sku")
    fx = pl.read_csv(reference_dir / "fx_rates.csv", try_parse_dates=True)
    policy = pl.read_csv(reference_dir / "stock_policy.csv").select(
        "warehouse_id", "sku", "safety_stock", "reorder_point", "max_level"
    )
    return Reference(products=products, locations=locations, fx_rates=fx, policy=policy)


@dataclass(frozen=True)
class UsZips:
    zip_code: np.ndarray
    city: np.ndarray
    state: np.ndarray
    area_code: np.ndarray
    #: sampling weight: the state's population spread evenly over its ZIPs
    weight: np.ndarray


@cache
def us_zips() -> UsZips:
    """Active STANDARD ZIPs of the 50 states and DC from the ``zipcodes`` package."""
    rows = [
        z
        for z in zipcodes.list_all()
        if z["zip_code_type"] == "STANDARD" and z["active"] and z["state"] in US_STATES
    ]
    rows.sort(key=lambda z: z["zip_code"])
    state = np.array([z["state"] for z in rows])
    per_state = {s: int((state == s).sum()) for s in US_STATES}
    weight = np.array([US_STATES[s][1] / per_state[s] for s in state], dtype=np.float64)
    return UsZips(
        zip_code=np.array([z["zip_code"] for z in rows]),
        city=np.array([z["city"] for z in rows]),
        state=state,
        area_code=np.array([(z["area_codes"] or ["555"])[0] for z in rows]),
        weight=weight / weight.sum(),
    )
