"""Tracking generator: parcel timelines (order, ``now`` cut-off, scenario shares and endings) and
the inbox files (read back by the real reader: same events, out of order across files, repeats,
unknown trackers, latest event per parcel, byte-for-byte determinism)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.lib.generator.tracking import (
    SCENARIO_SHARES,
    TrackingFiles,
    tracking_timelines,
    write_tracking_files,
)
from pipelines.lib.tracking_events import event_key, read_tracking_file, sniff
from pipelines.lib.tracking_numbers import is_valid, make_tracking_numbers

NOW = datetime(2024, 6, 20, 15, 30, tzinfo=UTC)
CARRIERS = ("UPS", "FedEx", "USPS")
SERVICE = {"UPS": "03", "FedEx": "", "USPS": "GroundAdvantage"}
ORIGINS = (("Reno", "NV", "89501"), ("Columbus", "OH", "43215"), ("Allentown", "PA", "18101"))
DESTINATIONS = (
    ("Austin", "TX", "78701", "US"),
    ("Portland", "OR", "97205", "US"),
    ("Miami", "FL", "33130", "US"),
    ("Chicago", "IL", "60601", "US"),
    ("Toronto", "ON", "M5V 2T6", "CA"),
)
STAMP = "20240620T153000"


def make_parcels(n: int, *, seed: int = 11, max_age_days: float = 12.0, min_age_days=0.0):
    """``n`` parcels shipped between ``max_age_days`` and ``min_age_days`` before NOW, with real
    tracking numbers; the promise is ``transit_days`` business days after the pick-up date."""
    rng = np.random.default_rng(seed)
    carrier = [CARRIERS[i % 3] for i in range(n)]
    numbers: list[str] = [""] * n
    for c in CARRIERS:
        idx = [i for i in range(n) if carrier[i] == c]
        made = make_tracking_numbers(c, SERVICE[c], [10_000 + i for i in idx])
        for i, number in zip(idx, made, strict=True):
            numbers[i] = number
    age = rng.uniform(min_age_days * 86400, max_age_days * 86400, n).astype(int)
    shipped = [NOW - timedelta(seconds=int(a)) for a in age]
    transit = rng.integers(1, 6, n)
    ship_day = np.array([s.date() for s in shipped], dtype="datetime64[D]")
    promised = np.busday_offset(ship_day, transit, roll="forward")
    origin = [ORIGINS[i] for i in rng.integers(0, len(ORIGINS), n)]
    dest = [DESTINATIONS[i] for i in rng.integers(0, len(DESTINATIONS), n)]
    return pl.DataFrame(
        {
            "tracking_number": numbers,
            "carrier": carrier,
            "shipped_at": shipped,
            "transit_days": transit,
            "promised_delivery_date": promised,
            "origin_city": [o[0] for o in origin],
            "origin_region": [o[1] for o in origin],
            "origin_postal_code": [o[2] for o in origin],
            "ship_city": [d[0] for d in dest],
            "ship_region": [d[1] for d in dest],
            "ship_postal_code": [d[2] for d in dest],
            "ship_country": [d[3] for d in dest],
        }
    ).with_columns(
        pl.col("shipped_at").dt.cast_time_unit("us"),
        pl.col("transit_days").cast(pl.Int32),
        pl.col("promised_delivery_date").cast(pl.Date),
    )


@pytest.fixture(scope="module")
def parcels() -> pl.DataFrame:
    return make_parcels(200)


@pytest.fixture(scope="module")
def events(parcels: pl.DataFrame) -> pl.DataFrame:
    return tracking_timelines(parcels, now=NOW, seed=3)


@pytest.fixture(scope="module")
def big() -> tuple[pl.DataFrame, pl.DataFrame]:
    """5,000 parcels shipped 25-40 days ago: every timeline is complete by NOW."""
    parcels = make_parcels(5000, seed=5, max_age_days=40, min_age_days=25)
    return parcels, tracking_timelines(parcels, now=NOW, seed=8)


def keyed(frame: pl.DataFrame) -> pl.DataFrame:
    keys = [
        event_key(t, s, at.replace(tzinfo=None), m)
        for t, s, at, m in frame.select(
            "tracking_number", "status", "occurred_at", "message"
        ).iter_rows()
    ]
    return frame.with_columns(event_key=pl.Series(keys, dtype=pl.String))


# --------------------------------------------------------------------------- timelines


def test_timeline_columns(events: pl.DataFrame) -> None:
    assert events.columns == [
        "tracking_number",
        "carrier",
        "status",
        "status_detail",
        "message",
        "occurred_at",
        "city",
        "state",
        "zip",
        "country",
        "scenario",
    ]
    assert events.schema["occurred_at"] == pl.Datetime("us", "UTC")
    assert events.select(pl.all().null_count()).sum_horizontal().item() == 0
    assert set(events["scenario"]) <= set(SCENARIO_SHARES)


def test_timelines_ordered_and_start_with_label(events: pl.DataFrame) -> None:
    per = events.group_by("tracking_number", maintain_order=True).agg(
        first=pl.col("status").first(),
        first_detail=pl.col("status_detail").first(),
        increasing=(pl.col("occurred_at").diff().drop_nulls() > pl.duration(seconds=0)).all(),
        scenarios=pl.col("scenario").n_unique(),
    )
    assert per.height > 150
    assert (per["first"] == "pre_transit").all()
    assert (per["first_detail"] == "label_created").all()
    assert per["increasing"].all()  # strictly, so no ties at a parcel's latest event
    assert (per["scenarios"] == 1).all()


def test_no_event_after_now_and_fresh_parcels_are_partial(parcels: pl.DataFrame) -> None:
    events = tracking_timelines(parcels, now=NOW, seed=3)
    assert events["occurred_at"].max() <= NOW
    fresh = parcels.head(3).with_columns(
        shipped_at=pl.lit(NOW - timedelta(hours=1)).dt.cast_time_unit("us")
    )
    future = parcels.slice(3, 2).with_columns(
        shipped_at=pl.lit(NOW + timedelta(days=2)).dt.cast_time_unit("us")
    )
    got = tracking_timelines(pl.concat([fresh, future]), now=NOW, seed=1)
    assert set(got["tracking_number"]) == set(fresh["tracking_number"])
    for number, rows in got.group_by("tracking_number"):
        statuses = rows.sort("occurred_at")["status"].to_list()
        assert statuses[:2] == ["pre_transit", "in_transit"], number
        assert set(statuses) <= {"pre_transit", "in_transit"}
    # An earlier `now` only cuts timelines: what is left is a prefix of the full one.
    earlier = NOW - timedelta(days=3)
    cut = tracking_timelines(parcels, now=earlier, seed=3)
    assert cut["occurred_at"].max() <= earlier
    assert cut.equals(events.filter(pl.col("occurred_at") <= earlier))


def test_timelines_deterministic(parcels: pl.DataFrame, events: pl.DataFrame) -> None:
    assert tracking_timelines(parcels, now=NOW, seed=3).equals(events)
    assert not tracking_timelines(parcels, now=NOW, seed=4).equals(events)


def test_scenario_shares(big: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    parcels, events = big
    per = events.group_by("tracking_number").agg(pl.col("scenario").first())
    assert per.height == parcels.height
    counts = dict(per.group_by("scenario").len().iter_rows())
    assert set(counts) == set(SCENARIO_SHARES)
    for scenario, share in SCENARIO_SHARES.items():
        observed = counts[scenario] / parcels.height
        tolerance = 4 * (share * (1 - share) / parcels.height) ** 0.5 + 0.003
        assert abs(observed - share) <= tolerance, (scenario, observed, share)


def test_scenario_endings(big: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    _, events = big
    per = events.group_by("tracking_number").agg(
        pl.col("scenario").first(),
        statuses=pl.col("status").sort_by("occurred_at"),
    )
    for scenario, statuses in per.select("scenario", "statuses").iter_rows():
        assert statuses[:2] == ["pre_transit", "in_transit"]
        hops = [s for s in statuses[2:] if s == "in_transit"]
        assert 1 <= len(hops) <= 3
        tail = [s for s in statuses[2:] if s != "in_transit"]
        expected = {
            "on_time": ["out_for_delivery", "delivered"],
            "late": ["out_for_delivery", "delivered"],
            "failed_then_delivered": [
                "out_for_delivery",
                "failure",
                "out_for_delivery",
                "delivered",
            ],
            "returned": ["out_for_delivery", "failure", "return_to_sender"],
            "available_for_pickup": ["out_for_delivery", "available_for_pickup"],
            "lost_in_transit": [],
        }[scenario]
        assert tail == expected, (scenario, statuses)
        assert statuses[-1] != "in_transit" or scenario == "lost_in_transit"
    attempts = events.filter(pl.col("status") == "failure")
    assert attempts["message"].str.contains("(?i)no access").all()


def test_delivery_days(big: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    parcels, events = big
    delivered = events.filter(pl.col("status") == "delivered").join(
        parcels.select(
            "tracking_number",
            "transit_days",
            "promised_delivery_date",
            ship_day=pl.col("shipped_at").dt.date(),
        ),
        on="tracking_number",
    )
    day = delivered["occurred_at"].dt.date().to_numpy().astype("datetime64[D]")
    ship = delivered["ship_day"].to_numpy().astype("datetime64[D]")
    business_days = np.busday_count(ship, day)
    promised = delivered["promised_delivery_date"].to_numpy().astype("datetime64[D]")
    scenario = delivered["scenario"].to_numpy()
    transit = delivered["transit_days"].to_numpy()

    on_time = scenario == "on_time"
    assert on_time.sum() > 3000
    assert (business_days[on_time] >= 1).all()
    assert (business_days[on_time] <= transit[on_time]).all()
    assert (business_days[on_time] < transit[on_time]).any()  # some arrive early

    late = scenario == "late"
    assert late.sum() > 250
    assert (day[late] > promised[late] + 1).all()
    assert (day[late] <= promised[late] + 7).all()  # 1-4 days + weekend roll

    retried = scenario == "failed_then_delivered"
    failures = events.filter(
        (pl.col("status") == "failure") & (pl.col("scenario") == "failed_then_delivered")
    ).select("tracking_number", failed_day=pl.col("occurred_at").dt.date())
    both = delivered.filter(pl.Series(retried)).join(failures, on="tracking_number")
    assert both.height == retried.sum()
    gaps = np.busday_count(
        both["failed_day"].to_numpy().astype("datetime64[D]"),
        both["occurred_at"].dt.date().to_numpy().astype("datetime64[D]"),
    )
    assert (gaps == 1).all()  # delivered the next business day
    hours = events.filter(pl.col("status") == "out_for_delivery")["occurred_at"].dt.hour()
    assert hours.is_between(12, 14).all()  # mornings (US), written in UTC
    assert delivered["occurred_at"].dt.hour().is_between(17, 22).all()


def test_event_places(events: pl.DataFrame, parcels: pl.DataFrame) -> None:
    joined = events.join(parcels, on="tracking_number")
    at_origin = joined.filter(
        pl.col("status_detail").is_in(
            ["label_created", "received_at_origin_facility", "departed_origin_facility"]
        )
    )
    assert (at_origin["city"] == at_origin["origin_city"]).all()
    assert (at_origin["country"] == "US").all()
    at_destination = joined.filter(pl.col("status").is_in(["out_for_delivery", "delivered"]))
    assert (at_destination["city"] == at_destination["ship_city"]).all()
    assert (at_destination["zip"] == at_destination["ship_postal_code"]).all()
    assert (at_destination["country"] == at_destination["ship_country"]).all()


# --------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def written(
    events: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrackingFiles, pl.DataFrame]:
    inbox = tmp_path_factory.mktemp("inbox")
    result = write_tracking_files(events, inbox, seed=21, stamp=STAMP, duplicate_share=0.05)
    read = pl.concat(
        [
            read_tracking_file(p).with_columns(file=pl.lit(i, dtype=pl.Int64))
            for i, p in enumerate(result.paths)
        ]
    )
    return result, read


def test_file_names_and_layouts(written: tuple[TrackingFiles, pl.DataFrame]) -> None:
    result, _ = written
    assert [p.name for p in result.paths] == [
        f"tracking_{STAMP}_1.json",
        f"tracking_{STAMP}_2.csv",
        f"tracking_{STAMP}_3.json",
        f"tracking_{STAMP}_4.csv",
    ]
    for path in result.paths:
        expected = "tracker_json" if path.suffix == ".json" else "tracking_csv"
        assert sniff(path.read_bytes()[:65536]) == expected
    assert all(rows > 0 for rows in result.rows_per_file)


def test_read_back_is_the_events_plus_unknowns(
    written: tuple[TrackingFiles, pl.DataFrame], events: pl.DataFrame, parcels: pl.DataFrame
) -> None:
    result, read = written
    assert result.events == events.height
    assert read.height == sum(result.rows_per_file) - result.duplicates_same_file
    assert read.height == (
        result.events + result.unknown + result.duplicates - result.duplicates_same_file
    )
    assert (read["status"] != "unknown").all()

    distinct = read.unique("event_key", keep="first").sort("event_key")
    assert distinct.height == result.events + result.unknown

    expected = keyed(events)
    known = distinct.filter(pl.col("tracking_number").is_in(parcels["tracking_number"].implode()))
    cols = ["event_key", "tracking_number", "carrier", "status", "occurred_at", "message"]
    assert known.select(cols).equals(expected.select(cols).sort("event_key"))
    assert known.join(expected, on="event_key")["status_detail"].equals(
        known.join(expected, on="event_key")["status_detail_right"], check_names=False
    )

    others = distinct.filter(~pl.col("tracking_number").is_in(parcels["tracking_number"].implode()))
    assert others.height == result.unknown
    assert result.unknown >= len(result.unknown_tracking_numbers) == 3
    assert set(others["tracking_number"]) == set(result.unknown_tracking_numbers)
    for number in result.unknown_tracking_numbers:
        assert len(number) == 12 and number.isdigit() and is_valid(number)
    assert (others["carrier"] == "FedEx").all()
    assert (others["occurred_at"] <= NOW).all()


def test_locations_in_both_layouts(written: tuple[TrackingFiles, pl.DataFrame]) -> None:
    result, read = written
    json_files = [i for i, p in enumerate(result.paths) if p.suffix == ".json"]
    json_rows = read.filter(pl.col("file").is_in(json_files))
    csv_rows = read.filter(~pl.col("file").is_in(json_files))
    # reader formats tracker locations as "City, ST, ZIP, CC"; CSV carries "City, ST ZIP, CC"
    assert json_rows["location"].str.contains(r"^[A-Za-z ]+, [A-Z]{2}, [0-9A-Z ]+, [A-Z]{2}$").all()
    assert csv_rows["location"].str.contains(r"^[A-Za-z ]+, [A-Z]{2} [0-9A-Z ]+, [A-Z]{2}$").all()
    # CSV statuses come in several spellings that all map to the canonical one
    assert csv_rows["raw_status"].str.contains(" ").any()
    assert csv_rows["raw_status"].str.contains("-").any()
    assert (csv_rows["raw_status"] == csv_rows["status"]).any()


def test_out_of_order_across_files(written: tuple[TrackingFiles, pl.DataFrame]) -> None:
    _, read = written
    spans = read.group_by("tracking_number", "file").agg(
        first=pl.col("occurred_at").min(), last=pl.col("occurred_at").max()
    )
    pairs = spans.join(spans, on="tracking_number", suffix="_later").filter(
        (pl.col("file_later") > pl.col("file")) & (pl.col("first_later") < pl.col("last"))
    )
    assert pairs["tracking_number"].n_unique() >= 10
    spread = spans.group_by("tracking_number").len()
    assert (spread["len"] >= 2).mean() > 0.5  # most parcels span several files


def test_rows_within_files_are_not_time_sorted(
    written: tuple[TrackingFiles, pl.DataFrame],
) -> None:
    result, _ = written
    for path in result.paths:
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            times = [d["datetime"] for t in doc for d in t["tracking_details"]]
            within = [
                [d["datetime"] for d in t["tracking_details"]]
                for t in doc
                if len(t["tracking_details"]) > 2
            ]
            assert any(ts != sorted(ts) for ts in within)
        else:
            with path.open(newline="") as fh:
                times = [row["occurred_at"] for row in csv.DictReader(fh)]
        assert times != sorted(times)


def test_tracker_top_level_is_its_latest_detail(
    written: tuple[TrackingFiles, pl.DataFrame],
) -> None:
    result, _ = written
    for path in result.paths[::2]:
        doc = json.loads(path.read_text())
        codes = [t["tracking_code"] for t in doc]
        assert len(codes) == len(set(codes))  # one tracker per parcel per file
        for tracker in doc:
            latest = max(tracker["tracking_details"], key=lambda d: d["datetime"])
            assert tracker["status"] == latest["status"]
            assert tracker["status_detail"] == latest["status_detail"]
            assert tracker["updated_at"] == latest["datetime"]
            assert tracker["object"] == "Tracker"


def test_duplicates_are_really_written(
    written: tuple[TrackingFiles, pl.DataFrame], events: pl.DataFrame
) -> None:
    result, read = written
    assert result.duplicates == round(0.05 * events.height)
    assert 0 < result.duplicates_same_file < result.duplicates
    files_per_key = read.group_by("event_key").agg(pl.col("file").n_unique())["file"]
    # every repeat into another file shows up as an event read from exactly two files
    assert (files_per_key == 2).sum() == result.duplicates - result.duplicates_same_file
    assert files_per_key.max() == 2
    # repeats inside one file are in the raw file (the reader keeps one of them)
    raw = 0
    for path in result.paths:
        if path.suffix == ".json":
            raw += sum(len(t["tracking_details"]) for t in json.loads(path.read_text()))
        else:
            raw += len(path.read_text().splitlines()) - 1
    assert raw == sum(result.rows_per_file)
    assert raw - read.height == result.duplicates_same_file


def test_latest_matches_read_back(
    written: tuple[TrackingFiles, pl.DataFrame], parcels: pl.DataFrame
) -> None:
    result, read = written
    from_files = (
        read.filter(~pl.col("tracking_number").is_in(result.unknown_tracking_numbers))
        .sort("tracking_number", "occurred_at", "event_key")
        .group_by("tracking_number", maintain_order=True)
        .last()
        .select("tracking_number", "status", "occurred_at")
    )
    assert result.latest.sort("tracking_number").equals(from_files)
    assert result.latest.height == parcels.height  # every parcel shipped before NOW shows


def test_latest_tie_goes_to_the_reader_last_row(tmp_path: Path) -> None:
    at = datetime(2024, 6, 18, 19, 0, tzinfo=UTC)
    rows = [
        ("111111111117", "in_transit", at - timedelta(hours=5), "Picked up"),
        ("111111111117", "delivered", at, "Delivered"),
        ("111111111117", "failure", at, "Delivery attempted, no access to delivery location"),
        ("222222222222", "pre_transit", at, "Shipment information sent to FedEx"),
    ]
    events = pl.DataFrame(
        {
            "tracking_number": [r[0] for r in rows],
            "carrier": "FedEx",
            "status": [r[1] for r in rows],
            "status_detail": None,
            "message": [r[3] for r in rows],
            "occurred_at": [r[2] for r in rows],
            "city": "Austin",
            "state": "TX",
            "zip": "78701",
            "country": "US",
        },
        schema_overrides={"status_detail": pl.String},
    )
    result = write_tracking_files(events, tmp_path, seed=1, files=2, unknown=0, stamp="t")
    read = pl.concat([read_tracking_file(p) for p in result.paths])
    last = (
        read.sort("tracking_number", "occurred_at", "event_key")
        .group_by("tracking_number", maintain_order=True)
        .last()
    )
    assert result.latest.equals(last.select("tracking_number", "status", "occurred_at"))
    assert result.unknown == 0 and result.unknown_tracking_numbers == []


def test_same_seed_same_bytes(events: pl.DataFrame, tmp_path: Path) -> None:
    def run(folder: str, seed: int) -> list[bytes]:
        result = write_tracking_files(events, tmp_path / folder, seed=seed, stamp=STAMP)
        return [p.read_bytes() for p in result.paths]

    first = run("a", 9)
    assert run("b", 9) == first
    assert run("c", 10) != first


def test_too_few_events_for_the_files(events: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 4 events"):
        write_tracking_files(events.head(3), tmp_path, seed=1, stamp=STAMP)
