"""Files the platform writes for people and other systems: written whole or not at all, and
CSV cells a spreadsheet cannot mistake for formulas (:func:`spreadsheet_safe_frame`)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar, cast

import polars as pl

T = TypeVar("T")


def write_atomically(path: Path, write: Callable[[Path], T]) -> T:
    """Call ``write(tmp)`` with a temporary path beside ``path``, then rename it over
    ``path``: a reader sees the old file or the new one, never half of one, and a failure
    leaves no temporary file behind. Returns what ``write`` returned."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        value = write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return value


def link_new(tmp: Path, names: Iterable[Path]) -> Path:
    """Give the complete file ``tmp`` the first of ``names`` that is free, and return it.

    A hard link fails rather than replace a file that appeared meanwhile, so nobody's file is
    ever overwritten; on a file system without hard links, a rename of a name just seen free.
    ``tmp`` is gone afterwards. Raises FileExistsError when every name is taken.
    """
    try:
        for target in names:
            if target.exists():
                continue
            try:
                os.link(tmp, target)
            except FileExistsError:
                continue
            except OSError:  # no hard links here
                os.rename(tmp, target)
            return target
        raise FileExistsError(f"no free name for {tmp.name} in {tmp.parent}")
    finally:
        tmp.unlink(missing_ok=True)


def write_new(folder: Path, body: bytes, names: Iterable[str]) -> Path:
    """Write ``body`` as a new file in ``folder`` under the first free of ``names``: written
    whole under a hidden name first (``.``: never read by the batch), then :func:`link_new`."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".new-{os.getpid()}-{threading.get_ident()}-{time.time_ns()}.tmp"
    with tmp.open("wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    return link_new(tmp, (folder / name for name in names))


# --- CSV/formula injection ------------------------------------------------------------------

#: First characters that make a spreadsheet (Excel, LibreOffice Calc, Google Sheets) read a
#: cell as a formula, or strip what follows into one: OWASP "CSV Injection" (= + - @, tab,
#: carriage return) and the null character of OWASP ASVS 5.0 requirement 1.2.10.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")
_TRIGGER_PATTERN = r"^([=+@\t\r\x00-])"


def spreadsheet_safe(value: T) -> T:
    """``value`` as it may go into a CSV cell someone opens in a spreadsheet.

    The rule (OWASP's): text whose first character is one of :data:`FORMULA_TRIGGERS`
    (``=``, ``+``, ``-``, ``@``, tab, carriage return, null) gets a single quote in front, so
    the spreadsheet shows it as text instead of running it: ``=HYPERLINK("http://x","y")``
    becomes ``'=HYPERLINK("http://x","y")``. Everything else is returned unchanged: other
    text, the empty string, None, and every non-text value; so numbers (int, Decimal,
    float) stay numbers, a negative amount included.

    Text that merely looks like a number is text all the same: ``"-3.50"`` becomes
    ``'-3.50``, and ``"+1 212 555 0100"`` becomes ``'+1 212 555 0100``. That is deliberate.
    Deciding which strings are "only a number" means a second parser whose idea of a number
    has to match every spreadsheet in every locale (``-3,50``, ``-1E5``, ``-3.50%``), and any
    gap in it is a way round the escape; the quote costs nothing but a visible ``'``. An
    amount that must stay a number for the reader therefore goes to the writer as a number
    (a Decimal column, never text cast from one): this helper leaves it alone, and a
    spreadsheet adds it up.

    What the quote does not cover, and need not: a separator or quote inside the text is
    the CSV writer's business (both ``csv`` and Polars quote such cells, so nothing can start
    a new cell mid-value); and a file the platform's own batch reads back as input (the ops
    pages' inbox files, the channel exports the test-data generator writes) is not escaped,
    since its reader would keep the quote as part of the value.
    """
    if isinstance(value, str) and value[:1] in FORMULA_TRIGGERS:
        return cast(T, "'" + value)
    return value


def spreadsheet_safe_expr(text: pl.Expr) -> pl.Expr:
    """:func:`spreadsheet_safe` as a Polars expression over a String column (null stays
    null); one regex replace, no Python per row."""
    return text.str.replace(_TRIGGER_PATTERN, "'${1}")


def spreadsheet_safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with :func:`spreadsheet_safe` applied to every text column (String,
    Categorical and Enum, the last two written back as String), vectorised; number, date,
    time and boolean columns are not touched, so their cells stay what they were. Call it
    on the frame just before ``write_csv``."""
    text = [
        name
        for name, dtype in frame.schema.items()
        if dtype == pl.String or dtype == pl.Categorical or dtype == pl.Enum
    ]
    if not text:
        return frame
    return frame.with_columns(
        spreadsheet_safe_expr(pl.col(name).cast(pl.String)).alias(name) for name in text
    )
