"""Parsing helpers the channel adapters share: bytes and text, CSV chunks, money, timestamps,
vocabularies and the checks that turn bad input into a specific :class:`UnreadableFile`.

Everything here works on whole Polars columns; nothing loops over rows except the error paths
that locate a problem for the rejection reason. Cell values are never interpreted beyond the
parsing a column asks for: a cell such as ``=cmd|' /C calc'!A0`` stays exactly that string
(escaping formula-like text on re-export is the exporter's job).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import polars as pl

from pipelines.lib.channels.base import UnreadableFile

try:  # orjson comes with the Dagster stack; the standard library reads the same JSON
    import orjson

    _json_loads = orjson.loads
    _JSONDecodeError: type[ValueError] = orjson.JSONDecodeError
except ImportError:  # pragma: no cover
    import json

    _json_loads = json.loads
    _JSONDecodeError = json.JSONDecodeError

UTF8_BOM = b"\xef\xbb\xbf"

#: Size of the pieces a large CSV is read in; each piece ends on a record boundary.
CSV_CHUNK_BYTES = 16 * 1024 * 1024

#: Column holding the 1-based data record number (the header is not counted) while parsing.
RECORD = "__record"

MONEY_TYPE = pl.Decimal(18, 2)

#: Free-text shipping method names → service level. Used where a channel names the method in
#: words (Shopify "Shipping Method", WooCommerce ``shipping_lines[].method_id/method_title``);
#: the keywords are the ones carriers and shop plug-ins put in method names ("UPS Next Day
#: Air", "FedEx Priority Overnight", "Express", "2-Day Shipping"). Levels are tried in this
#: order and the first that matches a whole word wins; no match (including "2-4 Day Delivery",
#: "Flat Rate", "Free shipping") is ``standard``.
SHIPPING_METHOD_KEYWORDS: dict[str, tuple[str, ...]] = {
    "overnight": (
        "overnight",
        "next day",
        "next-day",
        "nextday",
        "next business day",
        "same day",
        "same-day",
        "1 day",
        "1-day",
        "one day",
        "one-day",
        "24h",
        "24 hour",
        "24-hour",
    ),
    "expedited": (
        "express",
        "expedited",
        "priority",
        "2 day",
        "2-day",
        "two day",
        "two-day",
        "second day",
        "2nd day",
        "rush",
    ),
}

#: Flag spellings found in the channels' files (Shopify ``true``/``false`` and ``yes``/``no``,
#: Amazon ``true``/``false``, the direct template ``true``/``false``). Anything else is null.
BOOLEAN_WORDS: dict[str, bool] = {
    "true": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "no": False,
    "n": False,
    "0": False,
}


# --- bytes and text ---------------------------------------------------------------------------


def read_input(path: Path) -> bytes:
    """The file's bytes; an empty (or whitespace-only) file is unreadable."""
    data = Path(path).read_bytes()
    require_content(data)
    return data


_NON_BLANK = re.compile(rb"[^\s]")


def require_content(data: bytes) -> None:
    body = data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data
    if not body:
        raise UnreadableFile("empty file: it has no content", byte=0)
    if not has_content(body):
        raise UnreadableFile("empty file: it holds only blank lines", byte=0)


def has_content(data: bytes) -> bool:
    """True when ``data`` has a non-whitespace byte (without copying it)."""
    return _NON_BLANK.search(data) is not None


def reject_binary(data: bytes, offset: int = 0) -> None:
    """Exports are text: a NUL byte means a binary file (or UTF-16, which no channel sends)."""
    at = data.find(b"\x00")
    if at >= 0:
        raise UnreadableFile(
            "binary content: a NUL byte where text was expected (not a text export)",
            byte=offset + at,
        )


def decode_text(data: bytes, offset: int = 0) -> str:
    """Text of ``data``: UTF-8 (a BOM is dropped), else Windows-1252.

    Some channels (Amazon reports for some regions, CSVs saved from Excel) deliver
    Windows-1252; text that is neither raises with the offending byte.
    """
    reject_binary(data, offset)
    skip = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data[skip:].decode("cp1252")
    except UnicodeDecodeError as exc:
        bad = data[skip + exc.start]
        raise UnreadableFile(
            f"undecodable text: byte 0x{bad:02x} is neither UTF-8 nor Windows-1252",
            byte=offset + skip + exc.start,
        ) from None


def utf8_bytes(data: bytes, offset: int = 0) -> bytes:
    """``data`` as UTF-8 without BOM (re-encoded from Windows-1252 when it is that)."""
    reject_binary(data, offset)
    skip = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
    body = data[skip:]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return decode_text(data, offset).encode("utf-8")
    return body


def head_text(head: bytes) -> str:
    """Best-effort text of a file's first bytes, for sniffing only."""
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    return head.decode("utf-8", errors="replace")


def header_fields(head: bytes, delimiter: str) -> list[str]:
    """The first line of ``head`` split as a CSV header (names stripped); [] if none."""
    text = head_text(head)
    line = text.split("\n", 1)[0].rstrip("\r")
    if not line.strip():
        return []
    if delimiter == "\t":
        return [f.strip() for f in line.split("\t")]
    try:
        return [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]
    except (csv.Error, StopIteration):
        return []


def delimiter_hint(names: Sequence[str], expected: str) -> str:
    """A note for a header that was split on the wrong delimiter (one wide column)."""
    if len(names) != 1:
        return ""
    for sep, label in ((";", "semicolons"), ("\t", "tabs"), (",", "commas"), ("|", "pipes")):
        if sep != expected and sep in names[0]:
            want = {",": "commas", "\t": "tabs"}[expected]
            return f" (wrong delimiter: the header is separated by {label}, expected {want})"
    return ""


def require_columns(names: Sequence[str], required: Sequence[str], expected_sep: str) -> None:
    missing = [c for c in required if c not in names]
    if missing:
        raise UnreadableFile(
            "missing required column(s): "
            + ", ".join(missing)
            + delimiter_hint(names, expected_sep),
            line=1,
        )


# --- CSV reading --------------------------------------------------------------------------------


def _record_end(buf: bytes, quotes_before: int) -> tuple[int, int]:
    """(index just past the last record-ending newline in ``buf`` or 0 when there is none,
    number of quote characters before that index).

    In RFC 4180 CSV a newline ends a record exactly when the number of quote characters
    before it is even (escaped quotes come in pairs), so a quoted field with newlines is
    never cut in two.
    """
    nl = buf.rfind(b"\n")
    total = buf.count(b'"')
    after = 0
    end = len(buf)
    while nl >= 0:
        after += buf.count(b'"', nl, end)
        if (quotes_before + total - after) % 2 == 0:
            return nl + 1, total - after
        end = nl
        nl = buf.rfind(b"\n", 0, nl)
    return 0, 0


def _split_header(data: bytes) -> tuple[bytes, bytes] | None:
    """(header record, rest) of ``data``, or None when the header record is not complete."""
    start = 0
    while True:
        nl = data.find(b"\n", start)
        if nl < 0:
            return None
        if data.count(b'"', 0, nl) % 2 == 0:
            return data[: nl + 1], data[nl + 1 :]
        start = nl + 1


def _blocks(path: Path, chunk_bytes: int) -> Iterator[tuple[bytes, bytes, int]]:
    """(header, body piece, byte offset of the piece) of a quoted CSV file.

    Pieces are about ``chunk_bytes`` long and end on record boundaries. Raises for an empty
    file and for a file with a header but no data rows.
    """
    with Path(path).open("rb") as fh:
        buf = fh.read(chunk_bytes)
        require_content(buf)
        offset = 0
        if buf.startswith(UTF8_BOM):
            buf, offset = buf[len(UTF8_BOM) :], len(UTF8_BOM)
        split = _split_header(buf)
        while split is None:
            more = fh.read(chunk_bytes)
            if not more:
                split = (buf, b"")
                break
            buf += more
            split = _split_header(buf)
        header, buf = split
        offset += len(header)
        parity = 0
        eof = False
        sent = False
        while True:
            cut, quotes = (len(buf), 0) if eof else _record_end(buf, parity)
            if cut == 0 and not eof:  # no record ends in buf yet: read on
                more = fh.read(chunk_bytes)
                eof = not more
                buf += more
                continue
            piece, buf = buf[:cut], buf[cut:]
            if has_content(piece):
                sent = True
                yield header, piece, offset
            parity = (parity + quotes) % 2
            offset += len(piece)
            if eof:
                break
            more = fh.read(chunk_bytes)
            eof = not more
            buf += more
        if not sent:
            header_lines = header.count(b"\n") + (not header.endswith(b"\n"))
            raise UnreadableFile(
                "header only: the file has a header row but no data rows",
                line=header_lines + 1,
            )


def _line_at(path: Path, offset: int) -> int:
    """1-based line number of byte ``offset`` (slow; for rejection reasons)."""
    with Path(path).open("rb") as fh:
        return fh.read(offset).count(b"\n") + 1


def csv_header(path: Path, separator: str) -> list[str]:
    """Column names of the CSV at ``path``; an empty or binary file is unreadable."""
    with Path(path).open("rb") as fh:
        head = fh.read(1024 * 1024)
    require_content(head)
    reject_binary(head)
    return header_fields(head, separator)


def iter_csv_frames(
    path: Path,
    *,
    columns: Sequence[str],
    separator: str = ",",
    chunk_bytes: int | None = None,
) -> Iterator[pl.DataFrame]:
    """The (RFC 4180) CSV at ``path`` as frames of strings, one per record-aligned piece.

    Each frame has the wanted ``columns`` that the header has, plus :data:`RECORD` (the
    1-based data record number, header not counted; see :func:`record_line`).
    Empty cells (also quoted ``""``) are null; blank lines are dropped. Raises
    :class:`UnreadableFile` for an empty file, a header without rows, NUL bytes,
    undecodable text and malformed CSV (with the line).
    """
    record = 1
    for header, piece, offset in _blocks(path, chunk_bytes or CSV_CHUNK_BYTES):
        body = utf8_bytes(piece, offset)
        head = utf8_bytes(header, 0)
        names = header_fields(head, separator)
        wanted = [c for c in columns if c in names]
        try:
            df = pl.read_csv(
                head + body,
                separator=separator,
                infer_schema=False,
                columns=wanted or None,
                null_values=[""],
                row_index_name=RECORD,
                row_index_offset=record,
                raise_if_empty=False,
            )
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
            reason, at = locate_csv_problem(
                body.decode("utf-8"), separator, len(names), _line_at(path, offset)
            )
            raise UnreadableFile(reason, line=at) from exc
        record += df.height
        yield drop_blank_rows(df)


def record_line(path: Path, record: int, *, separator: str = ",") -> int:
    """Physical line on which data record ``record`` starts (slow; for rejection reasons)."""
    text = decode_text(Path(path).read_bytes())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    try:
        next(reader)
        line = reader.line_num
        for n, _ in enumerate(reader, start=1):
            if n == record:
                return line + 1
            line = reader.line_num
    except (csv.Error, StopIteration):
        return 1
    return 1


def drop_blank_rows(df: pl.DataFrame) -> pl.DataFrame:
    """Drop the all-null rows that blank lines give (whitespace-only counts as blank)."""
    strings = [c for c in df.columns if c != RECORD]
    if not strings:
        return df
    lead = pl.col(strings[0])
    if not df.select((lead.is_null() | (lead.str.strip_chars() == "")).any()).item():
        return df
    blank = pl.all_horizontal((pl.col(c).str.strip_chars() == "").fill_null(True) for c in strings)
    return df.filter(~blank)


def locate_csv_problem(
    text: str, delimiter: str, n_fields: int, first_line: int
) -> tuple[str, int]:
    """(reason, line) of the first malformed record in ``text`` (the slow, exact path)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        for row in reader:
            if len(row) > n_fields:
                return (
                    f"malformed row: {len(row)} fields where the header has {n_fields}",
                    first_line + start - 1,
                )
            start = reader.line_num + 1
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            return (
                "malformed CSV: a quoted field is never closed (its record starts here)",
                first_line + start - 1,
            )
        return f"malformed CSV: {exc}", first_line + reader.line_num - 1
    return "malformed CSV: a quoted field is never closed", first_line + start - 1


# --- value parsing ------------------------------------------------------------------------------


def money(expr: pl.Expr, *, decimal_comma: bool = False) -> pl.Expr:
    """Money text (``14997.00``, ``18``, ``-10.00``) → Decimal(18,2); blank → null.

    Unparseable text also becomes null; :func:`check_parsed` turns that into a rejection.
    The result keeps the input column's name.
    """
    text = expr.cast(pl.String).str.strip_chars()
    if decimal_comma:
        text = (
            pl.when(~text.str.contains(r"^-?\d+,\d{1,2}$"))
            .then(text)
            .otherwise(text.str.replace(",", ".", literal=True))
        )
    return pl.when(text != "").then(text).cast(MONEY_TYPE, strict=False)


def integer(expr: pl.Expr) -> pl.Expr:
    """Whole-number text → Int64 (``2`` and ``2.0`` accepted); blank or other text → null."""
    text = expr.cast(pl.String).str.strip_chars().str.replace(r"\.0+$", "")
    return text.cast(pl.Int64, strict=False)


def boolean(expr: pl.Expr) -> pl.Expr:
    """Flag text (see :data:`BOOLEAN_WORDS`) → Boolean; anything else → null."""
    return (
        expr.cast(pl.String)
        .str.strip_chars()
        .str.to_lowercase()
        .replace_strict(BOOLEAN_WORDS, default=None, return_dtype=pl.Boolean)
    )


def vocabulary(expr: pl.Expr, table: Mapping[str, str], default: str) -> pl.Expr:
    """Map a channel's value through one of the documented tables (keys are lower case)."""
    return (
        expr.cast(pl.String)
        .str.strip_chars()
        .str.to_lowercase()
        .replace_strict(dict(table), default=default, return_dtype=pl.String)
    )


def flag_vocabulary(expr: pl.Expr, table: Mapping[str, bool], default: bool = False) -> pl.Expr:
    """Map a channel's value through a documented yes/no table (keys are lower case); blank,
    missing and unknown values are ``default``, so the result is never null."""
    return (
        expr.cast(pl.String)
        .str.strip_chars()
        .str.to_lowercase()
        .replace_strict(dict(table), default=default, return_dtype=pl.Boolean)
        .fill_null(default)
    )


def _keyword_pattern(words: Sequence[str]) -> str:
    return r"(?i)(?:^|[^0-9a-z])(?:" + "|".join(re.escape(w) for w in words) + r")(?:$|[^0-9a-z])"


def service_level_from_method(expr: pl.Expr) -> pl.Expr:
    """Service level of a free-text shipping method (see :data:`SHIPPING_METHOD_KEYWORDS`)."""
    text = expr.cast(pl.String).fill_null("")
    out = pl.when(pl.lit(False)).then(pl.lit(None, pl.String))
    for level, words in SHIPPING_METHOD_KEYWORDS.items():
        out = out.when(text.str.contains(_keyword_pattern(words))).then(pl.lit(level))
    return out.otherwise(pl.lit("standard"))


def strip_apostrophe(expr: pl.Expr) -> pl.Expr:
    """Drop the apostrophe spreadsheets put before numeric codes (``'0812`` → ``0812``)."""
    return expr.str.strip_chars().str.strip_prefix("'")


def join_nonblank(*exprs: pl.Expr, separator: str = " ") -> pl.Expr:
    """Non-blank parts joined; null when every part is blank."""
    joined = pl.concat_str(
        [
            pl.when(e.str.strip_chars() == "").then(None).otherwise(e.str.strip_chars())
            for e in exprs
        ],
        separator=separator,
        ignore_nulls=True,
    )
    return pl.when(joined == "").then(None).otherwise(joined)


_TIMESTAMP = (
    r"^\s*(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?))?"
    r"\s*(?P<tz>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$"
)


_RAW = "__ts_raw"
_REST = "__ts_rest"
_SHIFT = "__ts_shift"
_OFFSET = "__ts_offset"
_SLOW = "__ts_slow"


def _offsets(rest: pl.Series) -> pl.DataFrame:
    """For each distinct offset text (``-0500``, ``+00:00``, ``+05``, ``Z``, ``""`` for
    none): minutes east of UTC and the ``±HH:MM`` text; both null when it is no offset."""
    tz = pl.col(_REST).str.replace(":", "", literal=True)
    tz = (
        pl.when(tz.is_in(["Z", "z", "UTC", "GMT"]))
        .then(pl.lit("+0000"))
        .when(tz.str.len_chars() == 3)
        .then(tz + "00")
        .otherwise(tz)
    )
    frame = pl.DataFrame({_REST: rest.unique()}).with_columns(tz.alias("tz"))
    tz = pl.col("tz")
    hours = tz.str.slice(1, 2).cast(pl.Int64, strict=False)
    minutes = tz.str.slice(3, 2).cast(pl.Int64, strict=False)
    negative = tz.str.starts_with("-")
    valid = (
        (tz.str.len_chars() == 5)
        & (negative | tz.str.starts_with("+"))
        & (hours <= 14)
        & (minutes < 60)
    ).fill_null(False)
    sign = pl.when(negative).then(pl.lit("-")).otherwise(pl.lit("+"))
    return frame.select(
        _REST,
        pl.when(pl.col(_REST) == "")
        .then(0)
        .when(valid)
        .then(pl.when(negative).then(-1).otherwise(1) * (hours * 60 + minutes))
        .alias(_SHIFT),
        pl.when(valid)
        .then(pl.concat_str([sign, tz.str.slice(1, 2), pl.lit(":"), tz.str.slice(3, 2)]))
        .alias(_OFFSET),
    )


def _with_utc(
    df: pl.DataFrame, naive: pl.Expr, target: str, offset_target: str | None
) -> pl.DataFrame:
    """``target`` (and ``offset_target``) from a naive local time and the :data:`_REST` text."""
    df = df.join(_offsets(df[_REST]), on=_REST, how="left", maintain_order="left")
    utc = (naive - pl.duration(minutes=pl.col(_SHIFT))).dt.replace_time_zone("UTC")
    out = [utc.alias(target)]
    if offset_target:
        out.append(pl.when(utc.is_not_null()).then(pl.col(_OFFSET)).alias(offset_target))
    return df.with_columns(out).drop(_SHIFT, _OFFSET)


def add_timestamp(
    df: pl.DataFrame,
    source: str,
    target: str,
    *,
    offset_target: str | None = None,
    date_only_time: str = "00:00:00",
) -> pl.DataFrame:
    """Parse ``source`` (ISO 8601 or Shopify's ``2025-12-06 10:37:33 -0500``) into a UTC
    ``target``; ``offset_target`` gets the offset as written (``-05:00``; ``+00:00`` for
    ``Z``), null where the text had none. Text without an offset is taken as UTC. Text that
    is not a timestamp gives null (see :func:`check_parsed`).

    The common shape ``YYYY-MM-DD[T ]HH:MM:SS[offset]`` is read by slicing, and each distinct
    offset is worked out once (fast); only values of another shape (fractional seconds, no
    seconds, date only) are read again with the general pattern.
    """
    raw = pl.col(_RAW)
    df = df.with_columns(pl.col(source).cast(pl.String).str.strip_chars().alias(_RAW))
    df = df.with_columns(raw.str.slice(19).str.strip_chars().alias(_REST))
    naive = (
        pl.when(raw.str.slice(10, 1).is_in(["T", " "]))
        .then(pl.concat_str([raw.str.slice(0, 10), pl.lit(" "), raw.str.slice(11, 8)]))
        .str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us")
    )
    df = _with_utc(df, naive, target, offset_target)
    unread = (raw != "") & pl.col(target).is_null()
    if not df.select(unread.any()).item():
        return df.drop(_RAW, _REST)

    part = pl.col(_SLOW).struct.field
    slow = (
        df.filter(unread)
        .select(_RAW)
        .unique()
        .with_columns(raw.str.extract_groups(_TIMESTAMP).alias(_SLOW))
        .with_columns(part("tz").fill_null("").alias(_REST))
    )
    time = part("time").fill_null(date_only_time).str.replace(",", ".", literal=True)
    time = pl.when(time.str.len_chars() == 5).then(time + ":00").otherwise(time)
    naive = pl.concat_str([part("date"), pl.lit(" "), time]).str.to_datetime(
        "%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us"
    )
    slow_cols = [_SLOW + "_utc", *([_SLOW + "_offset"] if offset_target else [])]
    slow = _with_utc(slow, naive, slow_cols[0], slow_cols[1] if offset_target else None)
    df = df.join(slow.select(_RAW, *slow_cols), on=_RAW, how="left", maintain_order="left")
    fast = pl.col(target).is_not_null()
    out = [pl.when(fast).then(pl.col(target)).otherwise(pl.col(slow_cols[0])).alias(target)]
    if offset_target:
        out.append(
            pl.when(fast)
            .then(pl.col(offset_target))
            .otherwise(pl.col(slow_cols[1]))
            .alias(offset_target)
        )
    return df.with_columns(out).drop(_RAW, _REST, *slow_cols)


def check_parsed(
    df: pl.DataFrame,
    checks: Mapping[str, tuple[str, str]],
    *,
    describe_row,
) -> None:
    """Reject the file at the first cell that has text but did not parse.

    ``checks`` maps a parsed column to (raw column, what the raw value should be, e.g.
    "a timestamp"); ``describe_row(row) -> (where, line)`` names the record for the reason.
    Columns missing from ``df`` are skipped.
    """
    live = {p: rc for p, rc in checks.items() if p in df.columns and rc[0] in df.columns}
    if not live:
        return
    bad = df.select(
        (
            pl.col(raw).is_not_null()
            & (pl.col(raw).cast(pl.String).str.strip_chars() != "")
            & pl.col(p).is_null()
        )
        .any()
        .alias(p)
        for p, (raw, _) in live.items()
    ).row(0, named=True)
    for parsed, is_bad in bad.items():
        if not is_bad:
            continue
        raw, what = live[parsed]
        row = (
            df.filter(
                pl.col(raw).is_not_null()
                & (pl.col(raw).cast(pl.String).str.strip_chars() != "")
                & pl.col(parsed).is_null()
            )
            .head(1)
            .row(0, named=True)
        )
        where, line = describe_row(row)
        raise UnreadableFile(f"{where}: {raw} {row[raw]!r} is not {what}", line=line)


def require_values(df: pl.DataFrame, columns: Mapping[str, str], *, describe_row) -> None:
    """Reject the file at the first record where a required ``column`` is blank."""
    for column, label in columns.items():
        missing = df.filter(pl.col(column).is_null())
        if missing.height:
            where, line = describe_row(missing.row(0, named=True))
            raise UnreadableFile(f"{where}: {label} is blank", line=line)


def half_up_division(amount: pl.Expr, count: pl.Expr) -> pl.Expr:
    """``amount / count`` rounded half away from zero to the cent, exactly (integer cents)."""
    cents = (amount * 100).cast(pl.Int64)
    q = count.cast(pl.Int64)
    unit = (cents.abs() * 2 + q) // (q * 2)
    unit = pl.when(cents < 0).then(-unit).otherwise(unit)
    return pl.when(q > 0).then((unit.cast(MONEY_TYPE) * pl.lit(0.01, MONEY_TYPE)).cast(MONEY_TYPE))


FIRST_ROW = "__first"
GROUP = "__group"


def number_lines(df: pl.DataFrame, key: str) -> pl.DataFrame:
    """Add ``line_no`` (1-based position of each row among its ``key``'s rows, in file order),
    :data:`FIRST_ROW` (the row is its key's first) and :data:`GROUP` (an integer per key).

    Exports put an order's rows next to each other; that case is numbered by plain arithmetic
    over runs. Rows of one key spread over the file are numbered with a window instead.
    """
    k = pl.col(key)
    df = df.with_columns((k != k.shift(1)).fill_null(True).alias(FIRST_ROW))
    runs, distinct = df.select(pl.col(FIRST_ROW).sum(), k.n_unique()).row(0)
    if runs == distinct:
        index = pl.int_range(pl.len(), dtype=pl.Int64)
        start = pl.when(pl.col(FIRST_ROW)).then(index).forward_fill()
        return df.with_columns(
            pl.col(FIRST_ROW).cum_sum().cast(pl.Int64).set_sorted().alias(GROUP),
            (index - start + 1).cast(pl.Int32).alias("line_no"),
        )
    return df.with_columns(
        k.is_first_distinct().alias(FIRST_ROW),
        k.rank("dense").cast(pl.Int64).alias(GROUP),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over(key).alias("line_no"),
    )


def column_or_null(df: pl.DataFrame, *names: str) -> pl.Expr:
    """The first of ``names`` that ``df`` has, else a null string column."""
    for name in names:
        if name in df.columns:
            return pl.col(name)
    return pl.lit(None, pl.String)


# --- JSON ---------------------------------------------------------------------------------------


def _json_error(
    exc: ValueError, text: str, *, line_offset: int = 0, jsonl: bool = False
) -> UnreadableFile:
    pos = getattr(exc, "pos", None)
    msg = getattr(exc, "msg", str(exc))
    if pos is None:
        return UnreadableFile(f"invalid JSON: {msg}")
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    where = f"line {line_offset + line}" if jsonl else f"line {line}, column {column}"
    if pos >= len(text.rstrip()):
        return UnreadableFile(
            f"truncated JSON: the text ends before the value is complete ({where})",
            line=line_offset + line,
        )
    return UnreadableFile(f"invalid JSON at {where}: {msg}", line=line_offset + line)


def json_items(data: bytes) -> list[tuple[int, object]]:
    """The items of a JSON file as (1-based position, value).

    A JSON array gives its elements (position = index), any other single document gives
    itself (position 1), and JSON Lines give one item per non-blank line (position = line
    number). Truncated or invalid JSON raises with the line.
    """
    text_ = decode_text(data)
    try:
        doc = _json_loads(text_)
    except _JSONDecodeError as exc:
        whole = exc
    else:
        if isinstance(doc, list):
            return list(enumerate(doc, start=1))
        return [(1, doc)]
    rows = text_.split("\n")
    numbered = [(n, row) for n, row in enumerate(rows, start=1) if row.strip()]
    if len(numbered) < 2:
        raise _json_error(whole, text_)
    try:
        first = _json_loads(numbered[0][1])
    except _JSONDecodeError:
        raise _json_error(whole, text_) from None
    if not isinstance(first, dict):
        raise _json_error(whole, text_)
    items: list[tuple[int, object]] = [(numbered[0][0], first)]
    for number, row in numbered[1:]:
        try:
            items.append((number, _json_loads(row)))
        except _JSONDecodeError as exc:
            raise _json_error(exc, row, line_offset=number - 1, jsonl=True) from None
    return items


def json_first_line_object(data: bytes) -> bool:
    """True when ``data`` is JSON Lines: its first line is a whole JSON object and more
    non-blank text follows (a pretty-printed document's first line is not a whole value)."""
    end = data.find(b"\n")
    if end < 0 or not has_content(memoryview(data)[end:]):
        return False
    try:
        return isinstance(_json_loads(data[:end]), dict)
    except _JSONDecodeError:
        return False


def text(value: object) -> str | None:
    """A JSON scalar as text; null and blank strings are None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return None
    return str(value)


def money_text(value: object) -> str | None:
    """A JSON amount (string or number) as text for :func:`money`; never through a float's
    binary value: a JSON number is written back exactly as its shortest decimal form."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return format(value, "f") if "e" in repr(value) else repr(value)
    return str(value).strip() or None
