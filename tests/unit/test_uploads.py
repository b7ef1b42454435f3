"""The Upload page's logic: safe names, limits, content checks, dry-run preview, saving into
the inbox and the status of an accepted file through a real intake run."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import struct
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.lib.generator import generate
from pipelines.lib.intake import ingest_inbox
from pipelines.lib.uploads import (
    ORDER_NUMBERS_SHOWN,
    UploadRefused,
    UploadSettings,
    accept_upload,
    preview_upload,
    read_upload_settings,
    recent_files,
    sanitise_name,
    upload_status,
)
from pipelines.lib.warehouse import connect, migrate
from pipelines.project import REPO_ROOT

REFERENCE = REPO_ROOT / "data" / "reference"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DIRECT_HEADER = (REPO_ROOT / "data" / "templates" / "direct_orders.csv").read_text().strip()


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real generated channel exports (20 orders, every layout) and stock files."""
    out = tmp_path_factory.mktemp("exports")
    generate(out, orders=20, seed=11, days=1, reference_dir=REFERENCE)
    return out


@pytest.fixture
def platform(tmp_path: Path) -> dict[str, Path]:
    folders = {name: tmp_path / "data" / name for name in ("inbox", "archive", "rejected")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    return {"data_dir": tmp_path / "data", **folders}


def _preview(data: bytes, name: str, platform: dict[str, Path], max_megabytes: int = 200):
    return preview_upload(
        io.BytesIO(data),
        name,
        limits=UploadSettings(max_megabytes),
        data_dir=platform["data_dir"],
        inbox=platform["inbox"],
        archive=platform["archive"],
        reference_dir=REFERENCE,
    )


def _everything_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _png() -> bytes:
    """A real 1x1 PNG image."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _direct_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=DIRECT_HEADER.split(","), lineterminator="\n")
    writer.writeheader()
    base = {
        "channel": "phone",
        "ordered_at": "2026-11-20T14:05:00-05:00",
        "customer_name": "Ana Ruiz",
        "email": "ana@example.com",
        "ship_name": "Ana Ruiz",
        "ship_address1": "1 Main St",
        "ship_city": "Newark",
        "ship_region": "NJ",
        "ship_postal_code": "07102",
        "ship_country": "US",
        "currency": "USD",
        "payment_status": "paid",
        "order_total": "10.00",
        "line_no": "1",
        "unit_price": "10.00",
    }
    for row in rows:
        writer.writerow({**base, **row})
    return out.getvalue().encode()


# --- names and settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("orders.csv", "orders.csv"),
        ("Orders (May).csv", "Orders _May.csv"),
        ("_generator_manifest.json", "generator_manifest.json"),
        (".hidden orders.jsonl", "hidden orders.jsonl"),
        ("orders\x00\r\n.csv", "orders.csv"),
        ("orders..csv", "orders.csv"),  # ".." inside a name is no path segment
        ("a..b....csv", "a.b.csv"),
        ("..orders.csv", "orders.csv"),
        ("amazon;rm -rf *.txt", "amazon_rm -rf.txt"),
        ("Bestellungen März.csv", "Bestellungen März.csv"),
        ("注文書（5月）.csv", "注文書_5月.csv"),
    ],
)
def test_names_are_made_safe_and_keep_their_extension(given: str, safe: str) -> None:
    assert sanitise_name(given) == safe


@pytest.mark.parametrize(
    "given",
    [
        "../../etc/passwd.txt",
        "..\\..\\Windows\\orders.csv",
        "/abs/path/shopify export.csv",
        "exports/orders.csv",
        "C:\\Users\\ana\\orders.csv",
        "orders.csv/",
        "/",
        "../..",
        "..",
        " .. ",
        ".",
    ],
)
def test_a_name_with_a_folder_path_is_refused_not_renamed(given: str) -> None:
    # Browsers send a file's base name only: a folder part comes from a crafted request.
    with pytest.raises(UploadRefused) as refused:
        sanitise_name(given)
    assert str(refused.value) == (
        f"the name {given!r} carries a folder path; upload the file under its own name"
    )


@pytest.mark.parametrize("given", ["...", "\x01\x02", "__", " ._ ", "-.-", ".\x00."])
def test_a_name_with_nothing_usable_left_is_refused(given: str) -> None:
    with pytest.raises(UploadRefused, match="nothing usable"):
        sanitise_name(given)


def test_a_long_name_is_cut_but_keeps_its_extension() -> None:
    safe = sanitise_name("x" * 300 + ".csv")
    assert safe.endswith(".csv") and len(safe) <= 120


def test_a_long_non_latin_name_fits_the_file_system_with_room_for_the_archive_suffix(
    tmp_path: Path,
) -> None:
    # 140 CJK characters are 420 bytes: more than the 255 a file name may have.
    safe = sanitise_name("注文" * 70 + ".csv")
    assert safe.endswith(".csv") and safe.startswith("注文")
    assert len(safe.encode("utf-8")) <= 200
    (tmp_path / safe).write_bytes(b"ok")  # the file system takes it
    (tmp_path / safe.replace(".csv", ".0123abcd.csv")).write_bytes(b"ok")  # archive name too


def test_the_size_limit_comes_from_ops_toml(tmp_path: Path) -> None:
    assert read_upload_settings(REFERENCE).max_megabytes == 200  # the committed file
    assert read_upload_settings(tmp_path).max_megabytes == 200  # no file: the default
    (tmp_path / "ops.toml").write_text("[upload]\nmax_megabytes = 5\n\n[other_page]\nx = 1\n")
    assert read_upload_settings(tmp_path).max_bytes == 5 * 1024 * 1024
    (tmp_path / "ops.toml").write_text("[upload]\nmax_megabyte = 5\n")
    with pytest.raises(ValueError, match=r"ops.toml: unknown setting\(s\) upload.max_megabyte"):
        read_upload_settings(tmp_path)
    (tmp_path / "ops.toml").write_text("[upload]\nmax_megabytes = 0\n")
    with pytest.raises(ValueError, match="max_megabytes must be a whole number >= 1"):
        read_upload_settings(tmp_path)


# --- preview ----------------------------------------------------------------------------------


def test_preview_of_a_shopify_export_counts_what_the_file_holds(exports, platform) -> None:
    path = next(exports.glob("shopify_*.csv"))
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    totals = {r["Name"]: Decimal(r["Total"]) for r in rows if r["Total"]}

    preview = _preview(path.read_bytes(), path.name, platform)

    assert preview.name == path.name
    assert preview.format == "shopify_csv"
    assert preview.channels == ["shopify"]
    assert preview.orders == len({r["Name"] for r in rows})
    assert preview.lines == len(rows)
    assert preview.totals == [("USD", f"{sum(totals.values()):,.2f}")]
    assert preview.size == path.stat().st_size
    assert preview.identical == []
    assert _everything_under(platform["data_dir"]) == [], "a preview writes nothing"


def _first_seen(values: list[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


@pytest.mark.parametrize(
    ("pattern", "delimiter", "number_column"),
    [
        ("shopify_*.csv", ",", "Name"),
        ("amazon_all_orders_*.txt", "\t", "amazon-order-id"),
    ],
)
def test_preview_lists_the_order_numbers_the_file_holds(
    exports, platform, pattern, delimiter, number_column
) -> None:
    path = max(exports.glob(pattern), key=lambda p: p.stat().st_size)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=delimiter))
    numbers = _first_seen([r[number_column].strip() for r in rows])
    assert 1 <= len(numbers) <= ORDER_NUMBERS_SHOWN, "the export fits in the list"

    preview = _preview(path.read_bytes(), path.name, platform)

    assert preview.order_numbers == numbers, "as the channel shows them, in file order"
    assert preview.more_order_numbers == 0


def test_preview_lists_the_first_order_numbers_and_counts_the_rest(platform) -> None:
    ids = [f"P-{n}" for n in range(ORDER_NUMBERS_SHOWN + 3, 0, -1)]  # not in sorted order
    data = _direct_csv([{"order_id": i, "sku": "SKU-00017", "quantity": "1"} for i in ids])
    preview = _preview(data, "phone.csv", platform)
    assert preview.orders == len(ids)
    assert preview.order_numbers == ids[:ORDER_NUMBERS_SHOWN]
    assert preview.more_order_numbers == 3


@pytest.mark.parametrize(
    ("pattern", "fmt"),
    [
        ("woocommerce_*.json", "woocommerce_json"),
        ("woocommerce_*.jsonl", "woocommerce_json"),
        ("amazon_*.txt", "amazon_tsv"),
        ("direct_*.csv", "direct_csv"),
    ],
)
def test_every_channel_layout_is_recognised_by_content(exports, platform, pattern, fmt) -> None:
    path = next(exports.glob(pattern))
    preview = _preview(path.read_bytes(), "upload.bin", platform)  # the name says nothing
    assert preview.format == fmt
    assert preview.orders >= 1 and preview.lines >= preview.orders


def test_preview_lists_problems_validation_would_hold(platform) -> None:
    data = _direct_csv(
        [
            {"order_id": "P-1", "sku": "SKU-00017", "quantity": "1"},
            {"order_id": "P-2", "sku": "NOT-A-SKU", "quantity": "1"},
            {"order_id": "P-3", "sku": "SKU-00017", "quantity": "0"},
        ]
    )
    preview = _preview(data, "phone.csv", platform)
    assert preview.orders == 3
    assert len(preview.problems) == 2
    assert "1 line(s) with a SKU not in the catalogue" in preview.problems[0]
    assert "phone:P-2" in preview.problems[0]
    assert "quantity below 1" in preview.problems[1] and "phone:P-3" in preview.problems[1]


def _conflicting_json() -> bytes:
    """Direct-order JSON with order P-1 twice, its line differing: intake rejects the file."""
    line = {"line_no": 1, "sku": "SKU-00017", "quantity": 1, "unit_price": "10.00"}
    order = {
        "order_id": "P-1",
        "channel": "phone",
        "ordered_at": "2026-11-20T09:30:00-05:00",
        "ship_country": "US",
        "currency": "USD",
        "order_total": "10.00",
    }
    other = {**line, "sku": "SKU-00009"}
    return json.dumps(
        {"orders": [{**order, "lines": [line]}, {**order, "lines": [other]}]}
    ).encode()


def test_preview_says_when_the_same_bytes_were_already_processed(exports, platform) -> None:
    path = next(exports.glob("woocommerce_*.json"))
    day = platform["archive"] / "2026-11-20"
    day.mkdir()
    (day / "older_name.json").write_bytes(path.read_bytes())
    preview = _preview(path.read_bytes(), path.name, platform)
    assert preview.identical == ["archive/2026-11-20/older_name.json"]


# --- bad inputs: refused with a clear message, nothing written --------------------------------


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("png", "wrong type: a PNG image, not a channel export"),
        ("text", "cannot be read: unknown layout: not a Shopify, WooCommerce, Amazon"),
        ("stock", "wrong type: a stock count file, not a channel export"),
        ("oversize", "too large: over the 1.0 MB limit"),
        ("empty", "empty file (0 bytes)"),
        ("header only", "cannot be read: header only: the file has a header row but no data"),
        ("conflicting copies", "conflicting data: phone:P-1 at records [1, 2]"),
        ("path traversal", "the name '../../etc/passwd.txt' carries a folder path"),
        ("nothing usable in the name", "file name '__' has nothing usable left"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message_and_nothing_written(
    exports, platform, case, message
) -> None:
    name, data = {
        "png": ("orders.csv", _png()),
        "text": ("orders.csv", b"Dear team,\nplease ship my order soon.\nThanks\n"),
        "stock": ("count.csv", next(exports.glob("inventory_count_*.csv")).read_bytes()),
        "oversize": ("big.csv", _direct_csv([{"order_id": "P-1"}]) + b" " * (1024 * 1024)),
        "empty": ("orders.csv", b""),
        "header only": ("orders.csv", (DIRECT_HEADER + "\n").encode()),
        "conflicting copies": ("phone.json", _conflicting_json()),
        "path traversal": ("../../etc/passwd.txt", _direct_csv([{"order_id": "P-1"}])),
        "nothing usable in the name": ("__", _direct_csv([{"order_id": "P-1"}])),
    }[case]
    with pytest.raises(UploadRefused) as refused:
        _preview(data, name, platform, max_megabytes=1)
    assert message in str(refused.value)
    assert _everything_under(platform["data_dir"]) == []


# --- accepting and the status afterwards ------------------------------------------------------


def test_accepted_files_land_in_the_inbox_whole_and_never_replace_one(exports, platform) -> None:
    path = next(exports.glob("shopify_*.csv"))
    data = path.read_bytes()
    preview = _preview(data, "." + path.name, platform)  # saved under its safe name
    limits = UploadSettings()
    first = accept_upload(
        io.BytesIO(data), preview.name, platform["inbox"], sha256=preview.sha256, limits=limits
    )
    second = accept_upload(
        io.BytesIO(data), preview.name, platform["inbox"], sha256=preview.sha256, limits=limits
    )
    assert first == platform["inbox"] / path.name
    assert second.name == path.name.removesuffix(".csv") + "-2.csv"
    assert first.read_bytes() == data and second.read_bytes() == data
    assert sorted(p.name for p in platform["inbox"].iterdir()) == sorted([first.name, second.name])
    assert _everything_under(platform["data_dir"]) == sorted([first, second])


def test_a_file_that_changed_after_its_preview_is_not_saved(exports, platform) -> None:
    path = next(exports.glob("shopify_*.csv"))
    preview = _preview(path.read_bytes(), path.name, platform)
    with pytest.raises(UploadRefused, match="changed since its preview"):
        accept_upload(
            io.BytesIO(path.read_bytes() + b"\n"),
            preview.name,
            platform["inbox"],
            sha256=preview.sha256,
            limits=UploadSettings(),
        )
    assert list(platform["inbox"].iterdir()) == []


def test_status_follows_the_file_through_a_real_intake_run(exports, platform, tmp_path) -> None:
    good = next(exports.glob("shopify_*.csv")).read_bytes()
    preview = _preview(good, "shop.csv", platform)
    accept_upload(
        io.BytesIO(good),
        preview.name,
        platform["inbox"],
        sha256=preview.sha256,
        limits=UploadSettings(),
    )
    # The page refuses this one at preview; dropped in by hand, the batch rejects it.
    bad = _conflicting_json()
    (platform["inbox"] / "phone.json").write_bytes(bad)
    bad_sha = hashlib.sha256(bad).hexdigest()
    folders = {k: platform[k] for k in ("inbox", "archive", "rejected")}
    assert upload_status("shop.csv", preview.sha256, **folders).status == "pending"
    assert upload_status("phone.json", bad_sha, **folders).status == "pending"

    with connect(tmp_path / "oms.duckdb") as con:
        migrate(con)
        result = ingest_inbox(
            con,
            platform["inbox"],
            archive_dir=platform["archive"],
            rejected_dir=platform["rejected"],
            run_id="run-1",
            now=NOW,
        )
    assert {f.name: f.status for f in result.files} == {
        "shop.csv": "processed",
        "phone.json": "rejected",
    }

    shop = upload_status("shop.csv", preview.sha256, **folders)
    phone = upload_status("phone.json", bad_sha, **folders)
    assert (shop.status, shop.where) == ("processed", "archive/2026-11-27/shop.csv")
    assert (phone.status, phone.where) == ("rejected", "rejected/phone.json")
    assert "conflicting data: phone:P-1" in phone.reason
    assert not phone.reason.startswith("phone.json:"), "the reason, not the file name"
    recent = {(f.name, f.status, f.reason) for f in recent_files(**folders)}
    assert recent == {("shop.csv", "processed", ""), ("phone.json", "rejected", phone.reason)}
    assert upload_status("gone.csv", "0" * 64, **folders).status == "not found"


def test_a_later_file_of_the_same_name_is_found_under_its_archive_name(
    exports, platform, tmp_path
) -> None:
    first = next(exports.glob("woocommerce_*.json")).read_bytes()
    second = next(exports.glob("woocommerce_*.jsonl")).read_bytes()
    sha = hashlib.sha256(second).hexdigest()
    folders = {k: platform[k] for k in ("inbox", "archive", "rejected")}
    for run, data in (("run-1", first), ("run-2", second)):  # two exports, one name
        (platform["inbox"] / "woo.json").write_bytes(data)
        with connect(tmp_path / "oms.duckdb") as con:
            migrate(con)
            ingest_inbox(
                con,
                platform["inbox"],
                archive_dir=platform["archive"],
                rejected_dir=platform["rejected"],
                run_id=run,
                now=NOW,
            )
    archived = {p.name for p in (platform["archive"] / "2026-11-27").iterdir()}
    assert archived == {"woo.json", f"woo.{sha[:8]}.json"}
    status = upload_status("woo.json", sha, **folders)
    assert (status.status, status.where) == ("processed", f"archive/2026-11-27/woo.{sha[:8]}.json")
