"""Carrier tracking events for shipped parcels, and the inbox files that deliver them.

:func:`tracking_timelines` turns parcels (tracking number, carrier, pick-up time, service
transit days, promised date, origin and destination) into each parcel's event timeline, in
canonical statuses (:data:`pipelines.lib.tracking_events.EVENT_STATUSES`):

1. ``pre_transit`` label created, 0.5-12 hours before ``shipped_at`` (origin);
2. ``in_transit`` picked up at ``shipped_at`` (origin);
3. one to three ``in_transit`` hops between pick-up and the first delivery morning: departed
   the origin facility (origin city), arrived at the destination facility and arrived at the
   local delivery unit (destination city) — no real hubs;
4. the ending of the parcel's scenario, drawn per parcel with the fixed
   :data:`SCENARIO_SHARES`:

   ``on_time``
       ``out_for_delivery`` in the morning and ``delivered`` in the afternoon of the
       ``transit_days``-th business day after the pick-up date (one business day earlier for
       :data:`EARLY_SHARE` of them);
   ``late``
       the same, on ``promised_delivery_date + 1 day + 1..4 days`` (rolled forward to a
       business day), so strictly after the promised date plus one day of grace;
   ``failed_then_delivered``
       out for delivery and a ``failure`` (delivery attempted, no access) on the first
       delivery day, out for delivery again and ``delivered`` the next business day;
   ``returned``
       out for delivery and a ``failure`` on the first delivery day, ``return_to_sender``
       1-3 business days later;
   ``available_for_pickup``
       out for delivery, then ``available_for_pickup`` in the afternoon;
   ``lost_in_transit``
       nothing after the last in-transit hop.

Business days are Monday to Friday (no holidays); a pick-up on a weekend counts from the next
Monday. Times are whole seconds in UTC; "morning" is 12:00-15:00 UTC and "afternoon"
17:00-23:00 UTC (US local morning and afternoon, roughly — the files carry UTC). Within a
parcel every event is strictly later than the one before (no two events of a parcel share a
time), and only events at or before ``now`` are returned.

:func:`write_tracking_files` writes events into inbox files that
:func:`pipelines.lib.tracking_events.read_tracking_file` reads, alternating EasyPost tracker
JSON lists and flat CSV, made hard on purpose: a parcel's events are spread over several files
(chunks that wrap around the file numbers, plus a random stray), so a later-numbered file often
holds earlier events; rows within a file are shuffled; a share of events is written twice
(mostly in another file, some in the same file); and a few trackers belong to no parcel.
CSV statuses are written in mixed spellings (``in_transit``, ``In Transit``,
``IN-TRANSIT``) that the reader normalises to the same canonical status and event key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.lib.tracking_events import event_key
from pipelines.lib.tracking_numbers import make_tracking_numbers

#: Share of parcels per scenario (sums to 1).
SCENARIO_SHARES: dict[str, float] = {
    "on_time": 0.86,
    "late": 0.08,
    "failed_then_delivered": 0.03,
    "returned": 0.01,
    "available_for_pickup": 0.01,
    "lost_in_transit": 0.01,
}
SCENARIOS = tuple(SCENARIO_SHARES)
#: Share of on-time parcels delivered one business day before their transit days are up.
EARLY_SHARE = 0.2
#: Hours between label creation and pick-up.
LABEL_LEAD_HOURS = (0.5, 12.0)
#: Out-for-delivery and delivery (or attempt) windows, hours of the day in UTC.
MORNING_HOURS = (12.0, 15.0)
AFTERNOON_HOURS = (17.0, 23.0)
#: Share of the repeated events that are repeated inside the same file (the rest go to another).
SAME_FILE_DUPLICATE_SHARE = 0.2
#: Share of events sent to a random file instead of their parcel's chunk.
STRAY_SHARE = 0.1
#: FedEx serials of the trackers that match no parcel: far above any serial a run would use.
UNKNOWN_SERIAL_BASE = 97_000_000_000

EVENT_COLUMNS = (
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
)
ISO_SECONDS = "%Y-%m-%dT%H:%M:%S%.fZ"  # fractional part only when not zero

# kind: (status, status_detail, at destination?, message by carrier)
_KINDS: dict[str, tuple[str, str, bool, dict[str, str]]] = {
    "label": (
        "pre_transit",
        "label_created",
        False,
        {
            "UPS": "Shipper created a label, UPS has not received the package yet.",
            "FEDEX": "Shipment information sent to FedEx",
            "USPS": "Shipping Label Created, USPS Awaiting Item",
        },
    ),
    "pickup": (
        "in_transit",
        "received_at_origin_facility",
        False,
        {"UPS": "Pickup Scan", "FEDEX": "Picked up", "USPS": "USPS picked up item"},
    ),
    "depart_origin": (
        "in_transit",
        "departed_origin_facility",
        False,
        {
            "UPS": "Departed from Facility",
            "FEDEX": "Left FedEx origin facility",
            "USPS": "Departed USPS Regional Origin Facility",
        },
    ),
    "arrive_dest": (
        "in_transit",
        "arrived_at_facility",
        True,
        {
            "UPS": "Arrived at Facility",
            "FEDEX": "Arrived at FedEx location",
            "USPS": "Arrived at USPS Regional Destination Facility",
        },
    ),
    "arrive_local": (
        "in_transit",
        "received_at_destination_facility",
        True,
        {
            "UPS": "Destination Scan",
            "FEDEX": "At local FedEx facility",
            "USPS": "Arrived at Post Office",
        },
    ),
    "out_for_delivery": (
        "out_for_delivery",
        "out_for_delivery",
        True,
        {
            "UPS": "Out For Delivery Today",
            "FEDEX": "On FedEx vehicle for delivery",
            "USPS": "Out for Delivery",
        },
    ),
    "delivered": (
        "delivered",
        "arrived_at_destination",
        True,
        {"UPS": "Delivered", "FEDEX": "Delivered", "USPS": "Delivered, Front Door/Porch"},
    ),
    "attempted": (
        "failure",
        "delivery_exception",
        True,
        {
            "UPS": "Delivery attempted, no access to delivery location",
            "FEDEX": "Delivery attempted, no access to delivery location",
            "USPS": "Delivery Attempted - No Access to Delivery Location",
        },
    ),
    "ready_for_pickup": (
        "available_for_pickup",
        "arrived_at_pickup_location",
        True,
        {
            "UPS": "Delivered to UPS Access Point location, available for pickup",
            "FEDEX": "Ready for pickup at FedEx location",
            "USPS": "Available for Pickup",
        },
    ),
    "returned": (
        "return_to_sender",
        "return",
        True,
        {
            "UPS": "Returning to sender: the receiver could not be reached",
            "FEDEX": "Returning package to shipper",
            "USPS": "Return to Sender Processed",
        },
    ),
}
_KIND_NAMES = tuple(_KINDS)
_K = {name: i for i, name in enumerate(_KIND_NAMES)}
_SLOTS = 9  # label, pickup, hop 1-3, out for delivery, ending, out for delivery again, ending 2

_US_PER_S = 1_000_000
_DAY = 86_400


def _vocabulary() -> pl.DataFrame:
    rows = [
        {
            "kind": i,
            "carrier_key": carrier,
            "status": status,
            "status_detail": detail,
            "message": message,
            "at_destination": at_dest,
        }
        for i, (status, detail, at_dest, messages) in enumerate(_KINDS.values())
        for carrier, message in messages.items()
    ]
    return pl.DataFrame(rows, schema_overrides={"kind": pl.Int8})


def _uniform_seconds(rng: np.random.Generator, hours: tuple[float, float], n: int) -> np.ndarray:
    return np.floor(rng.uniform(hours[0] * 3600, hours[1] * 3600, n)).astype(np.int64)


def _days(values: np.ndarray) -> np.ndarray:
    return values.astype("datetime64[D]").astype(np.int64)


def tracking_timelines(parcels: pl.DataFrame, *, now: datetime, seed: int) -> pl.DataFrame:
    """Each parcel's tracking events up to ``now`` (see the module doc for the timeline).

    ``parcels``: tracking_number, carrier (UPS / FedEx / USPS), shipped_at (Datetime, UTC: the
    carrier pick-up), transit_days (business days), promised_delivery_date (Date), origin_city,
    origin_region, origin_postal_code, ship_city, ship_region, ship_postal_code, ship_country.
    Origins are taken to be in the US.

    Returns tracking_number, carrier, status (canonical), status_detail, message, occurred_at
    (Datetime us UTC, whole seconds), city, state, zip, country, scenario — in parcel order,
    each parcel's events in strictly increasing time. Deterministic for ``seed``.
    """
    rng = np.random.default_rng(seed)
    n = parcels.height
    if n == 0:
        return _empty_events()

    base = parcels.select(
        shipped_us=pl.col("shipped_at").dt.epoch("us"),  # naive times taken as UTC
        transit=pl.col("transit_days").cast(pl.Int64).clip(lower_bound=1),
        promised=pl.col("promised_delivery_date").cast(pl.Date),
    )
    pick = base["shipped_us"].to_numpy() // _US_PER_S  # whole seconds
    transit = base["transit"].to_numpy()
    ship_day = (pick // _DAY).astype("datetime64[D]")
    promised = base["promised"].to_numpy().astype("datetime64[D]")

    shares = np.array(list(SCENARIO_SHARES.values()))
    scenario = rng.choice(len(SCENARIOS), size=n, p=shares / shares.sum())
    s = {name: scenario == i for i, name in enumerate(SCENARIOS)}
    hops = rng.integers(1, 4, n)

    # First delivery day (out for delivery + ending) and second day (retry / return).
    early = s["on_time"] & (rng.random(n) < EARLY_SHARE)
    on_time_days = np.where(early, np.maximum(transit - 1, 1), transit)
    planned = np.busday_offset(ship_day, transit, roll="forward")
    on_time_day = np.busday_offset(ship_day, on_time_days, roll="forward")
    first_day = np.where(s["on_time"], on_time_day, planned)
    late_day = np.busday_offset(
        promised + 1 + rng.integers(1, 5, n).astype("timedelta64[D]"), 0, roll="forward"
    )
    late_day = np.maximum(late_day, np.busday_offset(ship_day, 1, roll="forward"))
    first_day = np.where(s["late"], late_day, first_day)
    second_offset = np.where(s["returned"], rng.integers(1, 4, n), 1)
    second_day = np.busday_offset(first_day, second_offset, roll="forward")

    d1 = _days(first_day) * _DAY
    d2 = _days(second_day) * _DAY
    ofd1 = d1 + _uniform_seconds(rng, MORNING_HOURS, n)
    end1 = d1 + _uniform_seconds(rng, AFTERNOON_HOURS, n)
    ofd2 = d2 + _uniform_seconds(rng, MORNING_HOURS, n)
    end2 = d2 + _uniform_seconds(rng, AFTERNOON_HOURS, n)
    label = pick - np.maximum(_uniform_seconds(rng, LABEL_LEAD_HOURS, n), 1)

    # Hops: hop k of h falls in the k-th h-th of (pick-up, first out for delivery).
    span = ofd1 - pick
    hop_frac = rng.uniform(0.15, 0.85, (3, n))
    hop_t = [pick + np.floor(span * (k + hop_frac[k]) / hops).astype(np.int64) for k in range(3)]

    ends = ~s["lost_in_transit"]
    first_end = np.select(
        [s["on_time"] | s["late"], s["failed_then_delivered"] | s["returned"]],
        [_K["delivered"], _K["attempted"]],
        _K["ready_for_pickup"],
    )
    second_end = np.where(s["returned"], _K["returned"], _K["delivered"])
    retry = s["failed_then_delivered"]
    always = np.ones(n, dtype=bool)

    def kind(k: str) -> np.ndarray:
        return np.full(n, _K[k], dtype=np.int64)

    slots = [  # (present, time in s, kind) in time order within a parcel
        (always, label, kind("label")),
        (always, pick, kind("pickup")),
        (always, hop_t[0], kind("depart_origin")),
        (hops >= 2, hop_t[1], kind("arrive_dest")),
        (hops >= 3, hop_t[2], kind("arrive_local")),
        (ends, ofd1, kind("out_for_delivery")),
        (ends, end1, first_end),
        (retry, ofd2, kind("out_for_delivery")),
        (retry | s["returned"], end2, second_end),
    ]
    assert len(slots) == _SLOTS
    present = np.stack([p for p, _, _ in slots], axis=1)
    times = np.stack([t for _, t, _ in slots], axis=1)
    kinds = np.stack([k for _, _, k in slots], axis=1)

    now_us = _now_us(now)
    keep = present & (times * _US_PER_S <= now_us)
    parcel_idx = np.broadcast_to(np.arange(n)[:, None], keep.shape)[keep]
    times = times[keep]
    kinds = kinds[keep].astype(np.int8)

    attrs = parcels.select(
        "tracking_number",
        "carrier",
        carrier_key=pl.col("carrier").str.to_uppercase(),
        origin_city=pl.col("origin_city"),
        origin_state=pl.col("origin_region"),
        origin_zip=pl.col("origin_postal_code").cast(pl.String),
        ship_city=pl.col("ship_city"),
        ship_state=pl.col("ship_region"),
        ship_zip=pl.col("ship_postal_code").cast(pl.String),
        ship_country=pl.col("ship_country"),
    )[parcel_idx]
    events = attrs.with_columns(
        kind=pl.Series(kinds),
        occurred_at=pl.Series(times * _US_PER_S).cast(pl.Datetime("us", "UTC")),
        scenario=pl.Series(scenario[parcel_idx]).replace_strict(
            dict(enumerate(SCENARIOS)), return_dtype=pl.String
        ),
    ).join(_vocabulary(), on=["kind", "carrier_key"], how="left", maintain_order="left")
    if events["status"].null_count():
        raise ValueError("carrier must be UPS, FedEx or USPS")
    dest = pl.col("at_destination")
    return events.select(
        "tracking_number",
        "carrier",
        "status",
        "status_detail",
        "message",
        "occurred_at",
        city=pl.when(dest).then("ship_city").otherwise("origin_city"),
        state=pl.when(dest).then("ship_state").otherwise("origin_state"),
        zip=pl.when(dest).then("ship_zip").otherwise("origin_zip"),
        country=pl.when(dest).then("ship_country").otherwise(pl.lit("US")),
        scenario=pl.col("scenario"),
    )


def _now_us(now: datetime) -> int:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    delta = now - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * _DAY + delta.seconds) * _US_PER_S + delta.microseconds


def _empty_events() -> pl.DataFrame:
    schema = {c: pl.String() for c in EVENT_COLUMNS}
    schema["occurred_at"] = pl.Datetime("us", "UTC")
    schema["scenario"] = pl.String()
    return pl.DataFrame(schema=schema)


# --------------------------------------------------------------------------- files


@dataclass
class TrackingFiles:
    """What :func:`write_tracking_files` wrote.

    Counts are of event rows (a tracker's detail or a CSV row):

    - ``events``: distinct events of the input written (each at least once);
    - ``duplicates``: extra rows repeating an event already written — in another file or in the
      same file. The reader keeps one of same-file repeats, so the rows read back over all
      files number ``events + unknown + duplicates - duplicates_same_file``;
    - ``unknown``: events of trackers whose numbers match no input tracking number (distinct
      events; never duplicated), of the ``unknown_tracking_numbers``.

    ``latest`` has tracking_number, status, occurred_at: each input parcel's latest event (by
    occurred_at); should two events of a parcel share the latest time, the one with the larger
    ``event_key`` wins — the last one when rows are sorted as the reader sorts them
    (tracking_number, occurred_at, event_key). :func:`tracking_timelines` never makes such ties.
    """

    paths: list[Path]
    events: int
    duplicates: int
    unknown: int
    unknown_tracking_numbers: list[str]
    latest: pl.DataFrame = field(repr=False)
    #: of ``duplicates``, the repeats written into the same file as the first copy
    duplicates_same_file: int = 0
    #: event rows per file, in ``paths`` order (repeats and unknowns included)
    rows_per_file: list[int] = field(default_factory=list)


def write_tracking_files(
    events: pl.DataFrame,
    inbox: Path,
    *,
    seed: int,
    files: int = 4,
    duplicate_share: float = 0.02,
    unknown: int = 3,
    stamp: str,
) -> TrackingFiles:
    """Write ``events`` (the columns of :func:`tracking_timelines`; extra columns ignored;
    statuses canonical) into ``files`` inbox files ``tracking_<stamp>_<n>.json`` (odd n:
    EasyPost tracker JSON list) and ``.csv`` (even n: flat CSV ``tracking_number, carrier,
    status, occurred_at, location, message, status_detail`` with location ``City, ST ZIP, CC``).

    ``duplicate_share`` of the events are written a second time, ``unknown`` trackers of 1-3
    events match no input tracking number (valid FedEx numbers). See :class:`TrackingFiles`
    for the counts. Deterministic for ``seed`` (same inputs → same bytes).
    """
    if files < 1:
        raise ValueError("files must be at least 1")
    rng = np.random.default_rng(seed)
    inbox = Path(inbox)
    inbox.mkdir(parents=True, exist_ok=True)

    at = pl.col("occurred_at").dt.cast_time_unit("us")
    utc = (
        at.dt.convert_time_zone("UTC")
        if getattr(events.schema["occurred_at"], "time_zone", None)
        else at.dt.replace_time_zone("UTC")  # naive times are UTC, as for the reader
    )
    known = (
        events.select(EVENT_COLUMNS)
        .with_columns(occurred_at=utc)
        .unique(["tracking_number", "status", "occurred_at", "message"], maintain_order=True)
    )
    n = known.height
    if n < files:
        raise ValueError(f"need at least {files} events to fill {files} files, got {n}")

    # File of each event: a parcel's events (in time order) are cut into 1..files chunks that
    # go to consecutive file numbers from a random start, wrapping around; some go astray.
    order = known.select(
        group=pl.col("tracking_number").rank("dense").cast(pl.Int64) - 1,
        rank=pl.col("occurred_at").rank("ordinal").over("tracking_number").cast(pl.Int64) - 1,
        count=pl.len().over("tracking_number").cast(pl.Int64),
    )
    group = order["group"].to_numpy()
    rank = order["rank"].to_numpy()
    count = order["count"].to_numpy()
    groups = int(group.max()) + 1
    start = rng.integers(0, files, groups)[group]
    chunks = rng.integers(1, files + 1, groups)[group]
    file_of = (start + rank * chunks // count) % files
    stray = rng.random(n) < STRAY_SHARE
    file_of = np.where(stray, rng.integers(0, files, n), file_of)
    file_of[rng.choice(n, files, replace=False)] = np.arange(files)  # no file left empty

    # Repeats: mostly into another file, some into the same one.
    repeats = min(round(duplicate_share * n), n)
    dup_idx = np.sort(rng.choice(n, repeats, replace=False))
    same = (rng.random(repeats) < SAME_FILE_DUPLICATE_SHARE) | (files == 1)
    shift = rng.integers(1, max(files, 2), repeats)
    dup_file = np.where(same, file_of[dup_idx], (file_of[dup_idx] + shift) % files)

    unknown_rows, unknown_numbers = _unknown_events(known, unknown, rng)
    unknown_file = rng.integers(0, files, unknown_rows.height)

    rows = pl.concat(
        [
            known.with_columns(file=pl.Series(file_of)),
            known[dup_idx].with_columns(file=pl.Series(dup_file)),
            unknown_rows.with_columns(file=pl.Series(unknown_file)),
        ]
    )
    rows = rows.with_columns(
        file=pl.col("file").cast(pl.Int64), shuffle=pl.Series(rng.permutation(rows.height))
    ).sort("file", "shuffle")
    rows = rows.with_columns(when=pl.col("occurred_at").dt.strftime(ISO_SECONDS))

    width = len(str(files))
    paths: list[Path] = []
    per_file: list[int] = []
    for f, part in enumerate(rows.partition_by("file", maintain_order=True, include_key=False)):
        number = f + 1
        if number % 2:
            path = inbox / f"tracking_{stamp}_{number:0{width}d}.json"
            _write_tracker_json(part, path)
        else:
            path = inbox / f"tracking_{stamp}_{number:0{width}d}.csv"
            _write_tracking_csv(part, path, rng)
        paths.append(path)
        per_file.append(part.height)

    return TrackingFiles(
        paths=paths,
        events=n,
        duplicates=repeats,
        unknown=unknown_rows.height,
        unknown_tracking_numbers=unknown_numbers,
        latest=_latest(known),
        duplicates_same_file=int(same.sum()),
        rows_per_file=per_file,
    )


def _unknown_events(
    known: pl.DataFrame, count: int, rng: np.random.Generator
) -> tuple[pl.DataFrame, list[str]]:
    """``count`` FedEx trackers of 1-3 early events (label, pick-up, departed) that match no
    known tracking number, placed at the times and places of random known events."""
    schema = known.schema
    if count <= 0:
        return pl.DataFrame(schema=schema), []
    taken = set(known["tracking_number"].unique().to_list())
    numbers: list[str] = []
    while len(numbers) < count:
        serials = UNKNOWN_SERIAL_BASE + rng.integers(0, 10**9, count)
        for number in make_tracking_numbers("FedEx", "", [int(s) for s in serials]):
            if number not in taken and len(numbers) < count:
                taken.add(number)
                numbers.append(number)
    sizes = rng.integers(1, 4, count)
    anchors = known[rng.integers(0, known.height, count)]
    anchor_s = anchors["occurred_at"].dt.epoch("s").to_numpy()
    vocab = _vocabulary().filter(pl.col("carrier_key") == "FEDEX")
    out = []
    for i, number in enumerate(numbers):
        gaps = np.cumsum(rng.integers(1800, 8 * 3600, 3))
        for j, name in enumerate(("label", "pickup", "depart_origin")[: sizes[i]]):
            row = vocab.filter(pl.col("kind") == _K[name]).row(0, named=True)
            at = (anchor_s[i] - gaps[sizes[i] - 1 - j]) * _US_PER_S
            out.append(
                {
                    "tracking_number": number,
                    "carrier": "FedEx",
                    "status": row["status"],
                    "status_detail": row["status_detail"],
                    "message": row["message"],
                    "occurred_at": at,
                    "city": anchors["city"][i],
                    "state": anchors["state"][i],
                    "zip": anchors["zip"][i],
                    "country": anchors["country"][i],
                }
            )
    frame = pl.DataFrame(out, schema={**schema, "occurred_at": pl.Int64})
    return frame.with_columns(pl.col("occurred_at").cast(pl.Datetime("us", "UTC"))), numbers


def _latest(known: pl.DataFrame) -> pl.DataFrame:
    """Each tracking number's latest event; ties at the latest time go to the larger event key."""
    last = known.filter(
        pl.col("occurred_at") == pl.col("occurred_at").max().over("tracking_number")
    )
    tied = pl.len().over("tracking_number") > 1
    if last.select(tied.any()).item():
        keys = [
            event_key(t, s, at.replace(tzinfo=None), m)
            for t, s, at, m in last.select(
                "tracking_number", "status", "occurred_at", "message"
            ).iter_rows()
        ]
        last = (
            last.with_columns(key=pl.Series(keys))
            .sort("tracking_number", "key")
            .unique("tracking_number", keep="last", maintain_order=True)
        )
    return last.select("tracking_number", "status", "occurred_at").sort("tracking_number")


def _tracker_id(numbers: pl.Series) -> pl.Series:
    return pl.Series(
        [f"trk_{hashlib.md5(n.encode()).hexdigest()}" for n in numbers.to_list()],
        dtype=pl.String,
    )


def _write_tracker_json(part: pl.DataFrame, path: Path) -> None:
    """One EasyPost Tracker per tracking number in the file; its details in the file's (shuffled)
    order; its status, status_detail and updated_at those of its latest detail in this file."""
    null = pl.lit(None, dtype=pl.String)
    details = part.select(
        "tracking_number",
        "carrier",
        "occurred_at",
        "status",
        "status_detail",
        "when",
        detail=pl.struct(
            object=pl.lit("TrackingDetail"),
            message="message",
            description=null,
            status="status",
            status_detail="status_detail",
            datetime="when",
            source="carrier",
            carrier_code=null,
            tracking_location=pl.struct(
                object=pl.lit("TrackingLocation"),
                city="city",
                state="state",
                country="country",
                zip="zip",
            ),
        ),
    )
    latest_first = pl.col("occurred_at").arg_max()
    trackers = details.group_by("tracking_number", maintain_order=True).agg(
        carrier=pl.col("carrier").first(),
        status=pl.col("status").get(latest_first),
        status_detail=pl.col("status_detail").get(latest_first),
        created_at=pl.col("when").get(pl.col("occurred_at").arg_min()),
        updated_at=pl.col("when").get(latest_first),
        tracking_details=pl.col("detail"),
    )
    trk = _tracker_id(trackers["tracking_number"])
    final = pl.col("status").is_in(["delivered", "return_to_sender"])
    out = trackers.with_columns(id=trk).select(
        object=pl.lit("Tracker"),
        id="id",
        mode=pl.lit("production"),
        tracking_code="tracking_number",
        status="status",
        status_detail="status_detail",
        created_at="created_at",
        updated_at="updated_at",
        signed_by=null,
        weight=pl.lit(None, dtype=pl.Float64),
        est_delivery_date=null,
        shipment_id=null,
        carrier="carrier",
        tracking_details="tracking_details",
        carrier_detail=null,
        finalized=final,
        is_return=pl.col("status") == "return_to_sender",
        public_url=pl.lit("https://track.easypost.com/") + pl.col("id"),
    )
    out.write_json(path)


def _write_tracking_csv(part: pl.DataFrame, path: Path, rng: np.random.Generator) -> None:
    """Flat CSV rows in the file's (shuffled) order, statuses in mixed spellings."""
    spelling = rng.choice(3, part.height, p=[0.6, 0.3, 0.1])
    status = pl.col("status")
    title = status.str.replace_all("_", " ").str.to_titlecase()
    shout = status.str.replace_all("_", "-").str.to_uppercase()
    location = pl.format(
        "{}, {} {}, {}",
        *(pl.col(c).fill_null("") for c in ("city", "state", "zip", "country")),
    ).str.replace_all(r"\s+", " ")
    out = part.with_columns(spelling=pl.Series(spelling)).select(
        "tracking_number",
        "carrier",
        status=pl.when(pl.col("spelling") == 1)
        .then(title)
        .when(pl.col("spelling") == 2)
        .then(shout)
        .otherwise(status),
        occurred_at="when",
        location=location,
        message="message",
        status_detail="status_detail",
    )
    out.write_csv(path, line_terminator="\n")


def shipped_parcels(con, reference_dir: Path) -> pl.DataFrame:
    """The warehouse's shipped parcels as :func:`tracking_timelines` wants them (origin from
    ``warehouses.csv``, destination from the order)."""
    from pipelines.lib.reference import read_reference
    from pipelines.lib.warehouse import frame

    parcels = frame(
        con,
        """
        SELECT p.tracking_number, p.carrier, p.shipped_at, p.transit_days,
               p.promised_delivery_date, s.warehouse_id, o.ship_city, o.ship_region,
               o.ship_postal_code, o.ship_country
        FROM oms.parcels p
        JOIN oms.shipments s USING (shipment_id)
        JOIN oms.orders o ON o.order_key = s.order_key
        WHERE p.manifest_id IS NOT NULL AND p.tracking_number IS NOT NULL
        ORDER BY p.tracking_number
        """,
    )
    origins = read_reference(reference_dir, "warehouses").select(
        "warehouse_id",
        pl.col("city").alias("origin_city"),
        pl.col("region").alias("origin_region"),
        pl.col("postal_code").alias("origin_postal_code"),
    )
    return parcels.join(origins, on="warehouse_id", how="left", maintain_order="left")


def write_demo_tracking(
    con, inbox: Path, reference_dir: Path, *, now: datetime, seed: int = 7, files: int = 4
) -> TrackingFiles | None:
    """Tracking files for every parcel the warehouse has shipped, as the carriers would have
    reported them by ``now``; None when nothing has shipped (or nothing happened yet)."""
    events = tracking_timelines(shipped_parcels(con, reference_dir), now=now, seed=seed)
    if events.height < files:
        return None
    return write_tracking_files(
        events, inbox, seed=seed, files=files, stamp=now.strftime("%Y%m%dT%H%M%S")
    )
