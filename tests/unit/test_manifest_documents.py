"""Carrier end-of-day manifests, read back with pypdf (as in ``test_documents.py``)."""

from __future__ import annotations

from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth

from pipelines.lib import documents
from pipelines.lib.documents import MANIFEST_COLUMNS, MANIFEST_SIZE, render_manifest
from tests.unit.test_documents import assert_in_order, bars, flat, pages_text, re_count

MANIFEST_ID = "M-UPS-NJ-20261127-01"
LABELS = "# TRACKING NUMBER SERVICE ORDER SHIP TO KG ZONE COST"
SHIP_TOS = [
    "Ana Peña, Austin, TX 78701, US",
    "Jürgen Ølstad, Tromsø, NY 10001, US",
    "Lee Chan, Portland, OR 97201, US",
]
SERVICES = ["UPS Ground", "UPS 2nd Day Air", "UPS Next Day Air"]


def parcel_rows(n: int) -> list[dict]:
    """``n`` parcels in tender order (deterministic)."""
    return [
        {
            "seq": i + 1,
            "tracking_number": f"1Z999AA1{i:010d}",
            "service": SERVICES[i % 3],
            "order_number": f"#{1700 + i // 2}" if i % 4 else "111-2591469-1350785",
            "shipment_id": f"SHP-{i // 2:06d}-1",
            "parcel_id": f"P-{i:06d}",
            "ship_to": SHIP_TOS[i % 3],
            "weight_g": 1250 + 10 * i,
            "billable_weight_g": 2000 + 10 * i,
            "zone": 2 + i % 7,
            "cost": f"{10 + i % 9}.{i % 100:02d}",
        }
        for i in range(n)
    ]


def manifest(rows: list[dict], **overrides) -> dict:
    services = [
        {
            "service": s,
            "parcels": sum(r["service"] == s for r in rows),
            "weight_g": sum(r["weight_g"] for r in rows if r["service"] == s),
            "cost": "123.40",
        }
        for s in SERVICES
    ]
    return {
        "manifest_id": MANIFEST_ID,
        "carrier": "UPS",
        "warehouse_id": "WH-NJ",
        "warehouse_name": "Edison Fulfillment Center",
        "ship_from": {
            "name": "Edison Fulfillment Center",
            "address1": "300 Raritan Center Pkwy",
            "city": "Edison",
            "region": "NJ",
            "postal_code": "08837",
            "country": "US",
        },
        "manifest_date": "2026-11-27",
        "cutoff": "2026-11-27 17:00 America/New_York",
        "closed_at": "2026-11-27 17:42 America/New_York",
        "parcels": len(rows),
        "weight_g": sum(r["weight_g"] for r in rows),
        "billable_weight_g": sum(r["billable_weight_g"] for r in rows),
        "total_cost": "1234.56",
        "currency": "USD",
        "services": services,
        **overrides,
    }


def test_manifest_shows_header_totals_services_and_every_parcel(tmp_path):
    rows = parcel_rows(12)
    path = tmp_path / "manifest.pdf"
    assert render_manifest(path, manifest(rows), rows) == 1
    text = pages_text(path)[0]
    lines = text.splitlines()

    # Header: carrier, manifest id, warehouse, dates, ship-from address.
    assert "CARRIER MANIFEST — UPS" in lines
    assert f"Manifest {MANIFEST_ID}" in lines
    assert "Carrier UPS · warehouse WH-NJ · Edison Fulfillment Center" in lines
    assert "Manifest date 2026-11-27 · cutoff 2026-11-27 17:00 America/New_York" in lines
    assert "Closed at 2026-11-27 17:42 America/New_York" in lines
    assert_in_order(text, ["SHIP FROM", "300 Raritan Center Pkwy", "Edison, NJ 08837", "US"])
    # Totals: 12 parcels, 15.66 kg actual, 24.66 kg billable, the cost with its currency.
    assert_in_order(
        text,
        [
            "SUMMARY",
            "Parcels 12",
            "Total weight 15.66 kg (34.52 lb)",
            "Billable weight 24.66 kg (54.37 lb)",
            "Total cost 1,234.56 USD",
        ],
    )
    # Per-service summary, in the order given.
    assert_in_order(
        text,
        [
            "By service",
            "UPS Ground 4 5.18 kg (11.42 lb) 123.40 USD",
            "UPS 2nd Day Air 4 5.22 kg (11.51 lb) 123.40 USD",
            "UPS Next Day Air 4 5.26 kg (11.60 lb) 123.40 USD",
        ],
    )
    # The parcel table, in the order given, each row with all its cells.
    assert_in_order(text, ["Parcels (12)", "costs in USD", LABELS])
    found = assert_in_order(text, [r["tracking_number"] for r in rows])
    for i, row in enumerate(rows):
        end = found[i + 1] if i + 1 < len(rows) else text.index("Carrier pickup")
        segment = flat(text[found[i] - len(str(row["seq"])) - 1 : end])
        service = row["service"].removeprefix("UPS ")
        assert segment.startswith(
            f"{row['seq']} {row['tracking_number']} {service} {row['order_number']} "
        )
        kg = f"{row['weight_g'] / 1000:.2f}"
        assert_in_order(segment, [kg, str(row["zone"]), row["cost"]])
        # The ship-to wraps in its column: its second line is read after the row's last cell.
        assert_in_order(segment, row["ship_to"].split())
    # Signature block and footer.
    assert_in_order(text, ["Carrier pickup", "Driver signature", "Date/time", "Parcels received"])
    assert f"Carrier manifest · {MANIFEST_ID} · UPS" in text
    assert "page 1 of 1" in text

    meta = PdfReader(path).metadata
    assert meta.title == f"Carrier manifest — UPS — {MANIFEST_ID}"


def test_long_manifest_repeats_headings_and_is_signed_on_the_last_page(tmp_path):
    rows = parcel_rows(300)
    path = tmp_path / "manifest.pdf"
    n = render_manifest(path, manifest(rows), rows)
    texts = pages_text(path)
    assert n == len(texts) >= 4

    for number, text in enumerate(texts, 1):
        assert f"page {number} of {n}" in text
        assert f"Carrier manifest · {MANIFEST_ID}" in text
        assert LABELS in text.splitlines()
        if number > 1:
            assert f"CARRIER MANIFEST (continued) · UPS · manifest {MANIFEST_ID}" in text
            assert "Parcels (300) (continued)" in text
    assert f"page {n + 1} of" not in "".join(texts)
    # The header and totals only on page 1.
    assert ["Total cost 1,234.56 USD" in t for t in texts] == [True] + [False] * (n - 1)

    # Every tracking number once, in order, across the pages.
    whole = "\n".join(texts)
    assert_in_order(whole, [r["tracking_number"] for r in rows])
    for row in rows:
        assert whole.count(row["tracking_number"]) == 1
    assert "300 1Z999AA10000000299" in flat(texts[-1])

    # The driver signs once, at the end.
    for field in ("Driver signature", "Date/time", "Parcels received"):
        assert [field in t for t in texts] == [False] * (n - 1) + [True]
    last = texts[-1]
    assert last.index("Driver signature") > last.index("1Z999AA10000000299")


def test_non_ascii_names_print_as_they_are(tmp_path):
    rows = parcel_rows(3)
    rows[0]["ship_to"] = "Muñoz Ltd, Zürich, ZH 8001, CH"
    path = tmp_path / "manifest.pdf"
    warehouse = {"warehouse_name": "Lagerhaus Grünwald – Søndre"}
    render_manifest(path, manifest(rows, **warehouse), rows)
    text = pages_text(path)[0]
    words = flat(text).split()
    for ship_to in ("Muñoz Ltd, Zürich, ZH 8001, CH", "Jürgen Ølstad, Tromsø, NY 10001, US"):
        assert_in_order(" ".join(words), ship_to.split())
    assert {"Muñoz", "Zürich,", "Jürgen", "Ølstad,", "Tromsø,"} <= set(words)
    assert "warehouse WH-NJ · Lagerhaus Grünwald – Søndre" in text
    assert "?" not in text


def test_long_ship_to_is_cut_with_an_ellipsis_to_the_column(tmp_path):
    rows = parcel_rows(3)
    long = "Extraordinarily Long Consignee Name Incorporated International " * 6
    rows[1]["ship_to"] = long + "Springfield, IL 62701, US"
    path = tmp_path / "manifest.pdf"
    render_manifest(path, manifest(rows), rows)
    text = pages_text(path)[0]

    cut = [line for line in text.splitlines() if line.endswith("…")]
    assert len(cut) == 1
    assert stringWidth(cut[0], "Helvetica", MANIFEST_SIZE) <= MANIFEST_COLUMNS[4].inner + 0.01
    assert "Springfield" not in text  # the end of the address was cut off
    # The row is otherwise complete, and the next one untouched.
    row = flat(
        text[text.index(rows[1]["tracking_number"]) : text.index(rows[2]["tracking_number"])]
    )
    assert_in_order(row, ["#1700", "Extraordinarily", "1.26", "3", rows[1]["cost"]])
    assert_in_order(flat(text[text.index(rows[2]["tracking_number"]) :]), SHIP_TOS[2].split())


def test_same_input_gives_identical_bytes(tmp_path):
    rows = parcel_rows(80)
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    render_manifest(a, manifest(rows), rows)
    render_manifest(b, manifest(rows), rows)
    assert a.read_bytes() == b.read_bytes()
    before = a.read_bytes()
    render_manifest(a, manifest(rows), rows)
    assert a.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "b.pdf"]


def test_manifest_id_is_a_code128_barcode_on_the_first_page(tmp_path):
    rows = parcel_rows(120)
    path = tmp_path / "manifest.pdf"
    n = render_manifest(path, manifest(rows), rows)
    pages = PdfReader(path).pages
    assert n >= 2
    first = pages[0].get_contents().get_data()
    # One "re" per bar of the manifest id's symbol, and its bars are exactly that symbol.
    assert bars(MANIFEST_ID) > 20
    assert re_count(first) == bars(MANIFEST_ID)
    assert documents._symbol(MANIFEST_ID)[1].encode() in first
    # The id in words under the bars, besides the "Manifest ..." line.
    assert pages_text(path)[0].count(MANIFEST_ID) >= 3  # header, under the bars, footer
    # Continuation pages carry no barcode; the last has just the signature box.
    for page in pages[1:-1]:
        assert re_count(page.get_contents().get_data()) == 0
    assert re_count(pages[-1].get_contents().get_data()) == 1


def test_manifest_id_that_cannot_be_encoded_prints_without_bars(tmp_path):
    rows = parcel_rows(2)
    path = tmp_path / "manifest.pdf"
    render_manifest(path, manifest(rows, manifest_id="M-ÜPS-1"), rows)
    page = PdfReader(path).pages[0]
    assert re_count(page.get_contents().get_data()) == 1  # the signature box only
    assert "Manifest M-ÜPS-1" in page.extract_text()


def test_empty_manifest_is_one_signed_page(tmp_path):
    path = tmp_path / "manifest.pdf"
    assert render_manifest(path, manifest([], services=[], total_cost="0"), []) == 1
    text = pages_text(path)[0]
    assert "page 1 of 1" in text
    assert_in_order(
        text,
        ["Parcels 0", "Total cost 0.00 USD", "Parcels (0)", "No parcels on this manifest."],
    )
    assert "By service" not in text
    assert "Driver signature" in text
