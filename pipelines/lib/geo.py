"""Where an order ships to, as a point on the globe, for ranking warehouses by distance.

US ship-to points are the centroid of the order's ZIP code, from the ``zipcodes`` package's
data (packaged with it, no download). When the ZIP is unknown the point falls back to its
state's centroid (the mean of that state's ZIP centroids), and outside the US, or with no
usable region, to the country's centroid from ``data/reference/countries.csv``. An order
that matches none of these has no point; allocation then treats every warehouse as equally
far.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import polars as pl
import zipcodes

from pipelines.lib.reference import read_reference

#: Radius of the sphere distances are measured on (km), as DESIGN.md's allocation rules say.
EARTH_RADIUS_KM = 6371.0
#: How a ship-to point was found, most precise first.
POINT_SOURCES = ("postal", "region", "country")


@cache
def zip_centroids() -> pl.DataFrame:
    """zip, state, lat, lon of every ZIP the ``zipcodes`` package knows (active or not: an
    order to a retired ZIP is still in the same place), except military (APO/FPO) ZIPs,
    which name no place."""
    rows = [z for z in zipcodes.list_all() if z["zip_code_type"] != "MILITARY"]
    return pl.DataFrame(
        {
            "zip": [z["zip_code"] for z in rows],
            "state": [z["state"] for z in rows],
            "lat": [float(z["lat"]) for z in rows],
            "lon": [float(z["long"]) for z in rows],
        }
    ).unique("zip", keep="first", maintain_order=True)


@cache
def state_centroids() -> pl.DataFrame:
    """state, lat, lon: the mean of each state's ZIP centroids."""
    return zip_centroids().group_by("state").agg(pl.col("lat").mean(), pl.col("lon").mean())


def ship_to_points(orders: pl.DataFrame, reference_dir: Path) -> pl.DataFrame:
    """ship_lat, ship_lon and point_source for each row of ``orders`` (same order).

    ``orders`` needs ship_country, ship_region and ship_postal_code.
    """
    countries = read_reference(reference_dir, "countries").select(
        pl.col("country"), pl.col("lat").alias("country_lat"), pl.col("lon").alias("country_lon")
    )
    zips = zip_centroids().select(
        "zip", pl.col("lat").alias("zip_lat"), pl.col("lon").alias("zip_lon")
    )
    states = state_centroids().select(
        "state", pl.col("lat").alias("state_lat"), pl.col("lon").alias("state_lon")
    )
    country = pl.col("ship_country").cast(pl.String).str.strip_chars().str.to_uppercase()
    us = country == "US"
    frame = (
        orders.select(
            country.alias("country"),
            pl.when(us)
            .then(
                pl.col("ship_postal_code")
                .cast(pl.String)
                .str.strip_chars()
                .str.extract(r"^(\d{5})(?:-\d{4})?$")
            )
            .alias("zip"),
            pl.when(us)
            .then(pl.col("ship_region").cast(pl.String).str.strip_chars().str.to_uppercase())
            .alias("state"),
        )
        .join(zips, on="zip", how="left", maintain_order="left")
        .join(states, on="state", how="left", maintain_order="left")
        .join(countries, on="country", how="left", maintain_order="left")
    )
    source = (
        pl.when(pl.col("zip_lat").is_not_null())
        .then(pl.lit("postal"))
        .when(pl.col("state_lat").is_not_null())
        .then(pl.lit("region"))
        .when(pl.col("country_lat").is_not_null())
        .then(pl.lit("country"))
    )
    return frame.select(
        pl.coalesce("zip_lat", "state_lat", "country_lat").alias("ship_lat"),
        pl.coalesce("zip_lon", "state_lon", "country_lon").alias("ship_lon"),
        source.alias("point_source"),
    )


def haversine_km_expr(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    """Great-circle distance in km between two points given as columns (degrees)."""
    rad = math.pi / 180.0
    a = ((lat2 - lat1) * rad / 2).sin() ** 2 + (lat1 * rad).cos() * (lat2 * rad).cos() * (
        (lon2 - lon1) * rad / 2
    ).sin() ** 2
    return 2 * EARTH_RADIUS_KM * a.clip(upper_bound=1.0).sqrt().arcsin()
