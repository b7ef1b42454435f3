"""Ship-to points: ZIP centroid, else state centroid, else country centroid."""

from __future__ import annotations

import polars as pl
import pytest
import zipcodes

from pipelines.lib.geo import ship_to_points, state_centroids
from pipelines.project import REPO_ROOT

REFERENCE = REPO_ROOT / "data" / "reference"


def points(rows: list[tuple]) -> list[tuple]:
    orders = pl.DataFrame(
        rows, schema=["ship_country", "ship_region", "ship_postal_code"], orient="row"
    )
    return ship_to_points(orders, REFERENCE).rows()


def test_a_us_zip_is_placed_at_its_centroid_with_or_without_the_plus_four():
    (sf,) = zipcodes.matching("94103")
    expected = (float(sf["lat"]), float(sf["long"]), "postal")
    assert points([("US", "CA", "94103"), ("us", "CA", "94103-1234")]) == [expected, expected]


def test_an_unknown_zip_falls_back_to_its_state_then_the_country():
    ca = state_centroids().filter(pl.col("state") == "CA").row(0, named=True)
    (no_state,) = points([("US", None, "00000")])
    assert points([("US", "ca", "9410")]) == [(ca["lat"], ca["lon"], "region")]
    assert no_state[2] == "country"
    assert no_state[:2] == pytest.approx((37.09024, -95.712891))


def test_other_countries_use_their_centroid_and_unknown_ones_have_no_point():
    assert points([("DE", None, "10115"), ("XX", None, "1"), (None, None, None)]) == [
        (51.165691, 10.451526, "country"),
        (None, None, None),
        (None, None, None),
    ]


@pytest.mark.parametrize(
    ("state", "south", "north", "west", "east"),
    [
        ("CA", 32.5, 42.0, -124.5, -114.1),
        ("NY", 40.5, 45.0, -79.8, -71.8),
        ("TX", 25.8, 36.5, -106.7, -93.5),
    ],
)
def test_a_state_centroid_lies_inside_the_state(state, south, north, west, east):
    point = state_centroids().filter(pl.col("state") == state).row(0, named=True)
    assert south < point["lat"] < north and west < point["lon"] < east


def test_military_zips_have_no_point_of_their_own():
    assert points([("US", "AE", "09001")])[0][2] == "country"


def test_the_column_haversine_agrees_with_the_engine():
    import polars as pl

    from pipelines.lib.allocation import haversine_km
    from pipelines.lib.geo import haversine_km_expr

    points = pl.DataFrame(
        {
            "a": [40.5325, 0.0, 34.0],
            "b": [-74.3375, 0.0, -118.2],
            "c": [34.0316, 0.0, 34.0],
            "d": [-117.6187, 90.0, -118.2],
        }
    )
    got = points.select(haversine_km_expr(*map(pl.col, "abcd")).alias("km"))["km"].to_list()
    want = [haversine_km(*row) for row in points.iter_rows()]
    assert got == pytest.approx(want, rel=1e-12)
    assert got[2] == 0.0
