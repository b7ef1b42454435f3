"""Rate shopping: the zone, billable weight, price and transit of every service for a parcel,
and the service chosen for it.

Pure Polars, vectorised: parcels are joined with the services their scope allows (a cross
join restricted by scope), priced with an as-of join on the rate cards, and ranked with one
sort; there is no per-parcel Python loop.

Reference data (``data/reference``, see its README): ``carriers.csv``, ``zones.csv``,
``rate_cards.csv``, ``transit_times.csv`` and ``warehouses.csv``.

Rules
-----
- **Zone.** A ship-to outside the US (``ship_country`` other than ``US``) is zone 9 and is
  offered only the ``scope = international`` services. A US ship-to is offered only the
  domestic services, and its zone comes from the great-circle (haversine) distance ``d`` from
  the parcel's warehouse to the ship-to point with the domestic bands of ``zones.csv``
  (``min_km <= d < max_km``). A US ship-to without coordinates (null or NaN ``ship_lat`` /
  ``ship_lon``) is put in the farthest domestic zone (8): conservative, it never under-prices
  or over-promises. A null ``ship_country`` counts as US.
- **Billable weight** per service is ``max(weight_g, dimensional weight)``, where the
  dimensional weight in grams is ``ceil(L_cm * W_cm * H_cm / divisor * 1000)`` with the
  carrier's ``dim_divisor_cm3_per_kg``; computed exactly in integers as
  ``ceil(L_mm * W_mm * H_mm / divisor)``. Null dimensions count as 0.
- **Price** is the first ``rate_cards.csv`` row for (carrier, service, zone) whose
  ``max_weight_g`` is at least the billable weight, read as ``Decimal(18, 2)`` from the CSV
  text (never through a float). A service is not eligible when the billable weight is over
  its ``max_weight_g`` in ``carriers.csv`` ("over the service's max weight"), over the last
  weight break ("no rate for this weight"), or when the zone has no rate card or transit time.
- **Promised business days** are ``SLA_DAYS[service_level]`` (a null service level means
  standard; an unknown one is a ``ValueError``). When the parcel has a ``ship_by`` its date
  (UTC) may make the promise tighter: the business days (Mon-Fri) after ``ship_date`` up to
  and including that date, at least 1 (a ``ship_by`` on or before ``ship_date`` gives 1). The
  smaller of the two is promised. ``ship_date`` defaults to today (UTC).
- **Choice.** Among the eligible services with ``transit_days <= promised_days``, the
  cheapest; ties by transit days, then carrier name, then service name. When none meets the
  promise, the fastest eligible service (ties by price, carrier, service) with
  ``meets_sla = false`` and a warning naming the promise missed. When no service is eligible,
  a row with null carrier, service and price and a warning "no service can carry this
  parcel: ..." listing why.
- **Candidates** list every (parcel, service) considered with its rank (1 = the winner, null
  when not eligible) and, for every non-winner, why it lost. ``meets_sla`` there is false for
  a service that is not eligible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from pipelines.lib.geo import haversine_km_expr
from pipelines.lib.reference import read_reference

#: Business days each service level promises.
SLA_DAYS = {"overnight": 1, "expedited": 2, "standard": 5}

PRICE = pl.Decimal(18, 2)

REQUIRED_COLUMNS = (
    "parcel_id",
    "warehouse_id",
    "weight_g",
    "length_mm",
    "width_mm",
    "height_mm",
    "ship_lat",
    "ship_lon",
    "ship_country",
    "service_level",
    "ship_by",
)

CHOICE_COLUMNS = (
    "parcel_id",
    "carrier",
    "service",
    "service_code",
    "zone",
    "billable_weight_g",
    "dim_weight_g",
    "price",
    "transit_days",
    "promised_days",
    "meets_sla",
    "reason",
    "warning",
)

CANDIDATE_COLUMNS = (
    "parcel_id",
    "carrier",
    "service",
    "zone",
    "billable_weight_g",
    "price",
    "transit_days",
    "meets_sla",
    "eligible",
    "rank",
    "why_not",
)


@dataclass(frozen=True)
class RateShop:
    """The chosen service per parcel (``choices``) and every service considered
    (``candidates``), with why each one won or lost."""

    choices: pl.DataFrame
    candidates: pl.DataFrame


def _days(n: pl.Expr) -> pl.Expr:
    """'1 business day' / '3 business days'."""
    return pl.format(
        "{} business {}", n, pl.when(n == 1).then(pl.lit("day")).otherwise(pl.lit("days"))
    )


def _rate_cards(reference_dir: Path) -> pl.DataFrame:
    """rate_cards.csv with the price parsed from its text as Decimal(18, 2)."""
    frame = pl.read_csv(reference_dir / "rate_cards.csv", infer_schema=False)
    return frame.select(
        "carrier",
        "service",
        pl.col("zone").cast(pl.Int32),
        pl.col("max_weight_g").cast(pl.Int64),
        pl.col("price").cast(PRICE),
    )


def _zone_expr(reference_dir: Path) -> tuple[pl.Expr, int]:
    """Expression mapping ``_km`` to a domestic zone (null outside every band), and the
    farthest domestic zone."""
    bands = (
        read_reference(reference_dir, "zones")
        .filter(pl.col("scope") == "domestic")
        .sort("min_km")
        .with_columns(pl.col("zone").cast(pl.Int32))
    )
    if bands.is_empty():
        raise ValueError("zones.csv has no domestic band")
    expr: pl.Expr = pl.lit(None, dtype=pl.Int32)
    for band in reversed(bands.rows(named=True)):
        km = pl.col("_km")
        expr = (
            pl.when((km >= band["min_km"]) & (km < band["max_km"]))
            .then(pl.lit(band["zone"], dtype=pl.Int32))
            .otherwise(expr)
        )
    farthest = int(bands.sort("max_km")["zone"][-1])
    return expr, farthest


def _international_zone(reference_dir: Path) -> int:
    zones = read_reference(reference_dir, "zones").filter(pl.col("scope") == "international")
    return int(zones["zone"].cast(pl.Int32)[0]) if zones.height else 9


def _prepare(parcels: pl.DataFrame, reference_dir: Path, ship_date: date) -> pl.DataFrame:
    """One row per parcel with _i (input order), _scope, zone and promised_days."""
    missing = [c for c in REQUIRED_COLUMNS if c not in parcels.columns]
    if missing:
        raise ValueError(f"parcels lack column(s): {', '.join(missing)}")
    if parcels.schema["ship_by"] == pl.Null:  # every ship_by missing, untyped
        parcels = parcels.with_columns(pl.col("ship_by").cast(pl.Datetime("us", "UTC")))
    levels = pl.col("service_level").cast(pl.String).fill_null("standard")
    unknown = parcels.filter(~levels.is_in(list(SLA_DAYS)))["service_level"].unique()
    if unknown.len():
        raise ValueError(f"unknown service_level(s): {', '.join(sorted(unknown.to_list()))}")

    warehouses = read_reference(reference_dir, "warehouses").select(
        "warehouse_id", pl.col("lat").alias("_wh_lat"), pl.col("lon").alias("_wh_lon")
    )
    unknown_wh = parcels.join(warehouses, on="warehouse_id", how="anti")["warehouse_id"]
    if unknown_wh.len():
        names = sorted({str(w) for w in unknown_wh.to_list()})
        raise ValueError(f"unknown warehouse_id(s): {', '.join(names[:5])}")

    zone_of_km, farthest = _zone_expr(reference_dir)
    international_zone = _international_zone(reference_dir)
    country = pl.col("ship_country").cast(pl.String).str.strip_chars().str.to_uppercase()
    international = country.fill_null("US") != "US"
    lat = pl.col("ship_lat").cast(pl.Float64).fill_nan(None)
    lon = pl.col("ship_lon").cast(pl.Float64).fill_nan(None)

    sla = levels.replace_strict(SLA_DAYS, return_dtype=pl.Int32)
    ship_by_date = pl.col("ship_by").dt.date()
    # Business days after ship_date up to and including the ship_by date.
    window = pl.business_day_count(
        pl.lit(ship_date + timedelta(days=1)), ship_by_date + pl.duration(days=1)
    ).cast(pl.Int32)
    promised = (
        pl.when(pl.col("ship_by").is_null())
        .then(sla)
        .otherwise(pl.min_horizontal(sla, pl.max_horizontal(window, pl.lit(1, pl.Int32))))
    )

    return (
        parcels.with_row_index("_i")
        .join(warehouses, on="warehouse_id", how="left", maintain_order="left")
        .with_columns(
            haversine_km_expr(pl.col("_wh_lat"), pl.col("_wh_lon"), lat, lon).alias("_km"),
            pl.when(international)
            .then(pl.lit("international"))
            .otherwise(pl.lit("domestic"))
            .alias("_scope"),
        )
        .with_columns(
            pl.when(pl.col("_scope") == "international")
            .then(pl.lit(international_zone, dtype=pl.Int32))
            .otherwise(zone_of_km.fill_null(farthest))
            .alias("zone"),
            promised.alias("promised_days"),
            levels.alias("_level"),
            ship_by_date.alias("_ship_by_date"),
        )
    )


def _candidates(prepared: pl.DataFrame, reference_dir: Path) -> pl.DataFrame:
    """Every (parcel, service) of the parcel's scope, priced, timed and ranked."""
    services = read_reference(reference_dir, "carriers").select(
        "carrier",
        "service",
        "service_code",
        pl.col("scope").alias("_scope"),
        pl.col("dim_divisor_cm3_per_kg").cast(pl.Int64).alias("_divisor"),
        pl.col("max_weight_g").cast(pl.Int64).alias("_service_max_g"),
    )
    rates = _rate_cards(reference_dir).sort("max_weight_g")
    last_break = rates.group_by("carrier", "service", "zone").agg(
        pl.col("max_weight_g").max().alias("_last_break_g")
    )
    transit = read_reference(reference_dir, "transit_times").select(
        "carrier",
        "service",
        pl.col("zone").cast(pl.Int32),
        pl.col("transit_days").cast(pl.Int32),
    )

    volume_mm3 = (
        pl.col("length_mm").cast(pl.Int64).fill_null(0)
        * pl.col("width_mm").cast(pl.Int64).fill_null(0)
        * pl.col("height_mm").cast(pl.Int64).fill_null(0)
    )
    # ceil(L_cm * W_cm * H_cm / divisor * 1000) == ceil(L_mm * W_mm * H_mm / divisor), exactly.
    dim_g = (pl.col("_volume") + pl.col("_divisor") - 1) // pl.col("_divisor")

    frame = (
        prepared.select(
            "_i",
            "parcel_id",
            "_scope",
            "zone",
            "promised_days",
            pl.col("weight_g").cast(pl.Int64),
            volume_mm3.alias("_volume"),
        )
        .join(services, on="_scope", how="inner")
        .with_columns(dim_g.alias("dim_weight_g"))
        .with_columns(
            pl.max_horizontal("weight_g", "dim_weight_g").alias("billable_weight_g"),
        )
        .sort("billable_weight_g")
        .join_asof(
            rates.rename({"max_weight_g": "_break_g"}),
            left_on="billable_weight_g",
            right_on="_break_g",
            by=["carrier", "service", "zone"],
            strategy="forward",
            check_sortedness=False,
        )
        .join(last_break, on=["carrier", "service", "zone"], how="left")
        .join(transit, on=["carrier", "service", "zone"], how="left")
    )

    why_ineligible = (
        pl.when(pl.col("weight_g").is_null())
        .then(pl.lit("no weight"))
        .when(pl.col("billable_weight_g") > pl.col("_service_max_g"))
        .then(pl.lit("over the service's max weight"))
        .when(pl.col("_last_break_g").is_null())
        .then(pl.format("no rate card for zone {}", pl.col("zone")))
        .when(pl.col("price").is_null())
        .then(pl.lit("no rate for this weight"))
        .when(pl.col("transit_days").is_null())
        .then(pl.format("no transit time for zone {}", pl.col("zone")))
    )
    frame = frame.with_columns(why_ineligible.alias("_ineligible")).with_columns(
        pl.col("_ineligible").is_null().alias("eligible"),
        (pl.col("_ineligible").is_null() & (pl.col("transit_days") <= pl.col("promised_days")))
        .fill_null(False)
        .alias("meets_sla"),
    )
    frame = frame.with_columns(
        pl.when(pl.col("eligible")).then(pl.col("price")).alias("price"),
    )

    # One sort ranks every parcel's services: eligible first, then those meeting the promise
    # by price; when none meets it, by transit. Then transit, price, carrier, service.
    frame = frame.sort(
        "_i",
        "eligible",
        "meets_sla",
        pl.when(pl.col("meets_sla")).then(pl.col("price")),
        "transit_days",
        "price",
        "carrier",
        "service",
        descending=[False, True, True, False, False, False, False, False],
        nulls_last=True,
    ).with_columns(
        pl.when(pl.col("eligible"))
        .then(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("_i"))
        .alias("rank")
    )

    winner = frame.filter(pl.col("rank") == 1).select(
        "_i",
        pl.col("price").alias("_w_price"),
        pl.col("transit_days").alias("_w_transit"),
        pl.col("meets_sla").alias("_w_meets"),
    )
    frame = frame.join(winner, on="_i", how="left", maintain_order="left")
    missed = pl.format("transit {} > {}", pl.col("transit_days"), _days(pl.col("promised_days")))
    lost = (
        pl.when(pl.col("_w_meets") & ~pl.col("meets_sla"))
        .then(missed)
        .when(pl.col("meets_sla") & (pl.col("price") > pl.col("_w_price")))
        .then(pl.lit("dearer than the winner"))
        .when(pl.col("meets_sla") & (pl.col("transit_days") > pl.col("_w_transit")))
        .then(pl.lit("same price, slower than the winner"))
        .when(~pl.col("meets_sla") & (pl.col("transit_days") > pl.col("_w_transit")))
        .then(pl.format("{}, slower than the winner", missed))
        .when(~pl.col("meets_sla") & (pl.col("price") > pl.col("_w_price")))
        .then(pl.format("{}, as fast as the winner but dearer", missed))
        .otherwise(pl.lit("same price and transit: loses the tie on carrier and service name"))
    )
    return frame.with_columns(
        pl.when(~pl.col("eligible"))
        .then(pl.col("_ineligible"))
        .when(pl.col("rank") > 1)
        .then(lost)
        .alias("why_not")
    )


def rate_parcels(
    parcels: pl.DataFrame, reference_dir: Path, *, ship_date: date | None = None
) -> RateShop:
    """Rate every parcel with every service its destination allows and choose one each.

    ``parcels`` has parcel_id, warehouse_id, weight_g, length_mm, width_mm, height_mm,
    ship_lat, ship_lon, ship_country, service_level and ship_by (UTC, nullable); the rules
    are in the module docstring. ``choices`` keeps the order of ``parcels``; ``candidates``
    is in parcel order, then rank (ineligible services last).
    """
    if ship_date is None:
        ship_date = datetime.now(UTC).date()
    prepared = _prepare(parcels, reference_dir, ship_date)
    candidates = _candidates(prepared, reference_dir)

    summary = candidates.group_by("_i").agg(
        pl.col("meets_sla").sum().alias("_n_meeting"),
        pl.col("_ineligible").drop_nulls().unique().sort().str.join("; ").alias("_why_none"),
    )
    winners = candidates.filter(pl.col("rank") == 1).select(
        "_i",
        "carrier",
        "service",
        "service_code",
        "billable_weight_g",
        "dim_weight_g",
        "price",
        "transit_days",
        "meets_sla",
    )
    promise = pl.format(
        "{} ({}{})",
        _days(pl.col("promised_days")),
        pl.col("_level"),
        pl.when(pl.col("_ship_by_date").is_not_null())
        .then(pl.format(", ship by {}", pl.col("_ship_by_date").cast(pl.String)))
        .otherwise(pl.lit("")),
    )
    has_choice = pl.col("carrier").is_not_null()
    n_meeting = pl.col("_n_meeting")
    reason = (
        pl.when(~has_choice)
        .then(pl.lit("no eligible service"))
        .when(pl.col("meets_sla") & (n_meeting == 1))
        .then(pl.format("only service meeting {}", _days(pl.col("promised_days"))))
        .when(pl.col("meets_sla"))
        .then(
            pl.format(
                "cheapest of {} services meeting {}", n_meeting, _days(pl.col("promised_days"))
            )
        )
        .otherwise(
            pl.format(
                "no service meets {}: fastest (ties by price) chosen",
                _days(pl.col("promised_days")),
            )
        )
    )
    warning = (
        pl.when(~has_choice)
        .then(
            pl.format(
                "no service can carry this parcel: {}",
                pl.col("_why_none").fill_null(pl.format("no {} service", pl.col("_scope"))),
            )
        )
        .when(~pl.col("meets_sla"))
        .then(
            pl.format(
                "misses the promise of {}: the fastest service, {}, takes {}",
                promise,
                pl.col("service"),
                _days(pl.col("transit_days")),
            )
        )
    )
    choices = (
        prepared.select(
            "_i", "parcel_id", "_scope", "zone", "promised_days", "_level", "_ship_by_date"
        )
        .join(winners, on="_i", how="left", maintain_order="left")
        .join(summary, on="_i", how="left", maintain_order="left")
        .with_columns(reason.alias("reason"), warning.alias("warning"))
        .with_columns(pl.col("meets_sla").fill_null(False))
        .sort("_i")
        .select(CHOICE_COLUMNS)
    )
    return RateShop(
        choices=choices,
        candidates=candidates.select(CANDIDATE_COLUMNS),
    )
