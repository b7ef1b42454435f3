"""Pick lists, pull lists and packing slips, read back with pypdf.

Run as a script (``uv run python tests/unit/test_documents.py``) to measure pages per second;
the tests themselves are not timed.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.graphics.barcode.code128 import Code128
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from pipelines.lib import documents
from pipelines.lib.documents import (
    PICK_COLUMNS,
    PULL_TITLE,
    RETURNS_TEXT,
    clean_text,
    fit_text,
    render_packing_slip,
    render_pick_list,
    render_pull_list,
    wrap_text,
)

PRODUCTS = [
    "Braided USB-C to USB-C Cable 6' - Black",
    "Percale Sheet Set - Sage / Queen",
    "Cast Iron Kettlebell - 8 kg",
    "Crème brûlée torch – stainless",
    "Wool Blanket ‘Nordlys’ – Grå / 150×200 cm",
]


def wave(**overrides) -> dict:
    return {
        "wave_id": "W-20261127-WH-NJ-003",
        "warehouse_id": "WH-NJ",
        "warehouse_name": "Edison Fulfillment Center",
        "cutoff": "2026-11-27 17:00 America/New_York",
        "released_at": "2026-11-27 09:15 America/New_York",
        "orders": 412,
        "lines": 1000,
        "units": 1873,
        **overrides,
    }


def pick_rows(n: int) -> list[dict]:
    """``n`` rows in walk order, with one to four totes each (deterministic)."""
    rows = []
    for i in range(n):
        totes = [
            {
                "tote": f"T{(i * 7 + k * 13) % 60 + 1:02d}",
                "quantity": k + 1,
                "order_number": f"#{i}",
            }
            for k in range(i % 4 + 1)
        ]
        rows.append(
            {
                "seq": i + 1,
                "bin": f"{'ABCD'[i // 250]}-{i // 25 % 10:02d}-{i % 25:02d}-{i % 5 + 1}",
                "sku": f"SKU-{10_000 + i:05d}",
                "product_name": PRODUCTS[i % len(PRODUCTS)],
                "quantity": sum(t["quantity"] for t in totes),
                "totes": totes,
            }
        )
    return rows


def tote_tokens(row: dict) -> list[str]:
    return [f"{t['tote']}×{t['quantity']}" for t in row["totes"]]


LONG_NAME = "Anneliese Müller-Lüdenscheidt y Muñoz Søndergaard"


def slip(**overrides) -> dict:
    return {
        "shipment_id": "SHP-000123-1",
        "order_number": "111-2591469-1350785",
        "order_key": "amazon:111-2591469-1350785",
        "channel": "amazon",
        "ordered_at": "2026-11-25 14:02 UTC",
        "ship_from": {
            "name": "Edison Fulfillment Center",
            "address1": "300 Raritan Center Pkwy",
            "city": "Edison",
            "region": "NJ",
            "postal_code": "08837",
            "country": "US",
        },
        "ship_to": {
            "name": LONG_NAME,
            "company": "Bäckerei Überall GmbH",
            "address1": "1200 Greenwood Industrial Pkwy",
            "address2": "Suite 4B – rear entrance, Bldg 東 7",
            "city": "McDonough",
            "region": "GA",
            "postal_code": "30253",
            "country": "US",
        },
        "lines": [
            {"line_no": i + 1, "sku": f"SKU-{i:05d}", "product_name": p, "quantity": i % 3 + 1}
            for i, p in enumerate(PRODUCTS)
        ],
        "backordered": [
            {
                "line_no": 6,
                "sku": "SKU-00099",
                "product_name": "Daypack 22 L - Rust",
                "quantity": 2,
                "promised_date": "2026-12-04",
            },
            {
                "line_no": 7,
                "sku": "SKU-00100",
                "product_name": "Percale Sheet Set - Sage / King",
                "quantity": 1,
                "promised_date": "2026-12-11",
            },
        ],
        "parcels": [
            {"parcel_no": 1, "box_id": "BX-02", "weight_g": 1250},
            {"parcel_no": 2, "box_id": None, "weight_g": 480},
        ],
        "returns_text": RETURNS_TEXT,
        **overrides,
    }


def pages_text(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def flat(text: str) -> str:
    """Whitespace (line breaks included) collapsed, to find phrases that wrap."""
    return " ".join(text.split())


def assert_in_order(text: str, needles: list[str]) -> list[int]:
    """Each needle occurs after the previous one; returns where each was found."""
    at, found = 0, []
    for needle in needles:
        i = text.find(needle, at)
        assert i >= 0, f"{needle!r} missing (or out of order) after offset {at}"
        found.append(i)
        at = i + len(needle)
    return found


def bars(value: str) -> int:
    """How many bars reportlab's Code 128 symbol of ``value`` has."""
    code = Code128(value, quiet=0)
    code._calculate()
    return sum(ch.isupper() for ch in code.decomposed)


def re_count(data: bytes) -> int:
    return len(re.findall(rb"(?<![A-Za-z])re(?![A-Za-z])", data))


# ------------------------------------------------------------------------------------------
# Pick list


def test_pick_list_has_header_rows_in_walk_order_totes_and_page_numbers(tmp_path):
    rows = pick_rows(150)
    path = tmp_path / "pick.pdf"
    n = render_pick_list(path, wave(), rows)

    texts = pages_text(path)
    assert n == len(texts) >= 3
    for number, text in enumerate(texts, 1):
        # The header is on every page.
        for part in ("PICK LIST", "W-20261127-WH-NJ-003", "Edison Fulfillment Center"):
            assert part in text
        assert "2026-11-27 17:00 America/New_York" in text
        assert "2026-11-27 09:15 America/New_York" in text
        assert "412 orders · 1,000 lines · 1,873 units" in text
        assert f"page {number} of {n}" in text
    assert f"page {n + 1} of" not in "".join(texts)

    # Every bin and SKU, in walk order; each row's totes between its SKU and the next bin.
    whole = "\n".join(texts)
    needles = [x for row in rows for x in (row["bin"], row["sku"])]
    found = assert_in_order(whole, needles)
    for i, row in enumerate(rows):
        end = found[2 * i + 2] if i + 1 < len(rows) else len(whole)
        segment = flat(whole[found[2 * i + 1] : end])
        assert segment.startswith(f"{row['sku']} {row['product_name']} {row['quantity']} ")
        assert_in_order(segment, tote_tokens(row))

    meta = PdfReader(path).metadata
    assert meta.title == "Pick list — wave W-20261127-WH-NJ-003"


def test_pick_list_draws_code128_bars_for_wave_bins_and_skus_with_readable_values(tmp_path):
    rows = pick_rows(6)
    path = tmp_path / "pick.pdf"
    assert render_pick_list(path, wave(), rows) == 1

    page = PdfReader(path).pages[0]
    expected = bars("W-20261127-WH-NJ-003") + sum(bars(r["bin"]) + bars(r["sku"]) for r in rows)
    assert expected > 6 * 2 * 20
    # One "re" per bar, plus the tick boxes.
    assert re_count(page.get_contents().get_data()) == expected + len(rows)
    text = page.extract_text()
    # The human-readable wave id under its barcode, besides the "Wave ..." line.
    assert text.count("W-20261127-WH-NJ-003") >= 2
    for row in rows:
        assert row["bin"] in text and row["sku"] in text


def test_barcode_bars_are_exactly_reportlabs_code128(tmp_path):
    """The module emits reportlab's own Code 128 bars (as one path in module units)."""

    def rects(draw) -> list[tuple[float, float]]:
        c = Canvas(io.BytesIO())
        draw(c)
        code = " ".join(c._code)
        scale = re.search(r"([\d.]+) 0 0 ([\d.]+) 0 0 cm", code)
        sx = float(scale.group(1)) if scale else 1.0
        found = re.findall(r"([\d.]+) 0 ([\d.]+) (?:1|20) re", code)
        return [(round(float(x) * sx, 2), round(float(w) * sx, 2)) for x, w in found]

    for value in ("A-03-12-2", "SKU-00001", "#1797", "111-2591469-1350785", "P-107001"):
        ours = rects(lambda c, v=value: documents._draw_barcode(c, v, 10, 10, 0.73, 20))
        stock = rects(
            lambda c, v=value: Code128(v, barWidth=0.73, barHeight=20, quiet=0).drawOn(c, 10, 10)
        )
        assert ours == stock and len(ours) == bars(value)


def test_pick_row_with_many_totes_grows_and_keeps_every_tote(tmp_path):
    row = pick_rows(1)[0]
    row["totes"] = [
        {"tote": f"T{k:02d}", "quantity": 1 + k % 3, "order_number": f"#{k}"} for k in range(1, 41)
    ]
    row["quantity"] = sum(t["quantity"] for t in row["totes"])
    path = tmp_path / "pick.pdf"
    render_pick_list(path, wave(), [row, *pick_rows(3)[1:]])
    text = flat(pages_text(path)[0])
    assert_in_order(text, tote_tokens(row))


def test_long_product_name_is_cut_with_an_ellipsis_to_the_column(tmp_path):
    rows = pick_rows(3)
    words = " ".join(["Extra-long heavy-duty stainless steel widget"] * 8)
    rows[0]["product_name"] = (words + " " + "x" * 300)[:300]
    rows[1]["product_name"] = "Y" * 300  # one word, no place to wrap
    path = tmp_path / "pick.pdf"
    render_pick_list(path, wave(), rows)
    lines = pages_text(path)[0].splitlines()

    column = PICK_COLUMNS[3].inner
    cut = [line for line in lines if "…" in line]
    assert len(cut) == 2
    for line in cut:
        assert line.endswith("…")
        assert stringWidth(line, "Helvetica", 9) <= column + 0.01
    assert rows[0]["product_name"] not in "\n".join(lines)
    assert "Y" * 300 not in "\n".join(lines)


def test_empty_pick_list_is_one_page(tmp_path):
    path = tmp_path / "pick.pdf"
    assert render_pick_list(path, wave(), []) == 1
    assert "page 1 of 1" in pages_text(path)[0]


# ------------------------------------------------------------------------------------------
# Pull list


def test_pull_list_is_marked_and_lists_the_units_to_put_back(tmp_path):
    rows = [
        {
            "seq": i + 1,
            "bin": r["bin"],
            "sku": r["sku"],
            "product_name": r["product_name"],
            "quantity": i + 1,
            "tote": f"T{i + 5:02d}",
            "order_number": "111-2591469-1350785" if i % 2 else "#1797",
            "reason": "order cancelled",
        }
        for i, r in enumerate(pick_rows(4))
    ]
    path = tmp_path / "pull.pdf"
    assert render_pull_list(path, wave(), rows) == 1
    text = pages_text(path)[0]
    assert PULL_TITLE == "PULL LIST — cancelled after release"
    assert PULL_TITLE in text
    assert "W-20261127-WH-NJ-003" in text and "page 1 of 1" in text
    assert "4 line(s), 10 unit(s) to pull" in text
    found = assert_in_order(text, [x for r in rows for x in (r["bin"], r["sku"])])
    for i, row in enumerate(rows):
        end = found[2 * i + 2] if i + 1 < len(rows) else len(text)
        segment = flat(text[found[2 * i + 1] : end])
        assert_in_order(segment, [str(row["quantity"]), row["tote"], row["order_number"]])
        assert "order cancelled" in segment
    assert PdfReader(path).metadata.title == "Pull list — wave W-20261127-WH-NJ-003"


# ------------------------------------------------------------------------------------------
# Packing slip


def test_packing_slip_addresses_lines_backorders_parcels_and_returns(tmp_path):
    path = tmp_path / "slip.pdf"
    assert render_packing_slip(path, slip()) == 1
    text = pages_text(path)[0]
    lines = text.splitlines()

    # Ship-to: the long name and the non-ASCII Latin text come out intact; 東 becomes "?".
    for line in (
        LONG_NAME,
        "Bäckerei Überall GmbH",
        "1200 Greenwood Industrial Pkwy",
        "Suite 4B – rear entrance, Bldg ? 7",
        "McDonough, GA 30253",
    ):
        assert line in lines
    assert "東" not in text
    assert "Edison, NJ 08837" in lines
    # Order header with the order number in words under its barcode.
    assert "Order 111-2591469-1350785" in text
    assert text.count("111-2591469-1350785") >= 2
    assert "Amazon order · ordered 2026-11-25 14:02 UTC" in text
    assert "Shipment SHP-000123-1" in text
    # Items, in order, with quantities.
    found = assert_in_order(text, [f"SKU-{i:05d}" for i in range(len(PRODUCTS))])
    assert flat(text[found[1] :]).startswith("SKU-00001 Percale Sheet Set - Sage / Queen 2")
    assert "Wool Blanket ‘Nordlys’ – Grå / 150×200 cm" in text
    assert "9 unit(s) in 5 line(s)" in text
    # Backordered lines with their promised dates.
    back = text[text.index("Backordered — will ship separately") :]
    assert flat(back).count("2026-12-04") == 1
    assert_in_order(flat(back), ["SKU-00099", "Daypack 22 L - Rust", "2", "2026-12-04"])
    assert_in_order(flat(back), ["SKU-00100", "2026-12-11"])
    # Parcels.
    assert_in_order(flat(back), ["Parcels (2)", "1 of 2", "BX-02", "1.25 kg (2.76 lb)"])
    assert "own packaging" in back
    # The return instructions, last on the page.
    returns = flat(text[text.index("Returns") :])
    assert flat(RETURNS_TEXT) in returns
    assert "30 days" in RETURNS_TEXT and "RMA" in RETURNS_TEXT

    meta = PdfReader(path).metadata
    assert meta.title == "Packing slip — order 111-2591469-1350785 — shipment SHP-000123-1"


def test_packing_slip_with_many_lines_runs_onto_more_pages(tmp_path):
    many = [
        {"line_no": i + 1, "sku": f"SKU-{i:05d}", "product_name": PRODUCTS[i % 5], "quantity": 1}
        for i in range(90)
    ]
    path = tmp_path / "slip.pdf"
    n = render_packing_slip(path, slip(lines=many))
    texts = pages_text(path)
    assert n == len(texts) >= 3
    for number, text in enumerate(texts, 1):
        assert f"page {number} of {n}" in text
    assert_in_order("\n".join(texts), [line["sku"] for line in many])
    assert "Items in this shipment (continued)" in texts[1]
    assert "PACKING SLIP (continued) · Order 111-2591469-1350785" in texts[1]
    # Return instructions once, on the last page.
    assert [("Returns" in flat(t) and "30 days" in flat(t)) for t in texts] == [False] * (n - 1) + [
        True
    ]


def test_packing_slip_with_missing_parts_still_renders(tmp_path):
    bare = slip(
        ship_to={
            "name": "Ana",
            "company": None,
            "address1": "1 Main St",
            "address2": None,
            "city": "Austin",
            "region": None,
            "postal_code": "78701",
            "country": "US",
        },
        backordered=[],
        parcels=[],
        returns_text="Line one of the policy.\n\nLine two after a blank line.",
        channel="phone",
        order_number="P-107001",
    )
    path = tmp_path / "slip.pdf"
    assert render_packing_slip(path, bare) == 1
    text = pages_text(path)[0]
    assert "Backordered" not in text and "Parcels" not in text
    assert "Austin 78701" not in text and "Austin, 78701" in text
    assert "None" not in text
    assert_in_order(text, ["Phone order", "Returns", "Line one of the policy.", "Line two"])


# ------------------------------------------------------------------------------------------
# Determinism and text handling


def test_same_input_gives_identical_bytes(tmp_path):
    rows = pick_rows(40)
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    render_pick_list(a, wave(), rows)
    render_pick_list(b, wave(), rows)
    assert a.read_bytes() == b.read_bytes()
    render_packing_slip(a, slip())
    render_packing_slip(b, slip())
    assert a.read_bytes() == b.read_bytes()
    # Rewriting in place gives the same file too, and leaves no temporary file behind.
    before = a.read_bytes()
    render_packing_slip(a, slip())
    assert a.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "b.pdf"]


@pytest.mark.parametrize(
    ("raw", "printed"),
    [
        ("Müller ñ ø é – ’ €", "Müller ñ ø é – ’ €"),
        ("東京 Tower", "?? Tower"),
        ("e\u0301clair", "éclair"),  # combining accent composed
        ("emoji 📦 box", "emoji ? box"),
        ("tab\tnew\nline\x00", "tab new line?"),
        ("Łódź ő", "?ód? ?"),
        (None, ""),
        (42, "42"),
    ],
)
def test_clean_text_keeps_cp1252_and_replaces_the_rest(raw, printed):
    assert clean_text(raw) == printed


def test_fit_and_wrap_respect_the_width():
    text = "Braided USB-C to USB-C Cable 6' - Black, extra long edition with a carrying case"
    for width in (30.0, 80.0, 150.0):
        cut = fit_text(text, "Helvetica", 9, width)
        assert cut.endswith("…") and stringWidth(cut, "Helvetica", 9) <= width
        lines = wrap_text(text, "Helvetica", 9, width, max_lines=2)
        assert len(lines) == 2 and lines[-1].endswith("…")
        assert all(stringWidth(line, "Helvetica", 9) <= width for line in lines)
    assert fit_text("short", "Helvetica", 9, 100) == "short"
    assert wrap_text(text, "Helvetica", 9, 1000) == [text]
    assert " ".join(wrap_text(text, "Helvetica", 9, 90)) == text
    assert wrap_text("", "Helvetica", 9, 90) == []


# ------------------------------------------------------------------------------------------
# Throughput (not a test): uv run python tests/unit/test_documents.py


def _benchmark(out: Path) -> None:
    rows = pick_rows(1000)
    for label in ("cold", "warm"):
        if label == "cold":
            documents._symbol.cache_clear()
        started = time.perf_counter()
        n = render_pick_list(out / "pick.pdf", wave(), rows)
        took = time.perf_counter() - started
        rate = n / took
        print(f"pick list, 1,000 rows ({label}): {n} pages in {took:.3f} s = {rate:.0f} pages/s")
    pull = [
        {**r, "quantity": 1, "tote": "T05", "order_number": "#1797", "reason": "order cancelled"}
        for r in rows[:300]
    ]
    started = time.perf_counter()
    n = render_pull_list(out / "pull.pdf", wave(), pull)
    took = time.perf_counter() - started
    print(f"pull list, 300 rows: {n} pages in {took:.3f} s = {n / took:.0f} pages/s")
    started = time.perf_counter()
    pages = 0
    for i in range(500):
        pages += render_packing_slip(
            out / f"slip-{i}.pdf", slip(order_number=f"#{2000 + i}", shipment_id=f"SHP-{i:06d}-1")
        )
    took = time.perf_counter() - started
    print(f"packing slips, 500 files: {pages} pages in {took:.3f} s = {pages / took:.0f} pages/s")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _benchmark(Path(tmp))
