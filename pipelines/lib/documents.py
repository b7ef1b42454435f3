"""Warehouse floor paper as PDF: pick lists, pull lists, packing slips and carrier manifests.

A pure module (no Dagster, no DuckDB): the callers hand over plain dicts and a path, and get
back the number of pages written. Drawing goes straight to a reportlab ``Canvas`` (no
platypus) in the standard Helvetica fonts on US Letter: about 300 pick-list pages or 400
packing slips a second on one core (``uv run python tests/unit/test_documents.py`` measures
it), and some 40% more with reportlab's optional C extension ``rl-accel`` installed, which
gives byte-identical output.

Decisions worth knowing about:

* **Layout first, then one drawing pass.** Every block (table row, section title, address,
  returns box) is measured and assigned to a page before anything is drawn, so the total page
  count is known up front and each page's footer says "page N of M" without the
  ``NumberedCanvas`` trick of replaying saved page states.
* **Text encoding.** The standard fonts use WinAnsi (cp1252) encoding: Latin letters with
  accents (ü, ñ, ø, é), dashes and curly quotes print as they are. Text is NFC-normalised
  first (so "e" + combining acute becomes "é"); any character still outside cp1252 (東, emoji,
  ő) is printed as "?" rather than crashing or silently switching to the Symbol font. Control
  characters become spaces (tab, newline) or "?".
* **No overflow.** Every string is fitted to its column with ``pdfmetrics.stringWidth``:
  wrapped where the layout allows several lines and cut with "…" on the last one.
* **Barcodes** are Code 128 (``reportlab.graphics.barcode.code128.Code128`` drawn with
  ``drawOn``), always with the value printed as text next to (above or under) the bars. The
  X-dimension (narrowest bar) is scaled to the room available, at most 0.75 pt (10.4 mil) in
  tables; a value that would need bars narrower than 0.45 pt (6.25 mil, below what a floor
  scanner reads reliably) or that is not printable ASCII gets no barcode, just its text. The
  bars carry no quiet zone of their own: the column padding keeps at least 10 X of blank space
  on either side.
* **Deterministic bytes.** The canvas runs with ``invariant=1`` (fixed creation date and
  document id) and nothing on the page depends on the clock, so rendering the same input again
  gives a byte-identical file. Files are written to a temporary name and renamed, so a crash
  never leaves half a PDF under the final name.
"""

from __future__ import annotations

import io
import threading
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab import rl_config
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.pagesizes import LETTER
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from pipelines.lib.files import write_atomically

__all__ = [
    "RETURNS_TEXT",
    "clean_text",
    "fit_text",
    "render_manifest",
    "render_packing_slip",
    "render_pick_list",
    "render_pull_list",
    "wrap_text",
]

#: Default return instructions for the packing slip: the customer-facing summary of the RMA
#: process (authorisation, receipt, inspection, refund), whose workings belong in the docs.
RETURNS_TEXT = (
    "You may return unused items in their original packaging within 30 days of "
    "delivery. To start a return, contact the store or marketplace you ordered from (for "
    "orders placed by phone or email, reply to your order confirmation) and quote the order "
    "number printed on this slip. We will send you a return authorization (RMA) number and "
    "shipping instructions.\n"
    "Include this packing slip in the return parcel and write the RMA number on the outside "
    "of the box. Refunds go to the original payment method once the items have arrived and "
    "been checked; items that are used, damaged or not in their original packaging may be "
    "refused."
)

PAGE_W, PAGE_H = LETTER
MARGIN = 36.0
LEFT = MARGIN
RIGHT = PAGE_W - MARGIN
CONTENT_W = RIGHT - LEFT
TOP = PAGE_H - MARGIN
#: The lowest point body content may reach; the footer sits below it.
BODY_BOTTOM = MARGIN + 14.0
FOOTER_RULE_Y = MARGIN + 6.0
FOOTER_TEXT_Y = MARGIN - 4.0

REGULAR = "Helvetica"
BOLD = "Helvetica-Bold"
OBLIQUE = "Helvetica-Oblique"
ELLIPSIS = "…"

#: Horizontal padding inside a table cell. Two paddings (10 pt) separate a barcode's bars from
#: anything beside them, which is the Code 128 quiet zone (10 X) for X up to 1 pt.
PAD = 5.0
#: Largest and smallest X-dimension (narrowest bar) used, in points.
MAX_BAR = 0.75
MIN_BAR = 0.45
#: Header barcodes (wave id, order number) may be wider and a little bolder.
HEADER_BAR_MAX = 1.0
HEADER_BAR_ROOM = 200.0
HEADER_BAR_HEIGHT = 30.0
#: Height of the bars under a bin or SKU in a table row.
ROW_BAR_HEIGHT = 17.0

MUTED = 0.35  # grey level of secondary text
RULE = 0.75  # grey level of separator lines

Draw = Callable[[Canvas, float], None]

_RENDER_LOCK = threading.Lock()

# --------------------------------------------------------------------------------------------
# Text


_CONTROL = {i: (" " if chr(i) in "\t\n\r\x0b\x0c" else "?") for i in range(32)}
_CONTROL[0x7F] = "?"


def clean_text(value: object) -> str:
    """``value`` as text the standard (WinAnsi) fonts can print: ``None`` becomes "", the text
    is NFC-normalised, characters outside cp1252 become "?" and control characters a space
    (whitespace) or "?"."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.isascii():
        return text if text.isprintable() else text.translate(_CONTROL)
    text = unicodedata.normalize("NFC", text)
    # Python's cp1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined, like WinAnsi does, so
    # U+0081 and friends are replaced too.
    return text.encode("cp1252", "replace").decode("cp1252").translate(_CONTROL)


def _prefix(text: str, font: str, size: float, room: float) -> str:
    """The longest prefix of ``text`` at most ``room`` points wide."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if stringWidth(text[:mid], font, size) <= room:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _ellipsize(text: str, font: str, size: float, width: float) -> str:
    """``text`` (shortened as needed) followed by "…", at most ``width`` points wide."""
    room = width - stringWidth(ELLIPSIS, font, size)
    if room <= 0:
        return ""
    return _prefix(text, font, size, room).rstrip(" ,;") + ELLIPSIS


def fit_text(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut to at most ``width`` points, ending with "…" when something was cut."""
    if stringWidth(text, font, size) <= width:
        return text
    return _ellipsize(text, font, size, width)


def _break_word(word: str, font: str, size: float, width: float) -> list[str]:
    """A word too wide for a line, in pieces that fit."""
    pieces = []
    while word:
        n = max(1, len(_prefix(word, font, size, width)))
        pieces.append(word[:n])
        word = word[n:]
    return pieces


def wrap_text(
    text: str, font: str, size: float, width: float, max_lines: int | None = None
) -> list[str]:
    """``text`` wrapped at spaces to lines of at most ``width`` points (a word wider than a
    line is broken); with ``max_lines``, text beyond them is dropped and the last line kept
    ends with "…". An empty text gives no lines."""
    if not text:
        return []
    if stringWidth(text, font, size) <= width:
        return [text]
    # Helvetica has no kerning here, so widths add up: one measure per word.
    space = stringWidth(" ", font, size)
    lines: list[str] = []
    current: list[str] = []
    used = 0.0
    for word in text.split():
        w = stringWidth(word, font, size)
        if current and used + space + w <= width:
            current.append(word)
            used += space + w
            continue
        if current:
            lines.append(" ".join(current))
        if w <= width:
            current, used = [word], w
        else:
            *full, last = _break_word(word, font, size, width)
            lines.extend(full)
            current, used = [last], stringWidth(last, font, size)
        if max_lines is not None and len(lines) > max_lines:
            break
    else:
        if current:
            lines.append(" ".join(current))
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _ellipsize(lines[-1], font, size, width)
    return lines


@lru_cache(maxsize=64)
def _paragraphs(text: str, font: str, size: float, width: float) -> tuple[str, ...]:
    """A multi-line block wrapped line by line; a blank line stays a blank line. (Cached: the
    same return instructions go on every packing slip.)"""
    lines: list[str] = []
    for raw in (text or "").replace("\r\n", "\n").split("\n"):
        line = clean_text(raw).strip()
        lines.extend(wrap_text(line, font, size, width) if line else [""])
    while lines and not lines[-1]:
        lines.pop()
    return tuple(lines)


def _number(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return clean_text(value)


# --------------------------------------------------------------------------------------------
# Barcodes


def _barcodable(value: str) -> bool:
    return bool(value) and value.isascii() and value.isprintable()


@lru_cache(maxsize=16_384)
def _symbol(value: str) -> tuple[int, str]:
    """``value``'s Code 128 symbol: its width in modules (X) without quiet zones, and its
    bars as PDF path operators in module units (x from 0, height 1), filled.

    reportlab's ``Code128`` does the encoding (code sets, check digit, bar pattern); its
    ``decomposed`` string spells the symbol left to right, a lowercase letter a space and an
    uppercase one a bar, ``a``/``A`` one module wide, ``b``/``B`` two, and so on."""
    code = Code128(value, barWidth=1.0, quiet=0)
    code._calculate()
    ops = []
    x = 0
    for ch in code.decomposed:
        if "a" <= ch <= "z":
            x += ord(ch) - 96
        else:
            w = ord(ch) - 64
            ops.append(f"{x} 0 {w} 1 re")
            x += w
    ops.append("f")
    return x, " ".join(ops)


def _modules(value: str) -> int:
    return _symbol(value)[0]


def _bar_width(value: str, room: float, max_bar: float = MAX_BAR) -> float:
    """The X-dimension that fits ``value`` into ``room`` points, or 0 if none does."""
    if not _barcodable(value):
        return 0.0
    bar = min(max_bar, room / _modules(value))
    return bar if bar >= MIN_BAR else 0.0


class _Code128(Code128):
    """reportlab's Code 128, drawn as one filled path in module units.

    ``Canvas.rect`` formats every number with ``fp_str``, which is pure Python unless the
    optional ``rl_accel`` C extension is installed, and bars are most of what a pick-list
    page draws (about 1,100 of them). Instead the symbol is scaled to (X, bar height) and its
    bars, at whole-module positions, are emitted as one cached path (see ``_symbol``).
    ``drawOn`` wraps this in save/restore state and moves the origin to the symbol's
    corner."""

    def draw(self) -> None:
        scale = f"{self.barWidth:.4f} 0 0 {self.barHeight:.2f} 0 0 cm "
        self.canv._code.append(scale + _symbol(self.value)[1])


def _draw_barcode(c: Canvas, value: str, x: float, y: float, bar: float, height: float) -> None:
    """Code 128 of ``value`` with its bottom-left corner at (x, y) and X-dimension ``bar``."""
    _Code128(value, barWidth=bar, barHeight=height, quiet=0).drawOn(c, x, y)


# --------------------------------------------------------------------------------------------
# Drawing


class _Texts:
    """The text runs of one block, drawn as a single PDF text object.

    A run is (font, size, x, drop, text): ``drop`` is how far its baseline sits below the
    block's top edge, so the same runs can be drawn wherever the block lands. One text object
    with a font change only where the font changes costs about half of a ``drawString`` per
    run. Add runs in reading order (left to right along a line): text extraction follows the
    content stream, and a run placed left of the previous one on the same baseline is read
    glued to its end."""

    __slots__ = ("runs",)

    def __init__(self) -> None:
        self.runs: list[tuple[str, float, float, float, str]] = []

    def left(self, font: str, size: float, x: float, drop: float, text: str) -> None:
        if text:
            self.runs.append((font, size, x, drop, text))

    def right(self, font: str, size: float, x: float, drop: float, text: str) -> None:
        if text:
            self.runs.append((font, size, x - stringWidth(text, font, size), drop, text))

    def centre(self, font: str, size: float, x: float, drop: float, text: str) -> None:
        if text:
            self.runs.append((font, size, x - stringWidth(text, font, size) / 2, drop, text))

    def cell(self, col: _Col, font: str, size: float, drop: float, text: str) -> None:
        (self.left if col.align == "left" else self.right)(font, size, col.text_x, drop, text)

    def draw(self, c: Canvas, top: float) -> None:
        if not self.runs:
            return
        t = c.beginText()
        current = None
        for font, size, x, drop, text in self.runs:
            if current != (font, size):
                t.setFont(font, size)
                current = (font, size)
            t.setTextOrigin(x, top - drop)
            t.textOut(text)
        c.drawText(t)


class _Flow:
    """Greedy top-to-bottom placement of blocks on pages, done before drawing.

    A block is a height and a function drawing it given the y of its top edge. ``repeat``
    holds blocks re-placed at the top of each new page (a continued table's title and column
    headings)."""

    def __init__(self, first_top: float, top: float, bottom: float = BODY_BOTTOM) -> None:
        self.pages: list[list[tuple[float, Draw]]] = [[]]
        self.y = first_top
        self.top = top
        self.bottom = bottom
        self.repeat: list[tuple[float, Draw]] = []
        self.fresh = True

    @property
    def room(self) -> float:
        return self.y - self.bottom

    def new_page(self) -> None:
        self.pages.append([])
        self.y = self.top
        for height, draw in self.repeat:
            self._place(height, draw)
        self.fresh = True

    def add(self, height: float, draw: Draw, keep: float = 0.0) -> None:
        """Place a block, on a new page if it (plus ``keep`` points of what must follow it on
        the same page) does not fit in what is left of this one."""
        if height + keep > self.room and not self.fresh:
            self.new_page()
        self._place(height, draw)
        self.fresh = False

    def add_at_bottom(self, height: float, draw: Draw, gap: float = 10.0) -> None:
        """Place a block against the bottom of the last page (on a new page if needed)."""
        self.repeat = []
        if height + gap > self.room and not self.fresh:
            self.new_page()
        self.pages[-1].append((self.bottom + height, draw))
        self.y = self.bottom
        self.fresh = False

    def _place(self, height: float, draw: Draw) -> None:
        self.pages[-1].append((self.y, draw))
        self.y -= height


def _write(
    path: Path,
    title: str,
    subject: str,
    footer: str,
    pages: Sequence[Sequence[tuple[float, Draw]]],
    chrome: Callable[[Canvas, int], None],
) -> int:
    """Draw the laid-out pages (``chrome`` draws a page's header, given its number), add the
    footers and write the file; returns the number of pages."""
    footer = fit_text(footer, REGULAR, 7.5, CONTENT_W - 90)
    total = len(pages)
    buf = io.BytesIO()
    with _RENDER_LOCK:
        # Binary (Flate only) content streams: reportlab's ASCII85 wrapping is pure Python
        # without rl_accel and makes the files a quarter larger. The setting is global, read
        # as streams are made; the lock keeps concurrent renders from seeing each other's.
        a85 = rl_config.useA85
        rl_config.useA85 = 0
        try:
            c = Canvas(buf, pagesize=LETTER, invariant=1, pageCompression=1)
            c.setTitle(title)
            c.setSubject(subject)
            c.setAuthor("oms")
            c.setCreator("oms pipelines.lib.documents")
            for number, blocks in enumerate(pages, 1):
                chrome(c, number)
                for y, draw in blocks:
                    draw(c, y)
                c.setStrokeGray(RULE)
                c.setLineWidth(0.5)
                c.line(LEFT, FOOTER_RULE_Y, RIGHT, FOOTER_RULE_Y)
                c.setFillGray(MUTED)
                c.setFont(REGULAR, 7.5)
                c.drawString(LEFT, FOOTER_TEXT_Y, footer)
                c.setFillGray(0)
                c.setFont(BOLD, 8)
                c.drawRightString(RIGHT, FOOTER_TEXT_Y, f"page {number} of {total}")
                c.showPage()
            c.save()
        finally:
            rl_config.useA85 = a85
    write_atomically(Path(path), lambda tmp: tmp.write_bytes(buf.getvalue()))
    return total


def _rule(c: Canvas, y: float, width: float = 0.4, gray: float = RULE) -> None:
    c.setStrokeGray(gray)
    c.setLineWidth(width)
    c.line(LEFT, y, RIGHT, y)


def _checkbox(c: Canvas, col: _Col, base: float) -> None:
    """An empty box to tick, centred in ``col``, sitting on the baseline ``base``."""
    c.setStrokeGray(0)
    c.setLineWidth(0.7)
    c.rect(col.x + (col.width - 9) / 2, base - 1.5, 9, 9, stroke=1, fill=0)


# --------------------------------------------------------------------------------------------
# Tables


class _Col:
    """A table column: heading, left edge, width, alignment; text sits ``PAD`` inside."""

    __slots__ = ("align", "inner", "label", "text_x", "width", "x")

    def __init__(self, label: str, x: float, width: float, align: str = "left") -> None:
        self.label = fit_text(label, BOLD, 7.5, width - PAD)
        self.x = x
        self.width = width
        self.align = align
        self.inner = width - 2 * PAD
        self.text_x = x + PAD if align == "left" else x + width - PAD


def _columns(*spec: tuple[str, float, str]) -> list[_Col]:
    """Columns side by side from the left margin; their widths fill the content width."""
    x = LEFT
    cols = []
    for label, width, align in spec:
        cols.append(_Col(label, x, width, align))
        x += width
    assert abs(x - RIGHT) < 0.01, "column widths must add up to the content width"
    return cols


LABELS_H = 16.0


def _labels(cols: Sequence[_Col]) -> tuple[float, Draw]:
    """The column headings as a block (small grey capitals, ruled underneath)."""
    texts = _Texts()
    for col in cols:
        texts.cell(col, BOLD, 7.5, 9.5, col.label)

    def draw(c: Canvas, y: float) -> None:
        c.setFillGray(MUTED)
        texts.draw(c, y)
        c.setFillGray(0)
        _rule(c, y - 13, 0.6, 0.3)

    return LABELS_H, draw


def _spacer(height: float) -> tuple[float, Draw]:
    return height, lambda c, y: None


# --------------------------------------------------------------------------------------------
# Pick and pull lists

PICK_COLUMNS = _columns(
    ("#", 28, "right"),
    ("BIN", 108, "left"),
    ("SKU", 108, "left"),
    ("PRODUCT", 134, "left"),
    ("QTY", 34, "right"),
    ("TOTES", 108, "left"),
    ("OK", 20, "left"),
)
PULL_COLUMNS = _columns(
    ("#", 28, "right"),
    ("BIN", 100, "left"),
    ("SKU", 100, "left"),
    ("PRODUCT", 114, "left"),
    ("QTY", 30, "right"),
    ("TOTE", 36, "left"),
    ("ORDER / REASON", 112, "left"),
    ("OK", 20, "left"),
)

#: Height of the wave header (title, wave, warehouse, cutoff, release, counts).
WAVE_HEADER_H = 90.0
#: Leading of 9 pt table text.
LINE = 11.0
#: From a row's top edge to its first baseline.
ROW_BASE = 12.0
#: From a row's top edge to the bottom of its bars.
ROW_BARS = ROW_BASE + 4.0 + ROW_BAR_HEIGHT
#: A row with one line of text over the bin and SKU barcodes.
ROW_H = ROW_BARS + 5.0


def _wave_header(wave: Mapping[str, Any], title: str, cols: Sequence[_Col]) -> Callable:
    """The header drawn on every page of a pick or pull list: title, wave id and its
    barcode, warehouse, cutoff, release time, counts, then the column headings."""
    wave_id = clean_text(wave.get("wave_id"))
    bar = _bar_width(wave_id, HEADER_BAR_ROOM, HEADER_BAR_MAX)
    bars_w = bar * _modules(wave_id) if bar else 0.0
    text_w = CONTENT_W - (bars_w + 12 if bar else 0)
    warehouse = " · ".join(
        s
        for s in (clean_text(wave.get("warehouse_id")), clean_text(wave.get("warehouse_name")))
        if s
    )
    texts = _Texts()
    texts.left(BOLD, 15, LEFT, 14, fit_text(clean_text(title), BOLD, 15, text_w))
    texts.left(BOLD, 12, LEFT, 31, fit_text(f"Wave {wave_id}", BOLD, 12, text_w))
    info = [
        f"Warehouse {warehouse}",
        f"Cutoff {clean_text(wave.get('cutoff'))}",
        f"Released {clean_text(wave.get('released_at'))}",
        f"{_number(wave.get('orders'))} orders · {_number(wave.get('lines'))} lines · "
        f"{_number(wave.get('units'))} units",
    ]
    for i, text in enumerate(info):
        texts.left(REGULAR, 9, LEFT, 45 + 12 * i, fit_text(text, REGULAR, 9, text_w))
    if bar:  # the wave id in words under its barcode
        hr = fit_text(wave_id, REGULAR, 8, bars_w)
        texts.centre(REGULAR, 8, RIGHT - bars_w / 2, HEADER_BAR_HEIGHT + 9, hr)
    labels = _labels(cols)[1]

    def draw(c: Canvas, number: int) -> None:
        texts.draw(c, TOP)
        if bar:
            _draw_barcode(
                c, wave_id, RIGHT - bars_w, TOP - HEADER_BAR_HEIGHT, bar, HEADER_BAR_HEIGHT
            )
        _rule(c, TOP - WAVE_HEADER_H + 4, 1.0, 0)
        labels(c, TOP - WAVE_HEADER_H)

    return draw


def _code_cell(value: str, col: _Col, font: str, size: float) -> tuple[str, float]:
    """A bin or SKU cell: its text fitted to the column, and the X of its barcode (0: none)."""
    return fit_text(value, font, size, col.inner), _bar_width(value, col.inner)


def _codes(
    texts: _Texts, row: Mapping[str, Any], c_seq: _Col, c_bin: _Col, c_sku: _Col
) -> Callable[[Canvas, float], None]:
    """The seq, bin and SKU cells of a pick or pull row; returns what draws the barcodes."""
    seq = fit_text(clean_text(row.get("seq")), REGULAR, 9, c_seq.width - PAD)
    texts.cell(c_seq, REGULAR, 9, ROW_BASE, seq)
    bin_value = clean_text(row.get("bin"))
    sku_value = clean_text(row.get("sku"))
    bin_text, bin_bar = _code_cell(bin_value, c_bin, BOLD, 10)
    sku_text, sku_bar = _code_cell(sku_value, c_sku, BOLD, 9)
    texts.left(BOLD, 10, c_bin.text_x, ROW_BASE, bin_text)
    texts.left(BOLD, 9, c_sku.text_x, ROW_BASE, sku_text)

    def draw(c: Canvas, y: float) -> None:
        if bin_bar:
            _draw_barcode(c, bin_value, c_bin.text_x, y - ROW_BARS, bin_bar, ROW_BAR_HEIGHT)
        if sku_bar:
            _draw_barcode(c, sku_value, c_sku.text_x, y - ROW_BARS, sku_bar, ROW_BAR_HEIGHT)

    return draw


def _pick_row(row: Mapping[str, Any], max_lines: int) -> tuple[float, Draw]:
    c_seq, c_bin, c_sku, c_prod, c_qty, c_totes, c_ok = PICK_COLUMNS
    texts = _Texts()
    barcodes = _codes(texts, row, c_seq, c_bin, c_sku)
    product = wrap_text(clean_text(row.get("product_name")), REGULAR, 9, c_prod.inner, 2)
    for i, line in enumerate(product):
        texts.left(REGULAR, 9, c_prod.text_x, ROW_BASE + LINE * i, line)
    qty = fit_text(_number(row.get("quantity")), BOLD, 13, c_qty.inner + PAD)
    texts.cell(c_qty, BOLD, 13, ROW_BASE + 1, qty)
    totes = ", ".join(
        f"{clean_text(t.get('tote'))}×{_number(t.get('quantity'))}" for t in row.get("totes") or ()
    )
    tote_lines = wrap_text(totes, REGULAR, 9, c_totes.inner, max_lines)
    for i, line in enumerate(tote_lines):
        texts.left(REGULAR, 9, c_totes.text_x, ROW_BASE + LINE * i, line)
    height = max(ROW_H, ROW_BASE + LINE * (len(tote_lines) - 1) + 6.0)

    def draw(c: Canvas, y: float) -> None:
        texts.draw(c, y)
        barcodes(c, y)
        _checkbox(c, c_ok, y - ROW_BASE)
        _rule(c, y - height)

    return height, draw


def _pull_row(row: Mapping[str, Any]) -> tuple[float, Draw]:
    c_seq, c_bin, c_sku, c_prod, c_qty, c_tote, c_order, c_ok = PULL_COLUMNS
    texts = _Texts()
    barcodes = _codes(texts, row, c_seq, c_bin, c_sku)
    product = wrap_text(clean_text(row.get("product_name")), REGULAR, 9, c_prod.inner, 2)
    for i, line in enumerate(product):
        texts.left(REGULAR, 9, c_prod.text_x, ROW_BASE + LINE * i, line)
    qty = fit_text(_number(row.get("quantity")), BOLD, 13, c_qty.inner + PAD)
    texts.cell(c_qty, BOLD, 13, ROW_BASE + 1, qty)
    texts.left(BOLD, 9, c_tote.text_x, ROW_BASE, fit_text(clean_text(row.get("tote")), BOLD, 9, 30))
    order = fit_text(clean_text(row.get("order_number")), BOLD, 9, c_order.inner)
    texts.left(BOLD, 9, c_order.text_x, ROW_BASE, order)
    reason = wrap_text(clean_text(row.get("reason")), OBLIQUE, 8.5, c_order.inner, 2)
    for i, line in enumerate(reason):
        texts.left(OBLIQUE, 8.5, c_order.text_x, ROW_BASE + LINE * (i + 1), line)

    def draw(c: Canvas, y: float) -> None:
        texts.draw(c, y)
        barcodes(c, y)
        _checkbox(c, c_ok, y - ROW_BASE)
        _rule(c, y - ROW_H)

    return ROW_H, draw


def _note(lines: Sequence[tuple[str, float, str]], gap: float = 6.0) -> tuple[float, Draw]:
    """Single lines of text (font, size, text) across the page, 12 pt apart."""
    texts = _Texts()
    for i, (font, size, text) in enumerate(lines):
        texts.left(font, size, LEFT, 12 + 12 * i, fit_text(text, font, size, CONTENT_W))
    return 12.0 * len(lines) + gap, texts.draw


def _wave_footer(kind: str, wave: Mapping[str, Any]) -> str:
    return (
        f"{kind} · wave {clean_text(wave.get('wave_id'))} · "
        f"{clean_text(wave.get('warehouse_id'))} {clean_text(wave.get('warehouse_name'))}"
    ).strip()


_WAVE_BODY_TOP = TOP - WAVE_HEADER_H - LABELS_H
#: Tote lines a pick row may use: as many as fit on an otherwise empty page.
_MAX_TOTE_LINES = int((_WAVE_BODY_TOP - BODY_BOTTOM - ROW_BASE - 6.0) // LINE) + 1


def render_pick_list(path: Path, wave: dict, rows: list[dict]) -> int:
    """Write the pick list of a wave to ``path``; returns the number of pages.

    ``wave``: wave_id, warehouse_id, warehouse_name, cutoff, released_at, orders, lines,
    units. ``rows``, in walk order: seq, bin, sku, product_name, quantity (units of the SKU
    at the bin for the whole wave) and totes (tote, quantity, order_number).

    Every page repeats the header (wave id with its barcode, warehouse, cutoff, release time,
    counts) and the column headings. A row shows seq, the bin and the SKU each with its
    barcode, the product name (up to two lines), the quantity, the put-to-tote split
    ("T01×2, T03×1", wrapped: the row grows to fit) and a box to tick."""
    flow = _Flow(_WAVE_BODY_TOP, _WAVE_BODY_TOP)
    for row in rows:
        flow.add(*_pick_row(row, _MAX_TOTE_LINES))
    if not rows:
        flow.add(*_note([(OBLIQUE, 9, "No lines to pick in this wave.")]))
    wave_id = clean_text(wave.get("wave_id"))
    return _write(
        path,
        title=f"Pick list — wave {wave_id}",
        subject=f"Pick list for wave {wave_id} at {clean_text(wave.get('warehouse_id'))}",
        footer=_wave_footer("Pick list", wave),
        pages=flow.pages,
        chrome=_wave_header(wave, "PICK LIST", PICK_COLUMNS),
    )


PULL_TITLE = "PULL LIST — cancelled after release"


def render_pull_list(path: Path, wave: dict, rows: list[dict]) -> int:
    """Write the pull list of a wave to ``path``: units of orders cancelled after the wave
    was released, which the picker must not pick, or must take back out of the tote and
    return to the bin. Returns the number of pages.

    ``wave`` as for ``render_pick_list``; ``rows``: seq, bin, sku, product_name, quantity,
    tote, order_number, reason. The header is the pick list's, titled ``PULL_TITLE``; a row
    shows the bin and SKU with their barcodes, the product, the quantity, the tote, the order
    number and the reason, and a box to tick."""
    flow = _Flow(_WAVE_BODY_TOP, _WAVE_BODY_TOP)
    units = sum(q for r in rows if isinstance(q := r.get("quantity"), int))
    instruction = (
        f"{len(rows):,} line(s), {units:,} unit(s) to pull. Do not pick them; if already "
        "picked, take them out of the tote and put them back in the bin."
    )
    flow.add(*_note([(BOLD, 9, instruction)]))
    for row in rows:
        flow.add(*_pull_row(row))
    if not rows:
        flow.add(*_note([(OBLIQUE, 9, "Nothing to pull in this wave.")]))
    wave_id = clean_text(wave.get("wave_id"))
    return _write(
        path,
        title=f"Pull list — wave {wave_id}",
        subject=f"Pull list (cancelled after release) for wave {wave_id}",
        footer=_wave_footer("Pull list", wave),
        pages=flow.pages,
        chrome=_wave_header(wave, PULL_TITLE, PULL_COLUMNS),
    )


# --------------------------------------------------------------------------------------------
# Packing slip

SLIP_COLUMNS = _columns(
    ("LINE", 34, "right"),
    ("SKU", 106, "left"),
    ("PRODUCT", 316, "left"),
    ("QTY", 40, "right"),
    ("PACKED", 44, "left"),
)
BACKORDER_COLUMNS = _columns(
    ("LINE", 34, "right"),
    ("SKU", 106, "left"),
    ("PRODUCT", 270, "left"),
    ("QTY", 40, "right"),
    ("PROMISED", 90, "left"),
)
PARCEL_COLUMNS = _columns(
    ("PARCEL", 80, "left"),
    ("BOX", 140, "left"),
    ("WEIGHT", 320, "left"),
)
CHANNELS = {
    "shopify": "Shopify",
    "amazon": "Amazon",
    "woocommerce": "WooCommerce",
    "phone": "Phone",
    "email": "Email",
}
SLIP_HEADER_H = 70.0
CONTINUED_HEADER_H = 26.0
ADDRESS_TO_W = 300.0
ADDRESS_FROM_X = LEFT + 320.0
RETURNS_SIZE = 8.5
RETURNS_LEADING = 10.5


def _address_lines(address: Mapping[str, Any] | None, with_company: bool) -> list[str]:
    """An address as printed lines, empty parts left out."""
    a = address or {}

    def get(key: str) -> str:
        return clean_text(a.get(key)).strip()

    region_postal = " ".join(s for s in (get("region"), get("postal_code")) if s)
    city_line = ", ".join(s for s in (get("city"), region_postal) if s)
    keys = ("name", "company", "address1", "address2") if with_company else ("name", "address1")
    lines = [get(k) for k in keys] + [city_line, get("country")]
    return [line for line in lines if line]


def _address(
    texts: _Texts, label: str, lines: Sequence[str], x: float, width: float, size: float
) -> float:
    """Add a labelled address (first line bold, each wrapped to two lines at most) to
    ``texts``; returns its height."""
    leading = size + 2.5
    texts.left(BOLD, 7.5, x, 7.5, label)
    n = 0
    for i, line in enumerate(lines):
        font = BOLD if i == 0 else REGULAR
        for part in wrap_text(line, font, size, width, 2):
            texts.left(font, size, x, 10 + size + leading * n, part)
            n += 1
    return 12.0 + leading * n


def _section(title: str, note: str | None = None) -> tuple[float, Draw]:
    texts = _Texts()
    texts.left(BOLD, 11, LEFT, 14, fit_text(title, BOLD, 11, CONTENT_W))
    if note:
        texts.left(OBLIQUE, 8.5, LEFT, 26, fit_text(note, OBLIQUE, 8.5, CONTENT_W))
    return 20.0 + (11.0 if note else 0.0), texts.draw


def _table_row(
    cells: Sequence[tuple[_Col, str, Sequence[str]]], box: _Col | None = None
) -> tuple[float, Draw]:
    """A row of text cells (column, font, lines); as tall as its tallest cell."""
    texts = _Texts()
    n = 1
    for col, font, lines in cells:
        n = max(n, len(lines))
        for i, line in enumerate(lines):
            texts.cell(col, font, 9, 11.0 + LINE * i, line)
    height = 6.0 + LINE * n

    def draw(c: Canvas, y: float) -> None:
        texts.draw(c, y)
        if box is not None:
            _checkbox(c, box, y - 11.0)
        _rule(c, y - height)

    return height, draw


def _cell(col: _Col, font: str, value: object, max_lines: int = 1) -> tuple[_Col, str, list[str]]:
    text = _number(value)
    if max_lines == 1:
        return col, font, [fit_text(text, font, 9, col.inner)]
    return col, font, wrap_text(text, font, 9, col.inner, max_lines)


def _weight(grams: object) -> str:
    if not isinstance(grams, int | float) or isinstance(grams, bool):
        return "—"
    return f"{grams / 1000:.2f} kg ({grams / 453.59237:.2f} lb)"


def _table(
    flow: _Flow,
    title: str,
    cols: Sequence[_Col],
    rows: Sequence[tuple[float, Draw]],
    note: str | None = None,
) -> None:
    """A titled table; on each further page it runs onto, its title (marked continued) and
    column headings come again."""
    labels = _labels(cols)
    first = rows[0][0] if rows else 0.0
    heading = _section(title, note)
    flow.add(*heading, keep=labels[0] + first)
    flow.add(*labels)
    flow.repeat = [_section(f"{title} (continued)"), labels]
    for row in rows:
        flow.add(*row)
    flow.repeat = []


def _document_chrome(
    head: _Texts,
    barcode: tuple[str, float, float],
    header_h: float,
    block: tuple[_Texts, float],
    continued_text: str,
) -> Callable[[Canvas, int], None]:
    """Page chrome of a packing slip or manifest: page 1 has the header, its Code 128 barcode
    (``(value, bar width, total width)``; no bars when the bar width is 0) and the address or
    summary block at its top; later pages one "(continued)" line."""
    continued = _Texts()
    continued.left(BOLD, 10, LEFT, 10, fit_text(continued_text, BOLD, 10, CONTENT_W))
    code, bar, bars_w = barcode
    texts, block_top = block

    def chrome(c: Canvas, number: int) -> None:
        if number > 1:
            continued.draw(c, TOP)
            _rule(c, TOP - 16, 1.0, 0)
            return
        head.draw(c, TOP)
        if bar:
            _draw_barcode(c, code, RIGHT - bars_w, TOP - HEADER_BAR_HEIGHT, bar, HEADER_BAR_HEIGHT)
        _rule(c, TOP - header_h + 4, 1.0, 0)
        texts.draw(c, block_top)

    return chrome


def render_packing_slip(path: Path, slip: dict) -> int:
    """Write a shipment's packing slip to ``path``; returns the number of pages.

    ``slip``: shipment_id, order_number, order_key, channel, ordered_at, ship_from (name,
    address1, city, region, postal_code, country), ship_to (name, company, address1,
    address2, city, region, postal_code, country; any may be None), lines (line_no, sku,
    product_name, quantity), backordered (line_no, sku, product_name, quantity,
    promised_date), parcels (parcel_no, box_id or None, weight_g) and returns_text (e.g.
    ``RETURNS_TEXT``; lines are kept, a blank line separates paragraphs).

    Page 1 carries the order header (order number with its barcode, channel, order date,
    shipment) and the ship-to and ship-from addresses. Then come the items (with a box to
    tick), the backordered lines with their promised dates, and the parcels; a table that
    runs onto another page repeats its title and headings there, under a one-line header.
    The return instructions, boxed, sit at the bottom of the last page."""
    order_number = clean_text(slip.get("order_number"))
    shipment_id = clean_text(slip.get("shipment_id"))
    channel = clean_text(slip.get("channel"))
    channel = CHANNELS.get(channel, channel)

    # Page 1 header: text on the left, the order number's barcode on the right.
    bar = _bar_width(order_number, HEADER_BAR_ROOM, HEADER_BAR_MAX)
    bars_w = bar * _modules(order_number) if bar else 0.0
    text_w = CONTENT_W - (bars_w + 12 if bar else 0)
    head = _Texts()
    head.left(BOLD, 16, LEFT, 14, "PACKING SLIP")
    head.left(BOLD, 12, LEFT, 31, fit_text(f"Order {order_number}", BOLD, 12, text_w))
    ordered = f"{channel} order · ordered {clean_text(slip.get('ordered_at'))}"
    head.left(REGULAR, 9, LEFT, 45, fit_text(ordered, REGULAR, 9, text_w))
    head.left(REGULAR, 9, LEFT, 57, fit_text(f"Shipment {shipment_id}", REGULAR, 9, text_w))
    if bar:
        hr = fit_text(order_number, REGULAR, 8, bars_w)
        head.centre(REGULAR, 8, RIGHT - bars_w / 2, HEADER_BAR_HEIGHT + 9, hr)
    addresses = _Texts()
    to_lines = _address_lines(slip.get("ship_to"), with_company=True)
    from_lines = _address_lines(slip.get("ship_from"), with_company=False)
    address_h = max(
        _address(addresses, "SHIP TO", to_lines, LEFT, ADDRESS_TO_W, 11),
        _address(addresses, "SHIP FROM", from_lines, ADDRESS_FROM_X, RIGHT - ADDRESS_FROM_X, 9),
    )
    address_top = TOP - SLIP_HEADER_H - 8
    chrome = _document_chrome(
        head,
        (order_number, bar, bars_w),
        SLIP_HEADER_H,
        (addresses, address_top),
        f"PACKING SLIP (continued) · Order {order_number} · Shipment {shipment_id}",
    )

    flow = _Flow(address_top - address_h - 12, TOP - CONTINUED_HEADER_H)

    # The items in this shipment.
    s_line, s_sku, s_prod, s_qty, s_box = SLIP_COLUMNS
    lines = slip.get("lines") or []
    rows = [
        _table_row(
            [
                _cell(s_line, REGULAR, line.get("line_no")),
                _cell(s_sku, BOLD, line.get("sku")),
                _cell(s_prod, REGULAR, line.get("product_name"), 2),
                _cell(s_qty, BOLD, line.get("quantity")),
            ],
            box=s_box,
        )
        for line in lines
    ] or [_table_row([(s_prod, OBLIQUE, ["No items in this shipment."])])]
    _table(flow, "Items in this shipment", SLIP_COLUMNS, rows)
    units = sum(q for line in lines if isinstance(q := line.get("quantity"), int))
    total = _Texts()
    total.right(BOLD, 9, s_qty.text_x, 11, f"{units:,} unit(s) in {len(lines):,} line(s)")
    flow.add(16.0, total.draw)

    # Backordered lines: not in this package.
    backordered = slip.get("backordered") or []
    if backordered:
        b_line, b_sku, b_prod, b_qty, b_date = BACKORDER_COLUMNS
        flow.add(*_spacer(8.0))
        rows = [
            _table_row(
                [
                    _cell(b_line, REGULAR, line.get("line_no")),
                    _cell(b_sku, BOLD, line.get("sku")),
                    _cell(b_prod, REGULAR, line.get("product_name"), 2),
                    _cell(b_qty, BOLD, line.get("quantity")),
                    _cell(b_date, BOLD, line.get("promised_date")),
                ]
            )
            for line in backordered
        ]
        note = (
            "These items are not in this package; they will follow in a separate shipment "
            "by the promised date."
        )
        _table(flow, "Backordered — will ship separately", BACKORDER_COLUMNS, rows, note)

    # Parcels.
    parcels = slip.get("parcels") or []
    if parcels:
        p_no, p_box, p_weight = PARCEL_COLUMNS
        n = len(parcels)
        flow.add(*_spacer(8.0))
        rows = [
            _table_row(
                [
                    _cell(p_no, BOLD, f"{_number(p.get('parcel_no'))} of {n}"),
                    _cell(p_box, REGULAR, p.get("box_id") or "own packaging"),
                    _cell(p_weight, REGULAR, _weight(p.get("weight_g"))),
                ]
            )
            for p in parcels
        ]
        _table(flow, f"Parcels ({n})", PARCEL_COLUMNS, rows)

    # Return instructions, boxed, at the bottom of the last page.
    returns = slip.get("returns_text")
    if returns:
        inner = CONTENT_W - 20
        text = _paragraphs(str(returns), REGULAR, RETURNS_SIZE, inner)
        cap = int((flow.top - flow.bottom - 40) // RETURNS_LEADING)
        if len(text) > cap:
            text = (*text[: cap - 1], _ellipsize(text[cap - 1], REGULAR, RETURNS_SIZE, inner))
        box_h = 30.0 + RETURNS_LEADING * len(text)
        box = _Texts()
        box.left(BOLD, 10, LEFT + 10, 16, "Returns")
        for i, line in enumerate(text):
            box.left(REGULAR, RETURNS_SIZE, LEFT + 10, 30 + RETURNS_LEADING * i, line)

        def draw_returns(c: Canvas, y: float) -> None:
            c.setStrokeGray(0)
            c.setLineWidth(0.8)
            c.rect(LEFT, y - box_h, CONTENT_W, box_h, stroke=1, fill=0)
            box.draw(c, y)

        flow.add_at_bottom(box_h, draw_returns)

    return _write(
        path,
        title=f"Packing slip — order {order_number} — shipment {shipment_id}",
        subject=f"Packing slip for {channel} order {order_number}",
        footer=f"Packing slip · order {order_number} · shipment {shipment_id}",
        pages=flow.pages,
        chrome=chrome,
    )


# --------------------------------------------------------------------------------------------
# Carrier manifest

#: The parcel table of a manifest, in 8.5 pt: wide enough for a 22-digit USPS tracking number
#: and an Amazon order number without cutting them.
MANIFEST_COLUMNS = _columns(
    ("#", 30, "right"),
    ("TRACKING NUMBER", 116, "left"),
    ("SERVICE", 66, "left"),
    ("ORDER", 98, "left"),
    ("SHIP TO", 118, "left"),
    ("KG", 40, "right"),
    ("ZONE", 26, "right"),
    ("COST", 46, "right"),
)
MANIFEST_SERVICE_COLUMNS = _columns(
    ("SERVICE", 250, "left"),
    ("PARCELS", 70, "right"),
    ("WEIGHT", 130, "right"),
    ("COST", 90, "right"),
)
MANIFEST_TITLE = "CARRIER MANIFEST"
MANIFEST_HEADER_H = 82.0
MANIFEST_SIZE = 8.5
MANIFEST_ROW_H = 15.0
MANIFEST_LEADING = 10.0
SUMMARY_X = LEFT + 300.0
SUMMARY_VALUE_X = SUMMARY_X + 80.0
SIGNATURE_H = 72.0
#: The fields of the signature block: label and width of the line to write on.
SIGNATURE_FIELDS = (("Driver signature", 250.0), ("Date/time", 130.0), ("Parcels received", 110.0))


def _money(value: object, currency: object = None) -> str:
    """A money amount with two decimals and thousands separators ("1,234.50"), followed by
    the currency code when given; "—" when missing, and as given when not a number."""
    if value is None or isinstance(value, bool):
        return "—"
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = None
    text = f"{amount:,.2f}" if amount is not None and amount.is_finite() else clean_text(value)
    code = clean_text(currency).strip()
    return f"{text} {code}" if code else text


def _kg(grams: object) -> str:
    """Grams as kilograms with two decimals ("1.25"), "—" when missing."""
    if not isinstance(grams, int | float) or isinstance(grams, bool):
        return "—"
    return f"{grams / 1000:,.2f}"


def _parcel_row(row: Mapping[str, Any], carrier: str) -> tuple[float, Draw]:
    """One parcel on the manifest: the ship-to wraps to two lines at most (the row grows),
    every other cell takes one line; anything too long is cut with "…". The service is
    printed without the carrier's name in front ("Ground" on a UPS manifest)."""
    c_seq, c_track, c_service, c_order, c_to, c_kg, c_zone, c_cost = MANIFEST_COLUMNS
    size = MANIFEST_SIZE
    service = clean_text(row.get("service"))
    if carrier and service.startswith(carrier + " "):
        service = service[len(carrier) + 1 :]
    texts = _Texts()
    ship_to = wrap_text(clean_text(row.get("ship_to")).strip(), REGULAR, size, c_to.inner, 2)
    for col, font, text in (
        (c_seq, REGULAR, _number(row.get("seq"))),
        (c_track, BOLD, clean_text(row.get("tracking_number"))),
        (c_service, REGULAR, service),
        (c_order, REGULAR, clean_text(row.get("order_number"))),
        (c_to, REGULAR, ship_to[0] if ship_to else ""),
        (c_kg, REGULAR, _kg(row.get("weight_g"))),
        (c_zone, REGULAR, _number(row.get("zone"))),
        (c_cost, REGULAR, _money(row.get("cost"))),
    ):
        texts.cell(col, font, size, 10.5, fit_text(text, font, size, col.inner))
    for i, line in enumerate(ship_to[1:], 1):
        texts.left(REGULAR, size, c_to.text_x, 10.5 + MANIFEST_LEADING * i, line)
    height = MANIFEST_ROW_H + MANIFEST_LEADING * max(0, len(ship_to) - 1)

    def draw(c: Canvas, y: float) -> None:
        texts.draw(c, y)
        _rule(c, y - height)

    return height, draw


def _signature_block(manifest_id: str, parcels: str) -> tuple[float, Draw]:
    """A box for the driver to sign at pickup: signature, date/time, parcels received."""
    box = _Texts()
    box.left(BOLD, 10, LEFT + 10, 16, "Carrier pickup")
    note = f"Received from the shipper: the parcels listed on manifest {manifest_id} ({parcels})."
    box.left(REGULAR, 8.5, LEFT + 150, 16, fit_text(note, REGULAR, 8.5, CONTENT_W - 160))
    x = LEFT + 10
    lines = []
    for label, width in SIGNATURE_FIELDS:
        box.left(BOLD, 7.5, x, SIGNATURE_H - 10, label)
        lines.append((x, width))
        x += width + 15

    def draw(c: Canvas, y: float) -> None:
        c.setStrokeGray(0)
        c.setLineWidth(0.8)
        c.rect(LEFT, y - SIGNATURE_H, CONTENT_W, SIGNATURE_H, stroke=1, fill=0)
        c.setLineWidth(0.6)
        for lx, width in lines:
            c.line(lx, y - SIGNATURE_H + 20, lx + width, y - SIGNATURE_H + 20)
        box.draw(c, y)

    return SIGNATURE_H, draw


def render_manifest(path: Path, manifest: dict, rows: list[dict]) -> int:
    """Write a carrier's end-of-day manifest to ``path``; returns the number of pages.

    ``manifest``: manifest_id, carrier, warehouse_id, warehouse_name, ship_from (name,
    address1, city, region, postal_code, country), manifest_date, cutoff, closed_at, parcels,
    weight_g, billable_weight_g, total_cost (a money string), currency and services (service,
    parcels, weight_g, cost: the per-service summary). ``rows``, one per parcel in the order
    given: seq, tracking_number, service, order_number, shipment_id, parcel_id, ship_to (one
    string), weight_g, billable_weight_g, zone and cost.

    Page 1 carries the header (manifest id with its barcode, carrier, warehouse, manifest
    date, cutoff, close time), the ship-from address, the totals (parcels, actual and
    billable weight, cost) and the per-service summary. The parcel table follows (seq,
    tracking number, service, order, ship-to, weight in kg, zone, cost), its title and
    headings repeated on every page it runs onto, under a one-line header. The box the driver
    signs at pickup (signature, date/time, parcels received) sits at the bottom of the last
    page."""
    manifest_id = clean_text(manifest.get("manifest_id"))
    carrier = clean_text(manifest.get("carrier"))
    currency = clean_text(manifest.get("currency")).strip()
    warehouse = " · ".join(
        s
        for s in (
            clean_text(manifest.get("warehouse_id")),
            clean_text(manifest.get("warehouse_name")),
        )
        if s
    )

    # Page 1 header: text on the left, the manifest id's barcode on the right.
    bar = _bar_width(manifest_id, HEADER_BAR_ROOM, HEADER_BAR_MAX)
    bars_w = bar * _modules(manifest_id) if bar else 0.0
    text_w = CONTENT_W - (bars_w + 12 if bar else 0)
    head = _Texts()
    head.left(BOLD, 16, LEFT, 14, fit_text(f"{MANIFEST_TITLE} — {carrier}", BOLD, 16, text_w))
    head.left(BOLD, 12, LEFT, 31, fit_text(f"Manifest {manifest_id}", BOLD, 12, text_w))
    info = [
        f"Carrier {carrier} · warehouse {warehouse}",
        f"Manifest date {clean_text(manifest.get('manifest_date'))} · "
        f"cutoff {clean_text(manifest.get('cutoff'))}",
        f"Closed at {clean_text(manifest.get('closed_at'))}",
    ]
    for i, text in enumerate(info):
        head.left(REGULAR, 9, LEFT, 45 + 12 * i, fit_text(text, REGULAR, 9, text_w))
    if bar:  # the manifest id in words under its barcode
        hr = fit_text(manifest_id, REGULAR, 8, bars_w)
        head.centre(REGULAR, 8, RIGHT - bars_w / 2, HEADER_BAR_HEIGHT + 9, hr)

    # Under it: the ship-from address on the left, the totals on the right.
    block = _Texts()
    from_lines = _address_lines(manifest.get("ship_from"), with_company=False)
    from_h = _address(block, "SHIP FROM", from_lines, LEFT, SUMMARY_X - LEFT - 20, 9)
    block.left(BOLD, 7.5, SUMMARY_X, 7.5, "SUMMARY")
    parcels = _number(manifest.get("parcels"))
    totals = [
        ("Parcels", parcels),
        ("Total weight", _weight(manifest.get("weight_g"))),
        ("Billable weight", _weight(manifest.get("billable_weight_g"))),
        ("Total cost", _money(manifest.get("total_cost"), currency)),
    ]
    value_w = RIGHT - SUMMARY_VALUE_X
    for i, (label, value) in enumerate(totals):
        drop = 19 + 11.5 * i
        block.left(REGULAR, 9, SUMMARY_X, drop, label)
        block.left(BOLD, 9, SUMMARY_VALUE_X, drop, fit_text(value, BOLD, 9, value_w))
    block_h = max(from_h, 12.0 + 11.5 * len(totals))
    block_top = TOP - MANIFEST_HEADER_H - 8

    chrome = _document_chrome(
        head,
        (manifest_id, bar, bars_w),
        MANIFEST_HEADER_H,
        (block, block_top),
        f"{MANIFEST_TITLE} (continued) · {carrier} · manifest {manifest_id}",
    )

    flow = _Flow(block_top - block_h - 12, TOP - CONTINUED_HEADER_H)

    # Per-service summary.
    services = manifest.get("services") or []
    if services:
        m_service, m_parcels, m_weight, m_cost = MANIFEST_SERVICE_COLUMNS
        summary = [
            _table_row(
                [
                    _cell(m_service, BOLD, s.get("service")),
                    _cell(m_parcels, REGULAR, s.get("parcels")),
                    _cell(m_weight, REGULAR, _weight(s.get("weight_g"))),
                    _cell(m_cost, REGULAR, _money(s.get("cost"), currency)),
                ]
            )
            for s in services
        ]
        _table(flow, "By service", MANIFEST_SERVICE_COLUMNS, summary)
        flow.add(*_spacer(8.0))

    # The parcels, in the order given.
    parcel_rows = [_parcel_row(row, carrier) for row in rows] or [
        _table_row([(MANIFEST_COLUMNS[1], OBLIQUE, ["No parcels on this manifest."])])
    ]
    note = "Weights are actual weights in kg"
    note += f"; costs in {currency}." if currency else "."
    _table(flow, f"Parcels ({len(rows):,})", MANIFEST_COLUMNS, parcel_rows, note)

    # Signed by the driver at pickup, at the bottom of the last page.
    flow.add_at_bottom(*_signature_block(manifest_id, f"{parcels} parcel(s)"))

    footer = " · ".join(s for s in ("Carrier manifest", manifest_id, carrier, warehouse) if s)
    return _write(
        path,
        title=f"Carrier manifest — {carrier} — {manifest_id}",
        subject=f"{carrier} end-of-day manifest {manifest_id} for {warehouse}",
        footer=footer,
        pages=flow.pages,
        chrome=chrome,
    )
