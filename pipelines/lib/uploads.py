"""Uploads from the ops page: check a channel export, preview it, put it in the inbox.

Nothing here imports Streamlit. A file is read from a stream into a temporary folder outside
the inbox (its size checked as it is copied, its SHA-256 computed on the way), its name
sanitised (a name with a folder path is refused), its layout detected by content and parsed
by the intake's own adapters (a dry run: nothing is written to the warehouse). An accepted
file is written into the inbox under a name starting with ``.`` (intake never reads those)
and linked to its final name, which never replaces a file already there. Its status
afterwards comes from the folders the batch moves files to: still in the inbox (pending), in
``archive/`` (processed) or in ``rejected/`` with its ``.reason.txt`` (rejected).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import tempfile
import tomllib
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import polars as pl

from pipelines.lib.channels import SNIFF_BYTES, UnreadableFile
from pipelines.lib.files import link_new
from pipelines.lib.intake import file_sha256, inbox_files, other_stage_layout, read_file
from pipelines.lib.reference import read_reference, whole_number_at_least_one

#: The ops pages' settings file in the reference folder; this module reads ``[upload]``.
OPS_SETTINGS = "ops.toml"
UPLOAD_DEFAULTS: dict[str, object] = {"max_megabytes": 200}
#: Longest file name kept, in characters and in UTF-8 bytes (file systems allow 255 bytes;
#: the archive may add ".<sha8>"). The extension is kept whole.
MAX_NAME_CHARS = 120
MAX_NAME_BYTES = 200
_CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^\w.\- ]+")
#: Folder separators (POSIX and Windows): a name holding one is refused, not shortened.
_FOLDER_PART = re.compile(r"[/\\]")
#: How many of a file's order numbers its preview lists.
ORDER_NUMBERS_SHOWN = 10
#: First bytes of common binary files, for a plainer refusal than "a NUL byte".
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive or Excel workbook (save the sheet as CSV)",
    b"\xd0\xcf\x11\xe0": "an old Excel/Office file (save the sheet as CSV)",
}


class UploadRefused(Exception):
    """The file is not taken; the message says why in plain words."""


@dataclass(frozen=True)
class UploadSettings:
    max_megabytes: int = 200

    @property
    def max_bytes(self) -> int:
        return self.max_megabytes * 1024 * 1024


def read_upload_settings(reference_dir: Path) -> UploadSettings:
    """``[upload]`` of ``ops.toml`` (a missing file or section means the defaults).

    Other sections belong to other ops pages and are not checked here; an unknown key in
    ``[upload]`` or a limit below 1 is a ValueError naming the file.
    """
    path = reference_dir / OPS_SETTINGS
    section: dict = {}
    if path.exists():
        with path.open("rb") as fh:
            section = tomllib.load(fh).get("upload", {})
    unknown = sorted(k for k in section if k not in UPLOAD_DEFAULTS)
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(f'upload.{k}' for k in unknown)}")
    values = {**UPLOAD_DEFAULTS, **section}
    limit = whole_number_at_least_one(path, "upload.max_megabytes", values["max_megabytes"])
    return UploadSettings(max_megabytes=limit)


def sanitise_name(name: str) -> str:
    """A safe inbox file name for an uploaded file's name, keeping its extension.

    A name with a folder part (``/`` or ``\\``) or that is a path segment of its own (``..``
    or ``.``) is refused with :class:`UploadRefused`: browsers send a file's base name only,
    so such a name comes from a crafted request, and saving it under another name would hide
    that. Otherwise drops control characters, characters other than letters, digits, ``.``,
    ``-``, ``_`` and spaces, runs of dots (``orders..csv`` is not a path segment: it becomes
    ``orders.csv``) and leading dots and underscores (intake skips names starting with them).
    Raises :class:`UploadRefused` when nothing usable is left.
    """
    base = unicodedata.normalize("NFC", name)
    if _FOLDER_PART.search(base) or base.strip() in (".", ".."):
        raise UploadRefused(
            f"the name {name!r} carries a folder path; upload the file under its own name"
        )
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _UNSAFE.sub("_", base.strip())
    base = re.sub(r"\.{2,}", ".", base).lstrip("._ -").rstrip(". ")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem.rstrip("._ -")
    if not stem:
        raise UploadRefused(f"file name {name!r} has nothing usable left once made safe")
    suffix = suffix[:16]
    stem = stem[: MAX_NAME_CHARS - len(suffix) - 1]
    # File systems count bytes (255), and the archive may add ".<sha8>": keep a margin.
    while len(stem.encode("utf-8")) + len(suffix.encode("utf-8")) + 1 > MAX_NAME_BYTES:
        stem = stem[:-1]
    return f"{stem}.{suffix}" if suffix else stem


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.1f} MB"


def copy_checked(source: BinaryIO, target: Path, max_bytes: int) -> tuple[int, str]:
    """Copy ``source`` to ``target``, refusing an empty stream or one over ``max_bytes``
    (stops reading at the limit). Returns (size, sha256)."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise UploadRefused(
                    f"too large: over the {_megabytes(max_bytes)} limit "
                    "(`[upload] max_megabytes` in data/reference/ops.toml)"
                )
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if size == 0:
        raise UploadRefused("empty file (0 bytes)")
    return size, digest.hexdigest()


@dataclass
class Preview:
    """What the batch would read from one uploaded file (a dry run)."""

    original_name: str
    name: str
    size: int
    sha256: str
    format: str
    channels: list[str]
    orders: int
    lines: int
    cancelled: int
    #: (currency, sum of order totals) per currency, as text with two decimals.
    totals: list[tuple[str, str]]
    #: The first :data:`ORDER_NUMBERS_SHOWN` order numbers as the channel shows them (the
    #: channel's id when it shows none), in file order, and how many more the file holds.
    order_numbers: list[str] = field(default_factory=list)
    more_order_numbers: int = 0
    problems: list[str] = field(default_factory=list)
    #: Files with the same bytes already in the inbox or the archive (relative to data/).
    identical: list[str] = field(default_factory=list)


def _refuse_unreadable(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise UploadRefused(f"wrong type: {what}, not a channel export")
    layout = other_stage_layout(head)
    if layout:
        raise UploadRefused(
            f"wrong type: a {layout} file, not a channel export; this page takes order "
            "exports only (put other inbox files in data/inbox)"
        )


def _sample(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def find_problems(
    orders: pl.DataFrame, lines: pl.DataFrame, catalogue: frozenset[str]
) -> list[str]:
    """Cheap findings on parsed rows that validation would hold: unknown SKUs, quantities
    below 1, orders without lines or without a ship-to country. (What makes a file
    unreadable, such as one order twice with different data, the adapters report.)"""
    problems = []
    if lines.height:
        unknown = lines.filter(~pl.col("sku").is_in(list(catalogue)) | pl.col("sku").is_null())
        if unknown.height:
            problems.append(
                f"{unknown.height} line(s) with a SKU not in the catalogue (will be held): "
                f"{_sample(sorted(unknown['order_key'].unique()))}"
            )
        bad_qty = lines.filter(pl.col("quantity").is_null() | (pl.col("quantity") < 1))
        if bad_qty.height:
            problems.append(
                f"{bad_qty.height} line(s) with a quantity below 1 (will be held): "
                f"{_sample(sorted(bad_qty['order_key'].unique()))}"
            )
    no_lines = orders.filter(~pl.col("order_key").is_in(lines["order_key"].unique().to_list()))
    if no_lines.height:
        problems.append(
            f"{no_lines.height} order(s) without lines: {_sample(sorted(no_lines['order_key']))}"
        )
    no_country = orders.filter(pl.col("ship_country").is_null() & (pl.col("status") != "cancelled"))
    if no_country.height:
        problems.append(
            f"{no_country.height} order(s) without a ship-to country: "
            f"{_sample(sorted(no_country['order_key']))}"
        )
    return problems


def identical_files(
    sha256: str, size: int, data_dir: Path, inbox: Path, archive: Path
) -> list[str]:
    """Files with these bytes already waiting in the inbox or in the archive (paths relative
    to ``data_dir``); only files of the same size are hashed."""
    candidates = list(inbox_files(inbox))
    if archive.is_dir():
        candidates += sorted(p for p in archive.rglob("*") if p.is_file())
    found = []
    for path in candidates:
        if path.stat().st_size == size and file_sha256(path) == sha256:
            try:
                found.append(str(path.relative_to(data_dir)))
            except ValueError:
                found.append(str(path))
    return found


def preview_upload(
    source: BinaryIO,
    original_name: str,
    *,
    limits: UploadSettings,
    data_dir: Path,
    inbox: Path,
    archive: Path,
    reference_dir: Path,
) -> Preview:
    """Check and dry-run one uploaded file; raises :class:`UploadRefused` with the reason.

    The file is copied to a temporary folder outside the inbox and parsed there with the
    intake's adapters; nothing is written to the inbox or the warehouse.
    """
    name = sanitise_name(original_name)
    try:
        with tempfile.TemporaryDirectory(prefix="oms-upload-") as tmp:
            path = Path(tmp) / name
            size, sha256 = copy_checked(source, path, limits.max_bytes)
            _refuse_unreadable(path)
            try:
                parsed = read_file(path)
            except UnreadableFile as exc:
                raise UploadRefused(f"cannot be read: {exc}") from None
    except OSError as exc:  # a full disk, say: the page says so instead of failing
        raise UploadRefused(f"could not be checked here: {exc.strerror or exc}") from None
    orders, lines = parsed.orders, parsed.lines
    catalogue = frozenset(read_reference(reference_dir, "products").get_column("sku"))
    numbers = (
        orders.select(pl.coalesce("order_number", "external_order_id"))
        .to_series()
        .drop_nulls()
        .unique(maintain_order=True)
    )
    totals = (
        orders.group_by("currency")
        .agg(pl.col("order_total").sum())
        .sort("currency", nulls_last=True)
    )
    return Preview(
        original_name=original_name,
        name=name,
        size=size,
        sha256=sha256,
        format=parsed.format,
        channels=sorted(c for c in orders["channel"].unique().to_list() if c),
        orders=orders.height,
        lines=lines.height,
        cancelled=orders.filter(pl.col("status") == "cancelled").height,
        totals=[
            (cur or "?", f"{total:,.2f}" if total is not None else "?")
            for cur, total in totals.iter_rows()
        ],
        order_numbers=numbers.head(ORDER_NUMBERS_SHOWN).to_list(),
        more_order_numbers=max(numbers.len() - ORDER_NUMBERS_SHOWN, 0),
        problems=find_problems(orders, lines, catalogue),
        identical=identical_files(sha256, size, data_dir, inbox, archive),
    )


def _inbox_names(inbox: Path, name: str) -> Iterator[Path]:
    """``name``, then ``name-2``, ``name-3``, ... in the inbox."""
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    yield inbox / name
    for n in itertools.count(2):
        yield inbox / (f"{stem}-{n}.{suffix}" if suffix else f"{stem}-{n}")


def accept_upload(
    source: BinaryIO, name: str, inbox: Path, *, sha256: str, limits: UploadSettings
) -> Path:
    """Put a previewed file into the inbox under ``name`` (or ``name-2``, ... when taken).

    The bytes are written under a hidden temporary name in the inbox, checked against the
    previewed ``sha256``, then linked to the first free name (:func:`files.link_new`, which
    never replaces a file that appeared meanwhile). Returns the inbox path.
    """
    name = sanitise_name(name)
    inbox.mkdir(parents=True, exist_ok=True)
    tmp = inbox / f".upload-{uuid.uuid4().hex}.part"
    try:
        _, digest = copy_checked(source, tmp, limits.max_bytes)
        if digest != sha256:
            raise UploadRefused("the file changed since its preview; upload it again")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return link_new(tmp, _inbox_names(inbox, name))


@dataclass
class FileStatus:
    name: str
    status: str  # pending | processed | rejected | not found
    where: str = ""
    reason: str = ""
    at: datetime | None = None


def _stored_names(name: str, sha256: str) -> tuple[str, str]:
    """The names intake gives a file in archive/ or rejected/ (see intake._free_name)."""
    stem, dot, suffix = name.partition(".")
    return name, f"{stem}.{sha256[:8]}{dot}{suffix}"


def _matches(path: Path, sha256: str) -> bool:
    return path.is_file() and file_sha256(path) == sha256


def _read_reason(path: Path) -> str:
    reason_file = path.with_name(path.name + ".reason.txt")
    if not reason_file.exists():
        return ""
    text = reason_file.read_text(encoding="utf-8", errors="replace").strip()
    prefix = f"{path.name}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime).astimezone()


def upload_status(
    name: str, sha256: str, *, inbox: Path, archive: Path, rejected: Path
) -> FileStatus:
    """Where an accepted file is now: pending in the inbox, processed (archive/<day>/) or
    rejected (with the reason the batch wrote), by its name and bytes."""
    if _matches(inbox / name, sha256):
        return FileStatus(name, "pending", "inbox", at=_mtime(inbox / name))
    names = _stored_names(name, sha256)
    for candidate in names:
        path = rejected / candidate
        if _matches(path, sha256):
            return FileStatus(
                name, "rejected", f"rejected/{candidate}", _read_reason(path), _mtime(path)
            )
    if archive.is_dir():
        for day in sorted((d for d in archive.iterdir() if d.is_dir()), reverse=True):
            for candidate in names:
                if _matches(day / candidate, sha256):
                    path = day / candidate
                    return FileStatus(
                        name, "processed", f"archive/{day.name}/{candidate}", at=_mtime(path)
                    )
    return FileStatus(name, "not found")


def recent_files(
    *, inbox: Path, archive: Path, rejected: Path, limit: int = 50
) -> list[FileStatus]:
    """The latest files in the inbox, the archive and rejected/, newest first."""
    found = [FileStatus(p.name, "pending", "inbox", at=_mtime(p)) for p in inbox_files(inbox)]
    if rejected.is_dir():
        found += [
            FileStatus(p.name, "rejected", f"rejected/{p.name}", _read_reason(p), _mtime(p))
            for p in rejected.iterdir()
            if p.is_file() and not p.name.endswith(".reason.txt")
        ]
    if archive.is_dir():
        for day in sorted((d for d in archive.iterdir() if d.is_dir()), reverse=True):
            found += [
                FileStatus(p.name, "processed", f"archive/{day.name}/{p.name}", at=_mtime(p))
                for p in day.iterdir()
                if p.is_file()
            ]
            if len(found) >= limit:
                break
    found.sort(key=lambda f: f.at or datetime.min.astimezone(), reverse=True)
    return found[:limit]
