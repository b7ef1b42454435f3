"""4 × 6 inch shipping labels, as a multi-page PDF and as ZPL II for thermal printers.

A pure module (no Dagster, no DuckDB): callers hand over plain label dicts and get back the
page count (PDF) or the ZPL text. Both formats carry the same blocks, top to bottom: ship-from
address (left) with weight and ship date (right); the ship-to block (name, company, both
address lines, city/region/ZIP, country); a postal routing barcode of the ship-to ZIP; the
carrier and the service name in large type; the tracking number as a Code 128 barcode and as
text; a footer with the order number, shipment id and parcel ("1 of 2").

Label dict keys: ``tracking_number``, ``carrier``, ``service``, ``weight_g`` (int),
``parcel``, ``ship_from`` (name, address1, city, region, postal_code, country), ``ship_to``
(name, company, address1, address2, city, region, postal_code, country; any may be None),
``order_number``, ``shipment_id``, ``ship_date`` (str).

Decisions worth knowing about:

* **PDF** reuses ``pipelines.lib.documents``: its text cleaning (NFC, cp1252 or "?"),
  ``fit_text`` (cut with "…" as measured by ``stringWidth``), its one-text-object-per-block
  drawing and its fast Code 128 path (bars as one cached path), and its render lock around
  reportlab's global ``useA85`` switch. Pages are 288 × 432 pt, ``invariant=1`` so the same
  input gives identical bytes; the file is written to a temporary name and renamed.
* **Routing barcode**: for a US ship-to address whose postal code starts with a 5-digit ZIP,
  "420" + ZIP5 as plain Code 128 (USPS-style; no GS1 FNC1, since not every consumer wants
  one). Otherwise the row shows only the postal code as text.
* **ZPL** is for 203 dpi printers: ``^PW812`` / ``^LL1218`` (4 × 6 in), one
  ``^XA … ^XZ`` block per label, ``^CI28`` so field data is UTF-8 (ü, ñ, ø, 東 print as far as
  the printer font has them). Every text field goes through ``^FH`` (hex escapes with the
  default ``_`` indicator): ``^`` is written ``_5E``, ``~`` ``_7E`` and ``_`` itself ``_5F``, so
  no data can end a field or start a command. In the few right-aligned/centred ``^FB`` fields a
  backslash is doubled (``\\&`` would otherwise be a line break). Control characters become
  spaces or "?".
* **ZPL truncation by character count**: text uses the scalable font 0 (``^A0N,h,w``), a
  condensed face whose glyphs average about half of ``w`` dots wide. A field ``room`` dots wide
  takes at most ``room // (0.6 × w)`` characters; longer text is cut and ends with "…". (A line
  of only wide capitals, "WWWW…", can still run a little longer than ``room``.)
* **ZPL barcodes** (``^BCN`` in automatic subset mode) are drawn only for printable ASCII
  without ``^ ~ _ >`` (``>`` starts a Code 128 invocation code in ZPL), with a module width of
  2–4 dots (10–20 mil) sized from the symbol's module count; a value that does not fit at
  2 dots gets its text only. The human-readable line is a separate text field.
* Empty ``labels`` raises ``ValueError`` for the PDF (a PDF needs a page) and gives "" for
  ZPL.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reportlab import rl_config
from reportlab.pdfgen.canvas import Canvas

from pipelines.lib.documents import (
    _CONTROL,
    _RENDER_LOCK,
    BOLD,
    ELLIPSIS,
    REGULAR,
    _address_lines,
    _bar_width,
    _draw_barcode,
    _modules,
    _Texts,
    _weight,
    clean_text,
    fit_text,
)
from pipelines.lib.files import write_atomically

__all__ = ["LABEL_H", "LABEL_W", "ZPL_H", "ZPL_W", "render_labels_pdf", "render_labels_zpl"]

LABEL_W, LABEL_H = 288.0, 432.0  # 4 × 6 in, in points
M = 10.0  # margin
CW = LABEL_W - 2 * M

ZPL_DPI = 203
ZPL_W, ZPL_H = 812, 1218  # 4 × 6 in at 203 dpi
ZM = 30  # margin, dots
ZCW = ZPL_W - 2 * ZM

_US = {"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA"}
_ZIP = re.compile(r"(\d{5})(?:-?\d{4})?")


def _get(d: Mapping[str, Any] | None, key: str) -> Any:
    return (d or {}).get(key)


def routing_code(ship_to: Mapping[str, Any] | None) -> str | None:
    """ "420" + ZIP5 for a US address with a ZIP code, else None."""
    country = str(_get(ship_to, "country") or "").strip().upper()
    postal = str(_get(ship_to, "postal_code") or "").strip()
    match = _ZIP.fullmatch(postal)
    if country not in _US or not match:
        return None
    return "420" + match.group(1)


def _parcel(label: Mapping[str, Any]) -> str:
    return str(label.get("parcel") or "1 of 1")


# --------------------------------------------------------------------------------------------
# PDF


def _pdf_label(c: Canvas, label: Mapping[str, Any]) -> None:
    t = _Texts()
    right = LABEL_W - M

    def fit(font: str, size: float, width: float, value: object) -> str:
        return fit_text(clean_text(value).strip(), font, size, width)

    # Ship-from (left) and weight / ship date (right), in reading order by baseline.
    sender = _address_lines(label.get("ship_from"), with_company=False)[:4]
    t.left(BOLD, 6, M, 15, "FROM")
    t.right(BOLD, 6, right, 15, "WEIGHT")
    drops = (25.0, 34.0, 43.0, 52.0)
    side = (
        (BOLD, 9, _weight(label.get("weight_g"))),
        (BOLD, 6, "SHIP DATE"),
        (BOLD, 9, clean_text(label.get("ship_date"))),
        (REGULAR, 6, ""),
    )
    for i, drop in enumerate(drops):
        if i < len(sender):
            font = BOLD if i == 0 else REGULAR
            t.left(font, 7.5, M, drop, fit_text(sender[i], font, 7.5, 165))
        font, size, text = side[i]
        t.right(font, size, right, drop + (1 if size == 9 else 0), fit_text(text, font, size, 95))

    # Ship-to.
    t.left(BOLD, 7, M, 74, "SHIP TO")
    lines = _address_lines(label.get("ship_to"), with_company=True)
    drop = 90.0
    for i, line in enumerate(lines[:6]):
        font, size = (BOLD, 14.0) if i == 0 else (REGULAR, 11.5)
        t.left(font, size, M + 8, drop, fit_text(line, font, size, CW - 8))
        drop += 14.5 if i == 0 else 13.5

    # Routing row.
    ship_to = label.get("ship_to")
    routing = routing_code(ship_to)
    postal = clean_text(_get(ship_to, "postal_code")).strip()
    t.left(BOLD, 6, M, 180, "POSTAL ROUTING")
    t.left(BOLD, 12, M, 196, fit(BOLD, 12, 110, f"ZIP {postal}") if postal else "")
    route_bar = _bar_width(routing, 120, 1.2) if routing else 0.0
    if route_bar:
        mid = (130 + right) / 2
        t.centre(REGULAR, 7, mid, 219, f"({routing[:3]}) {routing[3:]}")

    # Service.
    t.left(BOLD, 7, M, 238, fit(BOLD, 7, CW, label.get("carrier")).upper())
    t.left(BOLD, 20, M, 261, fit(BOLD, 20, CW, label.get("service")))

    # Tracking.
    tracking = clean_text(label.get("tracking_number")).strip()
    t.left(BOLD, 6.5, M, 281, "TRACKING #")
    t.centre(BOLD, 11, LABEL_W / 2, 359, fit_text(tracking, BOLD, 11, CW))
    track_bar = _bar_width(tracking, CW - 20, 1.6)

    # Footer.
    t.left(BOLD, 6, M, 377, "ORDER")
    t.right(BOLD, 6, right, 377, "PARCEL")
    t.left(BOLD, 9.5, M, 389, fit(BOLD, 9.5, 170, label.get("order_number")))
    t.left(BOLD, 6, M, 401, "SHIPMENT")
    t.right(BOLD, 20, right, 402, fit(BOLD, 20, 90, _parcel(label)))
    t.left(REGULAR, 9.5, M, 413, fit(REGULAR, 9.5, 170, label.get("shipment_id")))

    t.draw(c, LABEL_H)

    # Rules between the blocks.
    c.setLineWidth(1.2)
    for drop in (62.0, 167.0, 226.0, 270.0, 366.0):
        y = LABEL_H - drop
        c.line(M, y, right, y)

    if route_bar:
        width = _modules(routing) * route_bar
        _draw_barcode(c, routing, (130 + right - width) / 2, LABEL_H - 210, route_bar, 36)
    if track_bar:
        width = _modules(tracking) * track_bar
        _draw_barcode(c, tracking, (LABEL_W - width) / 2, LABEL_H - 345, track_bar, 58)


def render_labels_pdf(path: Path, labels: list[dict]) -> int:
    """Write ``labels`` to ``path`` as a PDF, one 4 × 6 in page per label; returns the number
    of pages."""
    if not labels:
        raise ValueError("no labels to render")
    buf = io.BytesIO()
    with _RENDER_LOCK:
        a85 = rl_config.useA85
        rl_config.useA85 = 0
        try:
            c = Canvas(buf, pagesize=(LABEL_W, LABEL_H), invariant=1, pageCompression=1)
            c.setTitle("Shipping labels")
            c.setAuthor("oms")
            c.setCreator("oms pipelines.lib.labels")
            for label in labels:
                _pdf_label(c, label)
                c.showPage()
            c.save()
        finally:
            rl_config.useA85 = a85
    write_atomically(Path(path), lambda tmp: tmp.write_bytes(buf.getvalue()))
    return len(labels)


# --------------------------------------------------------------------------------------------
# ZPL

_RUNS = re.compile(r"\d+|\D+")
_ZPL_BARCODE_UNSAFE = set("^~_>")


def zpl_text(value: object) -> str:
    """``value`` as UTF-8 ZPL text (before escaping): NFC, control characters replaced."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if not text.isprintable():
        text = text.translate(_CONTROL)
    return text.strip()


def zpl_fit(text: str, room: int, char_w: int) -> str:
    """``text`` cut to the characters ``room`` dots take in font 0 of width ``char_w``: at
    most ``room // (0.6 × char_w)``, the last one "…" when something was cut."""
    n = int(room // (0.6 * char_w))
    if len(text) <= n:
        return text
    return text[: max(0, n - 1)].rstrip(" ,;") + ELLIPSIS if n > 0 else ""


def zpl_escape(text: str) -> str:
    """Field data for ``^FH^FD``: ``_``, ``^`` and ``~`` as hex escapes."""
    if "_" in text or "^" in text or "~" in text:
        return text.replace("_", "_5F").replace("^", "_5E").replace("~", "_7E")
    return text


def _ztext(
    out: list[str], x: int, y: int, h: int, w: int, value: object, room: int, align: str = ""
) -> None:
    text = zpl_fit(zpl_text(value), room, w)
    if not text:
        return
    data = zpl_escape(text)
    block = ""
    if align:
        block = f"^FB{room},1,0,{align},0"
        data = data.replace("\\", "\\\\")
    out.append(f"^FO{x},{y}^A0N,{h},{w}{block}^FH^FD{data}^FS")


def code128_modules(value: str) -> int:
    """Width in modules of ``value`` as Code 128 in ZPL's automatic mode, estimated from
    above: subset C (two digits a symbol, plus a switch) for runs of 4+ digits or an all-digit
    value, one symbol per other character; plus start, check digit and stop (13 modules)."""
    if value.isdigit() and len(value) >= 2:
        symbols = (len(value) + 1) // 2 + (len(value) % 2)
    else:
        symbols = 0
        for run in _RUNS.findall(value):
            n = len(run)
            symbols += n // 2 + n % 2 + 1 if n >= 4 and run[0].isdigit() else n
    return 11 * (symbols + 2) + 13


def _zbar_width(value: str, room: int) -> int:
    """Module width in dots (2–4) that fits ``value`` into ``room`` dots, or 0."""
    if not value or not value.isascii() or not value.isprintable():
        return 0
    if _ZPL_BARCODE_UNSAFE.intersection(value):
        return 0
    bar = min(4, room // code128_modules(value))
    return bar if bar >= 2 else 0


def _zbarcode(out: list[str], value: str, left: int, room: int, y: int, height: int) -> bool:
    bar = _zbar_width(value, room)
    if not bar:
        return False
    x = left + (room - code128_modules(value) * bar) // 2
    out.append(f"^FO{x},{y}^BY{bar},3,{height}^BCN,{height},N,N,N,A^FD{value}^FS")
    return True


def _zpl_label(label: Mapping[str, Any]) -> str:
    out = ["^XA", "^CI28", f"^PW{ZPL_W}", f"^LL{ZPL_H}", "^LH0,0"]
    right_x, right_room = 520, ZPL_W - ZM - 520

    # Ship-from and weight / ship date.
    sender = label.get("ship_from") or {}
    region_postal = " ".join(
        s for s in (zpl_text(sender.get("region")), zpl_text(sender.get("postal_code"))) if s
    )
    city = ", ".join(s for s in (zpl_text(sender.get("city")), region_postal) if s)
    from_lines = [
        s
        for s in (
            zpl_text(sender.get("name")),
            zpl_text(sender.get("address1")),
            city,
            zpl_text(sender.get("country")),
        )
        if s
    ]
    _ztext(out, ZM, 30, 20, 20, "FROM", 200)
    for i, line in enumerate(from_lines):
        _ztext(out, ZM, 58 + 28 * i, 24, 24, line, 470)
    _ztext(out, right_x, 30, 20, 20, "WEIGHT", right_room, "R")
    _ztext(out, right_x, 56, 28, 22, _weight(label.get("weight_g")), right_room, "R")
    _ztext(out, right_x, 96, 20, 20, "SHIP DATE", right_room, "R")
    _ztext(out, right_x, 122, 28, 28, label.get("ship_date"), right_room, "R")
    out.append(f"^FO{ZM},170^GB{ZCW},4,4^FS")

    # Ship-to.
    to = label.get("ship_to") or {}
    region_postal = " ".join(
        s for s in (zpl_text(to.get("region")), zpl_text(to.get("postal_code"))) if s
    )
    city = ", ".join(s for s in (zpl_text(to.get("city")), region_postal) if s)
    keys = ("name", "company", "address1", "address2")
    parts = [*(zpl_text(to.get(k)) for k in keys), city, zpl_text(to.get("country"))]
    to_lines = [s for s in parts if s]
    _ztext(out, ZM, 185, 22, 22, "SHIP TO", 300)
    y = 212
    for i, line in enumerate(to_lines):
        if i == 0:
            _ztext(out, ZM + 20, y, 44, 44, line, ZCW - 20)
            y += 50
        else:
            _ztext(out, ZM + 20, y, 34, 34, line, ZCW - 20)
            y += 38
    out.append(f"^FO{ZM},465^GB{ZCW},4,4^FS")

    # Routing row.
    routing = routing_code(to)
    postal = zpl_text(to.get("postal_code"))
    _ztext(out, ZM, 485, 20, 20, "POSTAL ROUTING", 300)
    if postal:
        _ztext(out, ZM, 512, 40, 32, f"ZIP {postal}", 330)
    if routing and _zbarcode(out, routing, 380, ZPL_W - ZM - 380, 485, 90):
        _ztext(out, 380, 585, 22, 22, f"({routing[:3]}) {routing[3:]}", ZPL_W - ZM - 380, "C")
    out.append(f"^FO{ZM},630^GB{ZCW},4,4^FS")

    # Service.
    _ztext(out, ZM, 645, 22, 22, zpl_text(label.get("carrier")).upper(), ZCW)
    _ztext(out, ZM, 672, 64, 56, label.get("service"), ZCW)
    out.append(f"^FO{ZM},750^GB{ZCW},4,4^FS")

    # Tracking.
    tracking = zpl_text(label.get("tracking_number"))
    _ztext(out, ZM, 765, 20, 20, "TRACKING #", 300)
    _zbarcode(out, tracking, ZM + 20, ZCW - 40, 795, 160)
    _ztext(out, ZM, 970, 34, 34, tracking, ZCW, "C")
    out.append(f"^FO{ZM},1025^GB{ZCW},4,4^FS")

    # Footer.
    _ztext(out, ZM, 1040, 18, 18, "ORDER", 200)
    _ztext(out, ZM, 1062, 28, 28, label.get("order_number"), 470)
    _ztext(out, ZM, 1100, 18, 18, "SHIPMENT", 200)
    _ztext(out, ZM, 1122, 28, 28, label.get("shipment_id"), 470)
    _ztext(out, right_x, 1040, 18, 18, "PARCEL", right_room, "R")
    _ztext(out, right_x, 1068, 56, 50, _parcel(label), right_room, "R")

    out.append("^XZ")
    return "\n".join(out) + "\n"


def render_labels_zpl(labels: list[dict]) -> str:
    """``labels`` as ZPL II for a 203 dpi printer: one ``^XA … ^XZ`` block per label."""
    return "".join(_zpl_label(label) for label in labels)
