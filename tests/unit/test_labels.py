"""Shipping labels: the PDF read back with pypdf, the ZPL parsed as text.

Run as a script (``uv run python tests/unit/test_labels.py``) to measure labels per second;
the tests themselves are not timed.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.graphics.barcode.code128 import Code128

from pipelines.lib.labels import render_labels_pdf, render_labels_zpl, routing_code, zpl_fit

LONG_NAME = "Anneliese Müller-Lüdenscheidt y Muñoz Søndergaard von Hohenzollern-Sigmaringen"
TRACKING = "1Z999AA10123456784"


def label(**overrides) -> dict:
    base = {
        "tracking_number": TRACKING,
        "carrier": "UPS",
        "service": "UPS Ground",
        "weight_g": 1250,
        "parcel": "1 of 2",
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
            "company": "Bäckerei Peña & Søndergård",
            "address1": "1200 Greenwood Industrial Pkwy",
            "address2": "Suite 4B rear entrance",
            "city": "McDonough",
            "region": "GA",
            "postal_code": "30253-1234",
            "country": "US",
        },
        "order_number": "111-2591469-1350785",
        "shipment_id": "SHP-000123-1",
        "ship_date": "2026-11-27",
    }
    base.update(overrides)
    return base


def many(n: int) -> list[dict]:
    return [
        label(tracking_number=f"1Z999AA1{i:010d}", shipment_id=f"SHP-{i:06d}-1") for i in range(n)
    ]


def bars(value: str) -> int:
    code = Code128(value, quiet=0)
    code._calculate()
    return sum(ch.isupper() for ch in code.decomposed)


def re_count(data: bytes) -> int:
    return len(re.findall(rb"(?<![A-Za-z])re(?![A-Za-z])", data))


# ------------------------------------------------------------------------------------------
# PDF


def test_pdf_pages_are_4x6_inches_one_per_label(tmp_path):
    path = tmp_path / "labels.pdf"
    assert render_labels_pdf(path, many(5)) == 5
    pages = PdfReader(path).pages
    assert len(pages) == 5
    for page in pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == (288.0, 432.0)


def test_pdf_text_has_tracking_service_and_ship_to(tmp_path):
    path = tmp_path / "label.pdf"
    render_labels_pdf(path, [label()])
    text = PdfReader(path).pages[0].extract_text()
    for needle in (
        TRACKING,
        "UPS Ground",
        "1200 Greenwood Industrial Pkwy",
        "Suite 4B rear entrance",
        "McDonough, GA 30253-1234",
        "Bäckerei Peña & Søndergård",
        "Edison Fulfillment Center",
        "2026-11-27",
        "1.25 kg",
        "111-2591469-1350785",
        "SHP-000123-1",
        "1 of 2",
        "(420) 30253",
    ):
        assert needle in text, needle
    # The long name is cut to the label width with an ellipsis.
    assert LONG_NAME not in text
    assert "Anneliese Müller" in text
    name_line = next(line for line in text.splitlines() if "Anneliese" in line)
    assert name_line.rstrip().endswith("…")


def test_pdf_draws_tracking_and_routing_barcodes(tmp_path):
    path = tmp_path / "label.pdf"
    render_labels_pdf(path, [label()])
    data = PdfReader(path).pages[0].get_contents().get_data()
    assert re_count(data) == bars(TRACKING) + bars("42030253")


def test_pdf_routing_barcode_only_for_us_zip(tmp_path):
    abroad = label(ship_to={**label()["ship_to"], "country": "DK", "postal_code": "2100"})
    path = tmp_path / "label.pdf"
    render_labels_pdf(path, [abroad])
    page = PdfReader(path).pages[0]
    assert re_count(page.get_contents().get_data()) == bars(TRACKING)
    assert "(420)" not in page.extract_text()
    assert routing_code({"country": "US", "postal_code": "30253"}) == "42030253"
    assert routing_code({"country": "US", "postal_code": "ABCDE"}) is None


def test_pdf_same_input_gives_identical_bytes(tmp_path):
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    render_labels_pdf(a, many(3))
    render_labels_pdf(b, many(3))
    assert a.read_bytes() == b.read_bytes()


def test_pdf_label_with_missing_parts_still_renders(tmp_path):
    bare = label(
        ship_to={"name": "Ana Peña", "address1": "1 Main St", "city": "Austin", "country": None},
        carrier=None,
        weight_g=None,
    )
    path = tmp_path / "label.pdf"
    assert render_labels_pdf(path, [bare]) == 1
    assert "Ana Peña" in PdfReader(path).pages[0].extract_text()
    with pytest.raises(ValueError):
        render_labels_pdf(tmp_path / "none.pdf", [])


# ------------------------------------------------------------------------------------------
# ZPL


def blocks(zpl: str) -> list[str]:
    return re.findall(r"\^XA.*?\^XZ", zpl, flags=re.S)


def fields(zpl: str) -> list[str]:
    """Every ``^FO ... ^FS`` field, checking each opened field is closed before the next."""
    found = []
    at = 0
    while (start := zpl.find("^FO", at)) >= 0:
        end = zpl.find("^FS", start)
        assert end >= 0, f"^FO at {start} has no ^FS"
        field = zpl[start : end + 3]
        assert field.count("^FO") == 1, f"^FO without ^FS: {field!r}"
        found.append(field)
        at = end + 3
    return found


def field_data(zpl: str) -> list[str]:
    return re.findall(r"\^FD(.*?)\^FS", zpl)


def unhex(data: str) -> str:
    return re.sub(r"_([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), data)


def test_zpl_one_block_per_label_with_size_and_utf8():
    zpl = render_labels_zpl(many(4))
    assert zpl.count("^XA") == zpl.count("^XZ") == 4
    for block in blocks(zpl):
        for command in ("^CI28", "^PW812", "^LL1218"):
            assert command in block
        fields(block)
    assert render_labels_zpl([]) == ""


def test_zpl_has_tracking_barcode_routing_and_ship_to():
    zpl = render_labels_zpl([label()])
    assert re.search(rf"\^BCN,\d+,N,N,N,A\^FD{TRACKING}\^FS", zpl)
    assert "^BCN,90,N,N,N,A^FD42030253^FS" in zpl
    texts = [unhex(d) for d in field_data(zpl)]
    for needle in (
        "UPS Ground",
        "1200 Greenwood Industrial Pkwy",
        "Suite 4B rear entrance",
        "McDonough, GA 30253-1234",
        "Bäckerei Peña & Søndergård",
        "2026-11-27",
        "111-2591469-1350785",
        "SHP-000123-1",
        "1 of 2",
        TRACKING,
    ):
        assert needle in texts, needle
    # UTF-8 as it is: ü, ñ, ø present; the long name cut with "…" by the character rule.
    encoded = zpl.encode("utf-8")
    for ch in "üñø":
        assert ch.encode("utf-8") in encoded
    name = next(t for t in texts if t.startswith("Anneliese"))
    assert name.endswith("…") and len(name) == int((812 - 60 - 20) // (0.6 * 44))
    assert all(f.count("^FO") == 1 for f in fields(zpl))


def test_zpl_escapes_caret_tilde_and_underscore_in_data():
    nasty = label(
        ship_to={**label()["ship_to"], "name": "Evil^XZ~JA Name_1", "company": "A^FS^XA"},
        tracking_number="TRK^XZ",
    )
    zpl = render_labels_zpl([nasty])
    assert zpl.count("^XA") == zpl.count("^XZ") == 1
    assert "~" not in zpl
    texts = [unhex(d) for d in field_data(zpl)]
    assert "Evil^XZ~JA Name_1" in texts
    assert "A^FS^XA" in texts
    assert "Evil_5EXZ_7EJA Name_5F1" in zpl
    # A tracking number ZPL cannot carry safely in a barcode is printed as text only.
    assert "^BCN,160" not in zpl
    assert "TRK^XZ" in texts
    fields(zpl)


def test_zpl_fit_rule():
    assert zpl_fit("short", 300, 30) == "short"
    cut = zpl_fit("x" * 40, 300, 30)  # 300 // 18 = 16 characters
    assert len(cut) == 16 and cut.endswith("…")


# ------------------------------------------------------------------------------------------
# Throughput (not a test): uv run python tests/unit/test_labels.py


def _benchmark(out: Path) -> None:
    labels = many(1000)
    for run in ("cold", "warm"):
        started = time.perf_counter()
        n = render_labels_pdf(out / "labels.pdf", labels)
        took = time.perf_counter() - started
        print(f"PDF, 1,000 labels ({run}): {took:.3f} s = {n / took:.0f} labels/s")
    labels = many(20_000)
    started = time.perf_counter()
    render_labels_zpl(labels)
    took = time.perf_counter() - started
    print(f"ZPL, 20,000 labels: {took:.3f} s = {len(labels) / took:.0f} labels/s")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _benchmark(Path(tmp))
