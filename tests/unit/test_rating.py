"""Rate shopping: zones, dimensional weight, prices, the SLA choice and its explanation.

Expected values are worked out here from the CSVs with the ``csv`` module and ``Decimal``,
independently of the Polars code under test.
"""

from __future__ import annotations

import csv
import math
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.lib.geo import EARTH_RADIUS_KM, haversine_km_expr
from pipelines.lib.rating import SLA_DAYS, rate_parcels
from pipelines.project import REPO_ROOT

REFERENCE = REPO_ROOT / "data" / "reference"
SHIP_DATE = date(2026, 7, 6)  # a Monday
NJ_LAT, NJ_LON = 40.5325, -74.3375  # WH-NJ, from warehouses.csv


def rows(name: str, reference: Path = REFERENCE) -> list[dict[str, str]]:
    with (reference / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def north_of_nj(km: float) -> tuple[float, float]:
    """A point ``km`` due north of WH-NJ (along the meridian the distance is R * dlat)."""
    return NJ_LAT + math.degrees(km / EARTH_RADIUS_KM), NJ_LON


def parcel(
    parcel_id: str = "P1",
    *,
    km: float | None = 100.0,
    country: str = "US",
    level: str = "standard",
    weight_g: int = 500,
    dims: tuple[int, int, int] = (200, 150, 100),
    ship_by: datetime | None = None,
    lat_lon: tuple[float, float] | None = None,
) -> dict:
    lat, lon = lat_lon if lat_lon else (north_of_nj(km) if km is not None else (None, None))
    return {
        "parcel_id": parcel_id,
        "warehouse_id": "WH-NJ",
        "weight_g": weight_g,
        "length_mm": dims[0],
        "width_mm": dims[1],
        "height_mm": dims[2],
        "ship_lat": lat,
        "ship_lon": lon,
        "ship_country": country,
        "service_level": level,
        "ship_by": ship_by,
    }


def frame(*parcels: dict) -> pl.DataFrame:
    return pl.DataFrame(
        list(parcels),
        schema={
            "parcel_id": pl.String,
            "warehouse_id": pl.String,
            "weight_g": pl.Int64,
            "length_mm": pl.Int64,
            "width_mm": pl.Int64,
            "height_mm": pl.Int64,
            "ship_lat": pl.Float64,
            "ship_lon": pl.Float64,
            "ship_country": pl.String,
            "service_level": pl.String,
            "ship_by": pl.Datetime("us", "UTC"),
        },
    )


def rate(*parcels: dict, reference: Path = REFERENCE, ship_date: date = SHIP_DATE):
    return rate_parcels(frame(*parcels), reference, ship_date=ship_date)


def dim_weight_g(dims: tuple[int, int, int], divisor: int) -> int:
    length_cm, width_cm, height_cm = (Decimal(d) / 10 for d in dims)
    return math.ceil(length_cm * width_cm * height_cm / divisor * 1000)


def expected_options(
    zone: int,
    *,
    weight_g: int,
    dims: tuple[int, int, int],
    promised: int,
    reference: Path = REFERENCE,
) -> list[dict]:
    """Every eligible service for a parcel in ``zone``, best first, by the documented rules."""
    scope = "international" if zone == 9 else "domestic"
    transit = {
        (r["service"], int(r["zone"])): int(r["transit_days"]) for r in rows("transit_times")
    }
    cards = rows("rate_cards", reference)
    options = []
    for service in rows("carriers", reference):
        if service["scope"] != scope:
            continue
        billable = max(weight_g, dim_weight_g(dims, int(service["dim_divisor_cm3_per_kg"])))
        breaks = sorted(
            (int(r["max_weight_g"]), Decimal(r["price"]))
            for r in cards
            if r["service"] == service["service"] and int(r["zone"]) == zone
        )
        prices = [p for top, p in breaks if top >= billable]
        if billable > int(service["max_weight_g"]) or not prices:
            continue
        days = transit[service["service"], zone]
        options.append(
            {
                "carrier": service["carrier"],
                "service": service["service"],
                "level": service["service_level"],
                "billable_weight_g": billable,
                "price": prices[0],
                "transit_days": days,
                "meets_sla": days <= promised,
            }
        )
    meeting = [o for o in options if o["meets_sla"]]
    if meeting:
        best = sorted(
            meeting, key=lambda o: (o["price"], o["transit_days"], o["carrier"], o["service"])
        )
        return best + [o for o in options if not o["meets_sla"]]
    return sorted(
        options, key=lambda o: (o["transit_days"], o["price"], o["carrier"], o["service"])
    )


def choice(shop, parcel_id: str = "P1") -> dict:
    return shop.choices.filter(pl.col("parcel_id") == parcel_id).row(0, named=True)


def test_dimensional_weight_wins_for_a_light_bulky_box_and_changes_the_price():
    dims = (600, 400, 400)
    shop = rate(parcel(weight_g=500, dims=dims, km=100))
    chosen = choice(shop)
    divisors = {r["service"]: int(r["dim_divisor_cm3_per_kg"]) for r in rows("carriers")}
    divisor = divisors[chosen["service"]]

    assert chosen["zone"] == 2
    assert chosen["dim_weight_g"] == dim_weight_g(dims, divisor) > 500
    assert chosen["billable_weight_g"] == chosen["dim_weight_g"]
    for row in shop.candidates.iter_rows(named=True):
        assert row["billable_weight_g"] == dim_weight_g(dims, divisors[row["service"]])

    (best, *_) = expected_options(2, weight_g=500, dims=dims, promised=5)
    assert (chosen["service"], chosen["price"]) == (best["service"], best["price"])
    # Rated on its actual weight alone the same service would be much cheaper.
    small = choice(rate(parcel(weight_g=500, dims=(10, 10, 10), km=100)))
    assert chosen["price"] > small["price"]


@pytest.mark.parametrize(
    ("level", "km", "zone"),
    [
        ("standard", 100, 2),
        ("standard", 3500, 8),
        ("expedited", 300, 3),
        ("expedited", 1200, 5),
        ("expedited", 3500, 8),
        ("overnight", 700, 4),
    ],
)
def test_the_cheapest_service_meeting_the_promise_is_chosen(level, km, zone):
    dims = (300, 200, 150)
    chosen = choice(rate(parcel(level=level, km=km, weight_g=1200, dims=dims)))
    options = expected_options(zone, weight_g=1200, dims=dims, promised=SLA_DAYS[level])
    best = options[0]

    assert chosen["zone"] == zone
    assert chosen["promised_days"] == SLA_DAYS[level]
    assert best["meets_sla"] and chosen["meets_sla"] is True
    assert chosen["warning"] is None
    assert (chosen["service"], chosen["price"], chosen["transit_days"]) == (
        best["service"],
        best["price"],
        best["transit_days"],
    )
    n_meeting = sum(o["meets_sla"] for o in options)
    assert chosen["reason"] == (
        f"cheapest of {n_meeting} services meeting {SLA_DAYS[level]} business "
        + ("day" if SLA_DAYS[level] == 1 else "days")
    )
    if level == "standard":
        assert best["level"] == "standard"  # a ground service
    if level == "expedited" and zone == 8:
        assert best["level"] == "expedited"  # ground takes 5 days that far


def test_expedited_in_a_near_zone_may_go_by_ground():
    chosen = choice(rate(parcel(level="expedited", km=300, weight_g=1200)))
    ground = {
        r["service"]
        for r in rows("carriers")
        if r["service_level"] == "standard" and r["scope"] == "domestic"
    }
    transit = {(r["service"], r["zone"]): int(r["transit_days"]) for r in rows("transit_times")}
    assert chosen["zone"] == 3
    assert any(transit[s, "3"] <= 2 for s in ground)  # the data makes the case
    assert chosen["service"] in ground


def test_overnight_abroad_meets_no_promise_the_fastest_is_chosen_with_a_warning():
    ca = next(r for r in rows("countries") if r["country"] == "CA")
    shop = rate(parcel(level="overnight", country="CA", lat_lon=(float(ca["lat"]), 0.0)))
    chosen = choice(shop)
    (fastest, *_) = expected_options(9, weight_g=500, dims=(200, 150, 100), promised=1)

    assert chosen["meets_sla"] is False
    assert (chosen["service"], chosen["transit_days"]) == (
        fastest["service"],
        fastest["transit_days"],
    )
    assert chosen["reason"] == "no service meets 1 business day: fastest (ties by price) chosen"
    assert "1 business day (overnight)" in chosen["warning"]


def test_ship_by_tightens_the_promise_in_business_days():
    def promised(level: str, ship_by: datetime | None, ship_date: date = SHIP_DATE) -> int:
        shop = rate(parcel(level=level, km=3500, ship_by=ship_by), ship_date=ship_date)
        return choice(shop)["promised_days"]

    tuesday = datetime(2026, 7, 7, 12, tzinfo=UTC)
    assert promised("standard", None) == 5
    assert promised("standard", tuesday) == 1
    assert promised("standard", datetime(2026, 7, 9, tzinfo=UTC)) == 3  # Thursday
    assert promised("expedited", datetime(2026, 7, 9, tzinfo=UTC)) == 2  # SLA is tighter
    assert promised("standard", datetime(2026, 7, 6, tzinfo=UTC)) == 1  # same day
    assert promised("standard", datetime(2026, 7, 1, tzinfo=UTC)) == 1  # already past
    # Friday to the next Tuesday: Monday and Tuesday.
    assert promised("standard", tuesday, ship_date=date(2026, 7, 3)) == 2

    far = choice(rate(parcel(level="standard", km=3500, ship_by=tuesday)))
    (best, *_) = expected_options(8, weight_g=500, dims=(200, 150, 100), promised=1)
    assert far["meets_sla"] is True
    assert (far["service"], far["transit_days"]) == (best["service"], 1)


def test_ship_by_tomorrow_abroad_misses_and_warns_with_the_date():
    chosen = choice(
        rate(parcel(country="GB", lat_lon=(54.0, -2.0), ship_by=datetime(2026, 7, 7, tzinfo=UTC)))
    )
    assert chosen["meets_sla"] is False
    assert chosen["promised_days"] == 1
    assert "1 business day (standard, ship by 2026-07-07)" in chosen["warning"]


def test_an_international_parcel_gets_zone_9_and_only_international_services():
    shop = rate(parcel(country="CA", lat_lon=(45.0, -75.0)))
    international = {r["service"] for r in rows("carriers") if r["scope"] == "international"}
    assert set(shop.candidates["service"]) == international
    assert set(shop.candidates["zone"]) == {9}
    assert choice(shop)["zone"] == 9

    domestic = rate(parcel(km=100))
    assert not set(domestic.candidates["service"]) & international


def test_a_us_ship_to_without_coordinates_is_the_farthest_domestic_zone():
    assert choice(rate(parcel(km=None)))["zone"] == 8


def test_a_parcel_over_every_services_max_weight_gets_no_choice_and_a_warning():
    heaviest = max(int(r["max_weight_g"]) for r in rows("carriers"))
    shop = rate(parcel(weight_g=heaviest + 1))
    chosen = choice(shop)
    assert chosen["carrier"] is None and chosen["service"] is None and chosen["price"] is None
    assert chosen["meets_sla"] is False
    assert chosen["warning"] == "no service can carry this parcel: over the service's max weight"
    assert shop.candidates["rank"].null_count() == shop.candidates.height
    assert set(shop.candidates["why_not"]) == {"over the service's max weight"}
    assert not shop.candidates["eligible"].any()


def test_usps_is_out_above_its_max_weight_and_a_missing_break_means_no_rate(tmp_path):
    shop = rate(parcel(weight_g=40_000))
    usps = shop.candidates.filter(pl.col("carrier") == "USPS")
    assert usps.height == 3 and set(usps["why_not"]) == {"over the service's max weight"}
    assert choice(shop)["carrier"] in {"UPS", "FedEx"}

    reference = copy_reference(tmp_path)
    cards = pl.read_csv(reference / "rate_cards.csv", infer_schema=False)
    cards.filter(
        ~((pl.col("service") == "UPS Ground") & (pl.col("max_weight_g").cast(pl.Int64) > 40_000))
    ).write_csv(reference / "rate_cards.csv")
    ups = rate(parcel(weight_g=40_000), reference=reference).candidates.filter(
        pl.col("service") == "UPS Ground"
    )
    assert ups.row(0, named=True)["why_not"] == "no rate for this weight"
    assert ups.row(0, named=True)["eligible"] is False


def copy_reference(tmp_path: Path) -> Path:
    reference = tmp_path / "reference"
    shutil.copytree(REFERENCE, reference)
    return reference


def test_equal_prices_are_broken_by_transit_then_carrier_name(tmp_path):
    reference = copy_reference(tmp_path)
    ground = ["UPS Ground", "FedEx Ground", "USPS Ground Advantage"]
    cards = pl.read_csv(reference / "rate_cards.csv", infer_schema=False)
    cards.with_columns(
        pl.when(pl.col("service").is_in(ground) & (pl.col("zone") == "2"))
        .then(pl.lit("1.00"))
        .otherwise(pl.col("price"))
        .alias("price")
    ).write_csv(reference / "rate_cards.csv")
    transit = {(r["service"], r["zone"]): int(r["transit_days"]) for r in rows("transit_times")}
    # The data behind the case: UPS and FedEx Ground 1 day in zone 2, USPS slower.
    assert (
        transit["UPS Ground", "2"]
        == transit["FedEx Ground", "2"]
        < transit["USPS Ground Advantage", "2"]
    )

    shop = rate(parcel(km=100), reference=reference)
    chosen = choice(shop)
    assert (chosen["service"], chosen["price"]) == ("FedEx Ground", Decimal("1.00"))
    ranked = shop.candidates.filter(pl.col("rank") <= 3).sort("rank")
    assert ranked["service"].to_list() == ["FedEx Ground", "UPS Ground", "USPS Ground Advantage"]
    assert ranked["why_not"].to_list() == [
        None,
        "same price and transit: loses the tie on carrier and service name",
        "same price, slower than the winner",
    ]


def test_a_distance_of_exactly_min_km_falls_in_that_band():
    bands = [r for r in rows("zones") if r["scope"] == "domestic" and float(r["min_km"]) > 0]
    previous = {r["max_km"]: int(r["zone"]) for r in rows("zones") if r["scope"] == "domestic"}
    for band in bands:
        min_km = float(band["min_km"])
        # Consecutive floats around the point min_km due north: the first whose distance, as
        # the code measures it, reaches min_km sits on the boundary.
        lat = north_of_nj(min_km)[0]
        lats = [lat]
        for _ in range(200):
            lats.insert(0, float(np.nextafter(lats[0], -90.0)))
            lats.append(float(np.nextafter(lats[-1], 90.0)))
        km = (
            pl.DataFrame({"lat": lats})
            .select(
                haversine_km_expr(
                    pl.lit(NJ_LAT), pl.lit(NJ_LON), pl.col("lat"), pl.lit(NJ_LON)
                ).alias("km")
            )["km"]
            .to_list()
        )
        first = next(i for i, d in enumerate(km) if d >= min_km)
        assert first > 0 and km[first] == pytest.approx(min_km, abs=1e-6)
        at, below = lats[first], lats[first - 1]
        shop = rate(
            parcel("AT", lat_lon=(at, NJ_LON)),
            parcel("BELOW", lat_lon=(below, NJ_LON)),
        )
        assert choice(shop, "AT")["zone"] == int(band["zone"])
        assert choice(shop, "BELOW")["zone"] == previous[band["min_km"]]


def test_the_candidates_explain_every_choice():
    parcels = [
        parcel("A", level="standard", km=100),
        parcel("B", level="expedited", km=1200, weight_g=5000),
        parcel("C", level="overnight", country="CA", lat_lon=(45.0, -75.0)),
        parcel("D", level="overnight", km=3500, weight_g=40_000),
        parcel("E", weight_g=10**6),
    ]
    shop = rate(*parcels)
    assert shop.choices["parcel_id"].to_list() == ["A", "B", "C", "D", "E"]
    candidates = shop.candidates
    winners = candidates.filter(pl.col("rank") == 1)
    assert winners["parcel_id"].sort().to_list() == ["A", "B", "C", "D"]
    joined = shop.choices.join(winners, on="parcel_id", suffix="_c")
    for row in joined.iter_rows(named=True):
        assert (row["carrier"], row["service"], row["price"], row["transit_days"]) == (
            row["carrier_c"],
            row["service_c"],
            row["price_c"],
            row["transit_days_c"],
        )
        assert row["why_not"] is None
    others = candidates.filter((pl.col("rank") != 1) | pl.col("rank").is_null())
    assert others["why_not"].null_count() == 0
    assert (candidates["rank"].is_null() == ~candidates["eligible"]).all()
    for _, group in candidates.filter(pl.col("eligible")).group_by("parcel_id"):
        assert sorted(group["rank"]) == list(range(1, group.height + 1))
    d = candidates.filter(pl.col("parcel_id") == "D")
    assert set(d.filter(pl.col("carrier") == "USPS")["why_not"]) == {
        "over the service's max weight"
    }
    for row in d.filter(pl.col("rank") > 1).iter_rows(named=True):
        expected = (
            "dearer than the winner"
            if row["meets_sla"]
            else f"transit {row['transit_days']} > 1 business day"
        )
        assert row["why_not"] == expected


def test_prices_are_exact_decimals_from_the_csv_text():
    shop = rate(parcel(km=100, weight_g=454, dims=(10, 10, 10)))
    assert shop.choices.schema["price"] == pl.Decimal(18, 2)
    assert shop.candidates.schema["price"] == pl.Decimal(18, 2)
    chosen = choice(shop)
    card = next(
        r
        for r in rows("rate_cards")
        if r["service"] == chosen["service"] and r["zone"] == "2" and r["max_weight_g"] == "454"
    )
    assert isinstance(chosen["price"], Decimal)
    assert chosen["price"] == Decimal(card["price"])


def test_an_unknown_service_level_is_an_error():
    with pytest.raises(ValueError, match="unknown service_level"):
        rate(parcel(level="teleport"))
