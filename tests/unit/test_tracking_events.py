"""Tracking event files: the real EasyPost Tracker sample, JSON list / JSON Lines / CSV forms,
status mapping, event keys and de-duplication, ordering, errors and layout sniffing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.lib.tracking_events import (
    EVENT_STATUSES,
    SCHEMA,
    UnreadableTrackingFile,
    read_tracking_file,
    sniff,
)

CSV_HEADER = "tracking_number,carrier,status,occurred_at,location,message\n"


def tracker(code: str = "1Z999AA10123456784", details: list | None = None, **extra) -> dict:
    return {
        "object": "Tracker",
        "tracking_code": code,
        "carrier": "UPS",
        "status": "in_transit",
        "status_detail": "arrived_at_facility",
        "updated_at": "2024-05-02T10:00:00Z",
        "tracking_details": details if details is not None else [],
        **extra,
    }


def detail(when: str, status: str = "in_transit", message: str = "Scanned", **loc) -> dict:
    return {
        "object": "TrackingDetail",
        "message": message,
        "status": status,
        "status_detail": None,
        "datetime": when,
        "source": "UPS",
        "tracking_location": {"city": None, "state": None, "country": None, "zip": None, **loc},
    }


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --------------------------------------------------------------------------- real sample


def test_real_easypost_sample(samples_dir: Path) -> None:
    path = samples_dir / "easypost_1.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    df = read_tracking_file(path)

    assert df.schema == pl.Schema(SCHEMA)
    assert df.height == len(raw["tracking_details"]) == 2
    assert df["tracking_number"].unique().to_list() == ["EZ1000000001"]
    assert df["carrier"].unique().to_list() == ["USPS"]
    assert df.schema["occurred_at"] == pl.Datetime("us", "UTC")
    assert df["occurred_at"].to_list() == [utc(2022, 3, 20, 18, 38, 4), utc(2022, 3, 21, 13, 27, 4)]
    assert set(df["status"]) <= set(EVENT_STATUSES)
    assert df["status"].to_list() == ["pre_transit", "pre_transit"]
    assert df["message"].to_list() == [
        "Pre-Shipment information received",
        "Shipping label created",
    ]
    # The sample's tracking_location parts are all null: no location text is invented.
    assert df["location"].to_list() == [None, None]
    assert df["source_row"].to_list() == [1, 1]
    assert sniff(path.read_bytes()[:4096]) == "tracker_json"


# --------------------------------------------------------------------------- forms


def test_json_list_with_location_offsets_and_empty_tracker(tmp_path: Path) -> None:
    trackers = [
        tracker(
            "A1",
            [
                detail(
                    "2024-05-01T08:00:00-04:00",
                    city="Atlanta",
                    state="GA",
                    zip="30301",
                    country="US",
                ),
                detail(
                    "2024-05-01T09:00:00", status="out_for_delivery", city="Atlanta", country="US"
                ),
            ],
        ),
        tracker("B2", details=None, status="delivered", updated_at="2024-05-03T12:30:00+02:00"),
    ]
    del trackers[1]["tracking_details"]
    df = read_tracking_file(write(tmp_path, "t.json", json.dumps(trackers)))

    assert df["tracking_number"].to_list() == ["A1", "A1", "B2"]
    # Offsets converted to UTC; the naive time is taken as UTC.
    assert df["occurred_at"].to_list() == [
        utc(2024, 5, 1, 9, 0),
        utc(2024, 5, 1, 12, 0),
        utc(2024, 5, 3, 10, 30),
    ]
    assert df["location"].to_list() == ["Atlanta, US", "Atlanta, GA, 30301, US", None]
    assert df["status"].to_list() == ["out_for_delivery", "in_transit", "delivered"]
    # Tracker without details: one row from its own status / status_detail / updated_at.
    last = df.row(2, named=True)
    assert last["status_detail"] == "arrived_at_facility"
    assert last["message"] is None
    assert df["source_row"].to_list() == [1, 1, 2]


def test_json_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps(tracker("A1", [detail("2024-05-01T08:00:00Z")])),
        "",
        json.dumps(tracker("C3", [detail("2024-05-02T08:00:00Z", status="delivered")])),
    ]
    df = read_tracking_file(write(tmp_path, "t.jsonl", "\n".join(lines) + "\n"))
    assert df["tracking_number"].to_list() == ["A1", "C3"]
    assert df["status"].to_list() == ["in_transit", "delivered"]
    assert df["source_row"].to_list() == [1, 2]


def test_missing_optional_fields_tolerated(tmp_path: Path) -> None:
    obj = {"tracking_code": "Z9", "tracking_details": [{"datetime": "2024-05-01T08:00:00Z"}]}
    df = read_tracking_file(write(tmp_path, "t.json", json.dumps(obj)))
    row = df.row(0, named=True)
    assert row["carrier"] == ""
    assert row["status"] == "unknown"
    assert row["raw_status"] == ""
    assert row["location"] is None and row["message"] is None and row["status_detail"] is None


def test_csv_form(tmp_path: Path) -> None:
    text = (
        "\ufeffTracking_Number,carrier,status,occurred_at,location,message,status_detail\n"
        '94001,USPS,In Transit,2024-05-01T10:00:00Z,"Memphis, TN, US",Departed,departed\n'
        "94001,USPS,delivered,2024-05-02 15:04:05+00:00,,Delivered,\n"
    )
    df = read_tracking_file(write(tmp_path, "events.csv", text))
    assert df.schema == pl.Schema(SCHEMA)
    assert df["status"].to_list() == ["in_transit", "delivered"]
    assert df["raw_status"].to_list() == ["In Transit", "delivered"]
    assert df["location"].to_list() == ["Memphis, TN, US", None]
    assert df["status_detail"].to_list() == ["departed", None]
    assert df["occurred_at"].to_list() == [utc(2024, 5, 1, 10), utc(2024, 5, 2, 15, 4, 5)]
    assert df["source_row"].to_list() == [1, 2]


def test_header_only_csv_gives_empty_frame(tmp_path: Path) -> None:
    df = read_tracking_file(write(tmp_path, "e.csv", CSV_HEADER))
    assert df.height == 0
    assert df.schema == pl.Schema(SCHEMA)


# --------------------------------------------------------------------------- statuses


def test_canceled_and_unknown_statuses(tmp_path: Path) -> None:
    text = CSV_HEADER + (
        "T1,UPS,canceled,2024-05-01T10:00:00Z,,Voided\n"
        "T1,UPS,Exception-Weather,2024-05-01T11:00:00Z,,Delayed\n"
        "T1,UPS,CANCELLED,2024-05-01T12:00:00Z,,Voided again\n"
    )
    df = read_tracking_file(write(tmp_path, "e.csv", text))
    assert df["status"].to_list() == ["cancelled", "unknown", "cancelled"]
    assert df["raw_status"].to_list() == ["canceled", "Exception-Weather", "CANCELLED"]
    assert set(df["status"]) <= set(EVENT_STATUSES)


# --------------------------------------------------------------------------- keys, dedup, order


def test_duplicates_kept_once_and_keys_stable_across_files(tmp_path: Path) -> None:
    dup = detail("2024-05-01T08:00:00Z", message="Arrived")
    a = read_tracking_file(write(tmp_path, "a.json", json.dumps(tracker("A1", [dup, dup]))))
    assert a.height == 1

    # The same event in a CSV, with the time written with an offset and a different spelling.
    text = CSV_HEADER + "A1,UPS,In-Transit,2024-05-01T10:00:00+02:00,Somewhere,Arrived\n"
    b = read_tracking_file(write(tmp_path, "b.csv", text))
    assert b["event_key"].to_list() == a["event_key"].to_list()

    other = read_tracking_file(
        write(
            tmp_path,
            "c.json",
            json.dumps(tracker("A1", [detail("2024-05-01T08:00:01Z", message="Arrived")])),
        )
    )
    assert other["event_key"][0] != a["event_key"][0]


def test_out_of_order_events_sorted(tmp_path: Path) -> None:
    text = CSV_HEADER + (
        "B,UPS,delivered,2024-05-03T00:00:00Z,,c\n"
        "A,UPS,in_transit,2024-05-02T00:00:00Z,,b\n"
        "A,UPS,pre_transit,2024-05-01T00:00:00Z,,a\n"
    )
    df = read_tracking_file(write(tmp_path, "e.csv", text))
    assert df["message"].to_list() == ["a", "b", "c"]
    assert df["source_row"].to_list() == [3, 2, 1]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("empty.json", "", "empty file"),
        ("blank.csv", "  \n\n", "empty file"),
        ("bad.json", '{\n  "tracking_code": "A1",\n  "carrier": \n}', "line 4"),
        ("bad.jsonl", '{"tracking_code": "A1"}\n{"tracking_code": \n', "line 2"),
        ("cols.csv", "tracking_number,carrier,status\nA,UPS,delivered\n", "occurred_at"),
        (
            "nonum.csv",
            CSV_HEADER + "A,UPS,delivered,2024-05-01T00:00:00Z,,x\n,UPS,delivered,2024-05-01,,y\n",
            "record 2 (line 3): missing tracking_number",
        ),
        (
            "notime.csv",
            CSV_HEADER + "A,UPS,delivered,,,x\n",
            "record 1 (line 2) (A): missing event time",
        ),
        (
            "badtime.csv",
            CSV_HEADER + "A,UPS,delivered,yesterday,,x\n",
            "unparseable event time 'yesterday'",
        ),
        (
            "nocode.json",
            json.dumps([tracker("A1"), {"carrier": "UPS"}]),
            "record 2: missing tracking_code",
        ),
        (
            "nodetailtime.json",
            json.dumps(tracker("A1", [detail("2024-05-01T00:00:00Z"), {"status": "delivered"}])),
            "record 1 (A1, tracking_details[1]): missing event time",
        ),
        (
            "badtime.json",
            json.dumps(tracker("A1", [detail("05/01/2024 10am")])),
            "unparseable event time '05/01/2024 10am'",
        ),
        ("orders.csv", "order_key,line_no\nO1,1\n", "not a tracking file"),
    ],
)
def test_errors(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    with pytest.raises(UnreadableTrackingFile) as info:
        read_tracking_file(write(tmp_path, name, text))
    assert fragment in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        (CSV_HEADER + "A,UPS,delivered,2024-05-01T00:00:00Z,Montréal,x\n").encode("latin-1")
    )
    with pytest.raises(UnreadableTrackingFile, match="not UTF-8 at line 2"):
        read_tracking_file(path)


def test_error_is_a_value_error() -> None:
    assert issubclass(UnreadableTrackingFile, ValueError)


# --------------------------------------------------------------------------- sniff


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (json.dumps(tracker("A1")).encode(), "tracker_json"),
        (b"\xef\xbb\xbf  [" + json.dumps(tracker("A1")).encode()[:40], "tracker_json"),
        (
            json.dumps(tracker("A1")).encode() + b"\n" + json.dumps(tracker("B2")).encode(),
            "tracker_json",
        ),
        (CSV_HEADER.encode(), "tracking_csv"),
        (
            b"Message,Location,Occurred_At,Status,Carrier,Tracking_Number,status_detail\r\n",
            "tracking_csv",
        ),
        (b"order_key,line_no,sku,qty\nO1,1,SKU,2\n", None),
        (
            b"Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,"
            b"Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total\n",
            None,
        ),
        (b'{"id": 727, "status": "processing", "line_items": []}', None),
        (b"", None),
        (b"   \n", None),
    ],
)
def test_sniff(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


def test_sniff_rejects_other_real_samples(samples_dir: Path) -> None:
    for path in sorted(samples_dir.iterdir()):
        if path.name.startswith(("shopify", "woocommerce", "amazon")):
            assert sniff(path.read_bytes()[:4096]) is None, path.name


# --------------------------------------------------------------------------- two readers


def _both_readers(path: Path) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    """(vectorised rows or None when it hands over, row-by-row rows) of one file."""
    from pipelines.lib import tracking_events as te

    text = path.read_bytes().decode("utf-8-sig")
    layout = "tracker_json" if text.lstrip()[:1] in ("{", "[") else "tracking_csv"
    rows = te._tracker_rows(text) if layout == "tracker_json" else te._csv_rows(text)
    return te._fast_rows(path, layout, text), te._slow_rows(rows)


def test_the_vectorised_reader_reads_clean_files_exactly_as_the_row_reader(
    tmp_path: Path, samples_dir: Path
) -> None:
    from pipelines.lib.generator.tracking import tracking_timelines, write_tracking_files
    from tests.unit.test_tracking_generator import NOW, make_parcels

    events = tracking_timelines(make_parcels(300, seed=4), now=NOW, seed=9)
    written = write_tracking_files(events, tmp_path / "gen", seed=9, files=4, stamp="t")
    lines = tmp_path / "lines.jsonl"
    lines.write_text(
        "\n".join(
            json.dumps(t)
            for t in (
                tracker("AAA1", [detail("2024-05-01T08:00:00+02:00", "In Transit", "  Hub  ")]),
                tracker("AAA2", [], updated_at="", created_at="2024-05-01 09:30:00"),
                tracker("AAA3", [detail("2024-05-01T10:00:00.25Z", "canceled", city="Köln")]),
            )
        ),
        encoding="utf-8",
    )
    single = write(tmp_path, "one.json", json.dumps(tracker("BBB1", [detail("2024-05-02")])))
    clean = [*written.paths, samples_dir / "easypost_1.json", lines, single]
    for path in clean:
        fast, slow = _both_readers(path)
        assert fast is not None, path.name
        assert fast.equals(slow), path.name
        assert read_tracking_file(path).equals(slow)


def test_files_the_vectorised_reader_cannot_take_go_the_row_by_row_way(tmp_path: Path) -> None:
    basic_time = write(
        tmp_path, "basic.csv", CSV_HEADER + "1Z1,UPS,delivered,20240502T101500Z,,Left\n"
    )
    blank_line = write(
        tmp_path,
        "blank.csv",
        CSV_HEADER + "1Z1,UPS,in_transit,2024-05-02T08:00:00Z,,a\n , , , , , \n"
        "1Z1,UPS,delivered,2024-05-02T10:00:00Z,,b\n",
    )
    for path in (basic_time, blank_line):
        fast, slow = _both_readers(path)
        assert fast is None, path.name
        assert read_tracking_file(path).equals(slow)
    assert read_tracking_file(basic_time)["occurred_at"].to_list() == [utc(2024, 5, 2, 10, 15)]
    assert read_tracking_file(blank_line)["source_row"].to_list() == [1, 2]
    missing_time = write(tmp_path, "missing.csv", CSV_HEADER + "1Z1,UPS,delivered,,,x\n")
    assert _both_readers_fast_is_none(missing_time)
    with pytest.raises(UnreadableTrackingFile, match=r"record 1 .*missing event time"):
        read_tracking_file(missing_time)


def _both_readers_fast_is_none(path: Path) -> bool:
    from pipelines.lib import tracking_events as te

    text = path.read_text(encoding="utf-8")
    return te._fast_rows(path, "tracking_csv", text) is None


_T = {
    "tracking_code": "1Z999",
    "carrier": "UPS",
    "status": "in_transit",
    "tracking_details": [
        {
            "datetime": "2024-03-20T10:00:00Z",
            "status": "in_transit",
            "message": "Arrived",
            "tracking_location": {"city": "Memphis"},
        }
    ],
}
_D = _T["tracking_details"][0]
TRICKY = {
    "nbsp.csv": CSV_HEADER
    + "1Z9,UPS,Delivered\u00a0,2024-03-20T10:00:00Z,Memphis\u00a0,In\u00a0\n",
    "vertical_tab.csv": CSV_HEADER + "1Z9,UPS,in_transit,2024-03-20T10:00:00Z,M,Arrived\x0b\n",
    "hour_24.csv": CSV_HEADER + "1Z9,UPS,in_transit,2024-03-20T24:00:00Z,M,Arrived\n",
    "offset_25.csv": CSV_HEADER + "1Z9,UPS,in_transit,2024-03-20T10:00:00+25:00,M,Arrived\n",
    "second_60.csv": CSV_HEADER + "1Z9,UPS,in_transit,2024-03-20T23:59:60Z,M,Arrived\n",
    "no_seconds.csv": CSV_HEADER + "1Z9,UPS,in_transit,2024-03-20 10:00+02:00,M,Arrived\n",
    "concatenated.json": json.dumps(_T, indent=2) + "\n" + json.dumps(_T, indent=2) + "\n",
    "boolean_status.json": json.dumps({**_T, "tracking_details": [{**_D, "status": True}]}),
    "object_message.json": json.dumps({**_T, "tracking_details": [{**_D, "message": {"a": 1}}]}),
    "string_location.json": json.dumps(
        {**_T, "tracking_details": [{**_D, "tracking_location": "M"}]}
    ),
    "numeric_code.json": json.dumps({**_T, "tracking_code": 123456789012}),
}


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_input_reads_as_the_row_reader_reads_it(tmp_path: Path, name: str) -> None:
    """The same event must get the same status and key whichever reader takes its file."""
    from pipelines.lib import tracking_events as te

    path = write(tmp_path, name, TRICKY[name])
    text = path.read_text(encoding="utf-8")
    rows = te._tracker_rows(text) if name.endswith(".json") else te._csv_rows(text)
    try:
        expected = te._slow_rows(rows)
    except UnreadableTrackingFile as exc:
        with pytest.raises(UnreadableTrackingFile) as caught:
            read_tracking_file(path)
        assert str(caught.value) == str(exc)
        return
    assert read_tracking_file(path).equals(expected)
