"""Erasure in the input files: the customer's personal fields blanked in what was read.

Runs after the warehouse is blanked (pipelines.lib.erasure). Every file under
``data/archive`` and ``data/rejected`` is first searched, as bytes, for the erased orders'
ids (external order id, order number, RMA number; a tracking file for their parcels'
tracking numbers); only a file that mentions one is read.
So an archive of hundreds of large files costs one fast pass over the bytes and the parsing
of the few files that hold the customer.

What a file becomes:

- **Channel exports** (Shopify CSV, Amazon TSV, WooCommerce JSON/JSON Lines, direct CSV/JSON):
  the records of the erased orders get their personal fields blanked (and the postal code cut
  to its prefix), each layout's fields as its adapter module declares them
  (``PERSONAL_FIELDS``, ``ORDER_ID_FIELDS``). Every other byte is kept: other records,
  header, quoting, delimiter, line endings, encoding, BOM and JSON layout. Before the file is
  replaced, the rewritten copy is read with the real adapter and must give the same orders,
  amounts and lines as the original (personal fields aside); if not, the original stays and
  the action is ``needs_review``.
- **Mail** (``.eml`` orders): the sender, recipients and body are the customer's, so a mail
  whose attachment holds an erased order is removed (``removed``).
- **Returns, inspections and hold-decision files**: the rows of the erased orders lose their
  free text (``note``; a decision's corrected personal value). Stock files hold no customer
  data and are left alone.
- **Carrier tracking files** (flat CSV, EasyPost tracker JSON): a parcel's scans carry the
  place it was delivered to, so the records of the erased orders' parcels (found by tracking
  number, which the parcels keep) lose the city and postal code of every scan: a one-field
  location (``"Tustin, CA 92780, US"``) becomes its region and country (``"CA, US"``), or
  blank when it does not parse as city, region, postal code and country; a tracker's
  ``tracking_location`` keeps ``state`` and ``country``. A scan message is kept only when
  every word of it is a carrier's status word (:data:`CARRIER_WORDS`: "Delivered, Front
  Door/Porch"); anything else ("Delivered, left with J SMITH") is blanked, as are a
  tracker's ``signed_by`` and its carrier detail's destination. Before the file is
  replaced, the rewritten copy is read with the real tracking reader and must give the same
  events (tracking number, carrier, status, detail, time); else ``needs_review``. (A blanked
  message changes the event's key, which hashes the message; the pipeline does not read
  archived files again.)
- **Rejected files**: the same rewrite when the layout is recognised and the rows split
  cleanly; otherwise the file is left as it is and reported ``needs_review``.

Files are replaced atomically (temporary file, then rename). Idempotent: a file whose erased
records have nothing left to blank is not written and **not reported**, so a second run
returns no action for it; a run that stopped half way is completed by running again. A file
left for review is reported again by every run until someone has dealt with it.
"""

from __future__ import annotations

import json
import logging
import mmap
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType

import duckdb
import polars as pl

from pipelines.lib.channels import SNIFF_BYTES, UnreadableFile, detect
from pipelines.lib.channels import direct as direct_layout
from pipelines.lib.channels.common import UTF8_BOM
from pipelines.lib.files import write_atomically
from pipelines.lib.intake import (
    TRACKING_LAYOUT,
    email_attachments,
    is_email,
    other_stage_layout,
)
from pipelines.lib.privacy import PERSONAL_DECISION_FIELDS, PERSONAL_ORDER_FIELDS, FileAction
from pipelines.lib.schema import ORDERS, PARCELS, RETURNS, SHIPMENTS
from pipelines.lib.tracking_events import read_tracking_file
from pipelines.lib.warehouse import frame

log = logging.getLogger(__name__)

#: Order columns compared before and after a rewrite: all but the personal ones (and the
#: postal code, which becomes its prefix).
_CHANGEABLE = frozenset((*PERSONAL_ORDER_FIELDS, "ship_postal_code"))
#: Longest list of order keys written into an action's detail.
_DETAIL_KEYS = 5
#: Layouts of later stages that hold customer words, and the kind recorded for them.
_STAGE_KINDS = {
    "return requests": "returns_file",
    "return inspections": "inspections_file",
    "hold decisions": "decisions_file",
}


@dataclass(frozen=True)
class ErasedOrder:
    """An order whose customer is erased, as stored (its personal fields already blank).

    Files are matched by ``channel`` and the ids; ``source_format`` is carried for the record.
    """

    order_key: str
    channel: str
    source_format: str | None
    external_order_id: str
    order_number: str | None


class _NeedsReview(Exception):
    """The file mentions the customer but cannot be rewritten safely; the reason says why."""


@dataclass
class _Erasure:
    """What the file steps know about the erased orders."""

    orders: list[ErasedOrder]
    #: RMA numbers of their returns (inspection files name only those).
    rmas: frozenset[str]
    #: Order number -> [(channel, order_key)] of every stored order with an erased number, so
    #: a return naming only a number is matched as the returns stage matched it.
    by_number: dict[str, list[tuple[str, str]]]
    #: Ship-to country of each erased order (a corrected postal code is cut by it).
    countries: dict[str, str | None]
    #: Tracking number -> order key of every parcel of the erased orders (carrier files name
    #: parcels, never orders).
    parcels: dict[str, str]
    keys: frozenset[str] = field(init=False)
    needle: re.Pattern[bytes] | None = field(init=False)
    parcel_needle: re.Pattern[bytes] | None = field(init=False)

    def __post_init__(self) -> None:
        self.keys = frozenset(o.order_key for o in self.orders)
        ids = {o.external_order_id for o in self.orders}
        ids |= {o.order_number for o in self.orders if o.order_number}
        ids |= self.rmas
        self.needle = _tokens(ids)
        self.parcel_needle = _tokens(self.parcels)

    def mentioned(self, data: bytes) -> bool:
        return self.needle is not None and self.needle.search(data) is not None

    def parcel_mentioned(self, data: bytes) -> bool:
        return self.parcel_needle is not None and self.parcel_needle.search(data) is not None


def _tokens(ids: Iterable[str | None]) -> re.Pattern[bytes] | None:
    """A pattern finding any of ``ids`` as a whole token (order 4714 is not in SKU-047140),
    or None when there are none."""
    wanted = {i.strip() for i in ids if i and i.strip()}
    if not wanted:
        return None
    return re.compile(
        rb"(?<![0-9A-Za-z])(?:"
        + b"|".join(re.escape(i.encode()) for i in sorted(wanted, key=len, reverse=True))
        + rb")(?![0-9A-Za-z])"
    )


def scrub_archives(
    con: duckdb.DuckDBPyConnection,
    *,
    data_dir: Path,
    orders: list[ErasedOrder],
    erasure_id: str,
    now: datetime,
) -> list[FileAction]:
    """Blank the erased orders' personal fields in the archived and rejected input files.

    Returns one action per file changed (``rewritten``, ``removed``) or left for a person
    (``needs_review``); files that needed nothing, including those an earlier run already
    scrubbed, give none. ``con`` is the live warehouse (read only here: returns and order
    numbers); ``erasure_id`` and ``now`` go into the log for the audit trail.
    """
    if not orders:
        return []
    erasure = _load(con, orders)
    data_dir = Path(data_dir)
    actions: list[FileAction] = []
    for path, rejected in _input_files(data_dir):
        try:
            action = _scrub_file(path, rejected, erasure)
        except OSError as exc:  # one unreadable file must not hide the others
            action = FileAction(
                str(path), "needs_review", _kind(rejected, "file"), f"could not be read: {exc}"
            )
        if action is not None:
            log.info("erasure %s at %s: %s %s", erasure_id, now.isoformat(), action.action, path)
            actions.append(action)
    return actions


def _load(con: duckdb.DuckDBPyConnection, orders: list[ErasedOrder]) -> _Erasure:
    keys = sorted({o.order_key for o in orders})
    numbers = sorted({o.order_number for o in orders if o.order_number})
    wanted_numbers = set(numbers)
    con.register("erased_keys", pl.DataFrame({"key": keys}, schema={"key": pl.String}))
    con.register("erased_numbers", pl.DataFrame({"key": numbers}, schema={"key": pl.String}))
    try:
        rmas = frame(
            con,
            f"SELECT DISTINCT rma_number FROM {RETURNS.qualified} "
            "WHERE rma_number IS NOT NULL AND order_key IN (SELECT key FROM erased_keys)",
        )
        stored = frame(
            con,
            f"SELECT order_key, order_number, channel, ship_country FROM {ORDERS.qualified} "
            "WHERE order_number IN (SELECT key FROM erased_numbers) "
            "OR order_key IN (SELECT key FROM erased_keys)",
        )
        parcels = frame(
            con,
            f"SELECT DISTINCT p.tracking_number, s.order_key FROM {PARCELS.qualified} p "
            f"JOIN {SHIPMENTS.qualified} s USING (shipment_id) "
            "WHERE p.tracking_number IS NOT NULL "
            "AND s.order_key IN (SELECT key FROM erased_keys)",
        )
    finally:
        con.unregister("erased_keys")
        con.unregister("erased_numbers")
    by_number: dict[str, list[tuple[str, str]]] = {}
    countries: dict[str, str | None] = {}
    for row in stored.iter_rows(named=True):
        if row["order_number"] in wanted_numbers:
            by_number.setdefault(row["order_number"], []).append((row["channel"], row["order_key"]))
        countries[row["order_key"]] = row["ship_country"]
    return _Erasure(
        orders=list(orders),
        rmas=frozenset(rmas.get_column("rma_number").to_list()),
        by_number=by_number,
        countries=countries,
        parcels={n.strip(): k for n, k in parcels.iter_rows() if n.strip()},
    )


def _input_files(data_dir: Path) -> Iterator[tuple[Path, bool]]:
    """(path, is it rejected) of every input file kept: archive and rejected folders."""
    for folder, rejected in ((data_dir / "archive", False), (data_dir / "rejected", True)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            # Hidden names are temporary files; a reason file is the platform's own words.
            if (
                path.is_file()
                and not path.name.startswith(".")
                and not (rejected and path.name.endswith(".reason.txt"))
            ):
                yield path, rejected


def _kind(rejected: bool, kind: str) -> str:
    return "rejected_file" if rejected else kind


# --- one file ---------------------------------------------------------------------------------


def _scrub_file(path: Path, rejected: bool, erasure: _Erasure) -> FileAction | None:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if is_email(path, head):
        return _scrub_mail(path, rejected, erasure, head)
    stage = other_stage_layout(head)
    if stage == TRACKING_LAYOUT:
        return _scrub_tracking(path, rejected, erasure)
    if not _file_mentions(path, erasure.needle):
        return None
    shown = str(path)
    if stage is not None:
        kind = _STAGE_KINDS.get(stage)
        if kind is None:  # stock files: warehouse data only
            return None
        kind = _kind(rejected, kind)
        plan = _stage_plan(stage, erasure)
        module = None
    else:
        kind = _kind(rejected, "channel_export")
        try:
            adapter = detect(head)
        except UnreadableFile as exc:
            return FileAction(shown, "needs_review", kind, _review_detail(path, erasure, exc))
        module = sys.modules[type(adapter).__module__]
        plan = _export_plan(module, erasure)
    data = path.read_bytes()
    try:
        new, touched = _rewrite(data, plan, erasure.mentioned)
        if not touched:
            return None
        if module is not None:
            _check_same_facts(path, new, rejected)
    except _NeedsReview as exc:
        return FileAction(shown, "needs_review", kind, _review_detail(path, erasure, exc))
    write_atomically(path, lambda tmp: tmp.write_bytes(new))
    keys = sorted(touched)
    more = f" and {len(keys) - _DETAIL_KEYS} more" if len(keys) > _DETAIL_KEYS else ""
    what = (
        "personal fields blanked in the records of"
        if module is not None
        else "the customer's free text blanked in the rows of"
    )
    return FileAction(
        shown,
        "rewritten",
        kind,
        f"{what} {', '.join(keys[:_DETAIL_KEYS])}{more}; every other value unchanged",
    )


def _file_mentions(path: Path, needle: re.Pattern[bytes] | None) -> bool:
    """The cheap test: do the file's bytes name an erased order or parcel (whole-token
    match)?"""
    if needle is None or path.stat().st_size == 0:
        return False
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as view:
        return needle.search(view) is not None


def _review_detail(path: Path, erasure: _Erasure, why: object) -> str:
    return (
        f"mentions an erased order ({', '.join(sorted(erasure.keys)[:_DETAIL_KEYS])}) but "
        f"could not be rewritten safely ({why}); left unchanged: blank the customer's "
        f"name, contact and address in it by hand, or delete it, then run the erasure again"
    )


# --- what to blank ----------------------------------------------------------------------------

#: A row plan: given a record's values (by lower-cased field name; absent fields None),
#: the order key it belongs to and the new values of the fields to change (by lower-cased
#: name), or None when the record is not an erased order's.
Plan = Callable[[Callable[[str], str | None]], tuple[str, dict[str, str]] | None]


def _norm_postal(code: str) -> str:
    return re.sub(r"[\s\-]", "", code).upper()


_UK_FULL = re.compile(r"[A-Z0-9]{2,4}[0-9][A-Z]{2}")


def postal_prefix(code: str | None, country: str | None) -> str | None:
    """A postal code cut as the warehouse cuts it (privacy.postal_prefix_sql): the outward
    code in the UK, else the first three characters; a spreadsheet's leading apostrophe is
    kept. Cutting a prefix again leaves it as it is, so a second erasure changes nothing."""
    if code is None or not code.strip():
        return code
    text = code.strip()
    mark = "'" if text.startswith("'") else ""
    norm = _norm_postal(text.removeprefix("'"))
    if (country or "").strip().upper() in ("GB", "UK"):
        cut = norm[:-3] if _UK_FULL.fullmatch(norm) or len(norm) > 7 else norm
    else:
        cut = norm[:3]
    return mark + cut


def _personal_changes(
    spec: dict[str, str | None], get: Callable[[str], str | None]
) -> dict[str, str]:
    """New values for the personal fields of one record (only those that change)."""
    changes: dict[str, str] = {}
    for name, country in spec.items():
        value = get(name.lower())
        if value is None or value == "":
            continue
        new = "" if country is None else postal_prefix(value, get(country.lower())) or ""
        if new != value:
            changes[name.lower()] = new
    return changes


def _layout_channels(module: ModuleType) -> frozenset[str]:
    if hasattr(module, "CHANNEL"):
        return frozenset({module.CHANNEL})
    return frozenset(getattr(module, "CHANNELS", {}).values())


def _export_plan(module: ModuleType, erasure: _Erasure) -> Plan:
    """Records of a channel export: matched by the layout's order-id field to the erased
    orders of its channels; their ``PERSONAL_FIELDS`` blanked."""
    id_fields: dict[str, str] = module.ORDER_ID_FIELDS
    spec: dict[str, str | None] = module.PERSONAL_FIELDS
    channels = _layout_channels(module)
    wanted: dict[tuple[str, str], list[ErasedOrder]] = {}
    for order in erasure.orders:
        if order.channel in channels:
            for stored in set(id_fields.values()):
                value = getattr(order, stored)
                if value:
                    wanted.setdefault((stored, value.strip()), []).append(order)
    direct = module is direct_layout

    def plan(get: Callable[[str], str | None]) -> tuple[str, dict[str, str]] | None:
        for name, stored in id_fields.items():
            value = get(name.lower())
            if value is None:
                continue
            matches = wanted.get((stored, value.strip()), [])
            if direct:  # the order key is channel + order id (blank channel: phone)
                said = (get("channel") or "").strip().lower()
                channel = direct_layout.CHANNELS.get(said, said) or direct_layout.DEFAULT_CHANNEL
                matches = [o for o in matches if o.channel == channel]
            if not matches:
                return None
            return matches[0].order_key, _personal_changes(spec, get)
        return None

    return plan


def _stage_plan(stage: str, erasure: _Erasure) -> Plan:
    def request(get: Callable[[str], str | None]) -> tuple[str, dict[str, str]] | None:
        key = (get("order_key") or "").strip()
        if key:
            owner = key if key in erasure.keys else None
        else:  # as the returns stage resolves a bare number (returns._resolve)
            number = (get("order_number") or "").strip()
            channel = (get("channel") or "").strip().lower()
            found = [k for c, k in erasure.by_number.get(number, []) if not channel or c == channel]
            owner = found[0] if len(found) == 1 and found[0] in erasure.keys else None
        if owner is None:
            return None
        return owner, _blank(get, ("note",))

    def inspection(get: Callable[[str], str | None]) -> tuple[str, dict[str, str]] | None:
        rma = (get("rma_number") or "").strip()
        if rma not in erasure.rmas:
            return None
        return rma, _blank(get, ("note",))

    def decision(get: Callable[[str], str | None]) -> tuple[str, dict[str, str]] | None:
        key = (get("order_key") or "").strip()
        if key not in erasure.keys:
            return None
        changes = _blank(get, ("note",))
        name = (get("field") or "").strip()
        value = get("value")
        if name in PERSONAL_DECISION_FIELDS and value:
            new = (
                postal_prefix(value, erasure.countries.get(key)) or ""
                if name == "ship_postal_code"
                else ""
            )
            if new != value:
                changes["value"] = new
        return key, changes

    return {"return requests": request, "return inspections": inspection}.get(stage, decision)


def _blank(get: Callable[[str], str | None], names: Iterable[str]) -> dict[str, str]:
    return {name: "" for name in names if get(name)}


# --- rewriting --------------------------------------------------------------------------------


def _rewrite(data: bytes, plan: Plan, mentions: Callable[[bytes], bool]) -> tuple[bytes, set[str]]:
    """(new bytes, order keys whose records changed) of a delimited or JSON file. Only
    records that ``mentions`` an erased id are split into fields and given to ``plan``."""
    bom = UTF8_BOM if data.startswith(UTF8_BOM) else b""
    body = data[len(bom) :]
    if b"\x00" in body:
        raise _NeedsReview("binary content")
    encoding = _encoding(body)
    if body.lstrip()[:1] in (b"{", b"["):
        new, touched = _rewrite_json(body, encoding, plan, mentions)
    else:
        first = body.split(b"\n", 1)[0]
        delimited = _Delimited(b"\t" if b"\t" in first else b",")
        new, touched = delimited.rewrite(body, encoding, plan, mentions)
    return bom + new, touched


def _encoding(body: bytes) -> str:
    """UTF-8, else Windows-1252 (as the adapters read text): rewritten fields keep it."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


@dataclass
class _Delimited:
    """CSV (RFC 4180 quoting) when the separator is a comma; Amazon's tab-separated flat
    files have no quoting at all (a ``"`` is plain text there)."""

    sep: bytes

    @property
    def quoting(self) -> bool:
        return self.sep == b","

    def records(self, body: bytes) -> list[bytes]:
        """The records with their line endings; a quoted field's newlines stay inside."""
        lines = body.splitlines(keepends=True)
        if not self.quoting:
            return lines
        out: list[bytes] = []
        pending: list[bytes] = []
        quotes = 0
        for line in lines:
            pending.append(line)
            quotes += line.count(b'"')
            if quotes % 2 == 0:
                out.append(b"".join(pending))
                pending, quotes = [], 0
        if pending:
            raise _NeedsReview("a quoted field is never closed")
        return out

    def split(self, record: bytes) -> tuple[list[bytes], bytes]:
        """(raw fields, line ending) of one record."""
        content = record.rstrip(b"\r\n")
        ending = record[len(content) :]
        if not self.quoting:
            return content.split(self.sep), ending
        fields = []
        pos = 0
        while True:
            match = _CSV_FIELD.match(content, pos)
            assert match is not None  # the pattern matches the empty string
            fields.append(match.group())
            pos = match.end()
            if pos >= len(content):
                break
            if content[pos : pos + 1] != self.sep:
                raise _NeedsReview("a quote in the middle of a field")
            pos += 1
            if pos == len(content):
                fields.append(b"")
                break
        return fields, ending

    def value(self, raw: bytes, encoding: str) -> str:
        if self.quoting and len(raw) >= 2 and raw[:1] == b'"' and raw[-1:] == b'"':
            raw = raw[1:-1].replace(b'""', b'"')
        return raw.decode(encoding, errors="replace")

    def encode(self, value: str, was: bytes, encoding: str) -> bytes:
        raw = value.encode(encoding)
        if not self.quoting:
            if b"\t" in raw or b"\n" in raw or b"\r" in raw:
                raise _NeedsReview("a new value needs quoting, which the layout has not")
            return raw
        if was[:1] == b'"' or any(c in raw for c in (b",", b'"', b"\n", b"\r")):
            return b'"' + raw.replace(b'"', b'""') + b'"'
        return raw

    def rewrite(
        self, body: bytes, encoding: str, plan: Plan, mentions: Callable[[bytes], bool]
    ) -> tuple[bytes, set[str]]:
        records = self.records(body)
        start = next((i for i, r in enumerate(records) if r.strip()), None)
        if start is None:
            return body, set()
        header_fields, _ = self.split(records[start])
        names = [self.value(f, encoding).strip().lower() for f in header_fields]
        index: dict[str, int] = {}
        for i, name in enumerate(names):
            index.setdefault(name, i)
        touched: set[str] = set()
        changed = False
        for number in range(start + 1, len(records)):
            record = records[number]
            if not mentions(record):  # every row of an order names it: others can't match
                continue
            fields, ending = self.split(record)

            def get(name: str, fields: list[bytes] = fields) -> str | None:
                at = index.get(name)
                return None if at is None or at >= len(fields) else self.value(fields[at], encoding)

            found = plan(get)
            if found is None:
                continue
            key, changes = found
            if not changes:
                continue
            if len(fields) != len(header_fields):
                raise _NeedsReview(
                    f"record {number - start} of {key} has {len(fields)} fields where the "
                    f"header has {len(header_fields)}"
                )
            for name, new in changes.items():
                at = index[name]
                fields[at] = self.encode(new, fields[at], encoding)
            records[number] = self.sep.join(fields) + ending
            touched.add(key)
            changed = True
        return (b"".join(records) if changed else body), touched


_CSV_FIELD = re.compile(rb'(?:[^",]++|"[^"]*+")*+')


# --- JSON -------------------------------------------------------------------------------------

_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
#: The next bracket outside strings (strings and other text are skipped inside the regex
#: engine, so a large value is measured without a Python step per string).
_BRACKET = re.compile(rb'(?:"(?:[^"\\]++|\\.)*+"|[^"\[\]{}]++)*+([\[\]{}])', re.DOTALL)
_SCALAR = re.compile(rb"[^\s,\]}:]+")
_SPACE = re.compile(rb"\s*")
#: Keys of a document that holds a list of records (direct ``{"orders": []}``, returns
#: ``{"returns": []}``).
_LIST_KEYS = ("orders", "returns")


class _Json:
    """Positions of values in JSON text, so that a value can be replaced in place and every
    other byte stays as it was (the standard parser gives values, not where they are)."""

    def __init__(self, data: bytes):
        self.data = data
        self._members: dict[int, dict[str, tuple[int, int]]] = {}

    def space(self, at: int) -> int:
        match = _SPACE.match(self.data, at)
        return match.end() if match else at

    def end(self, at: int) -> int:
        """Where the value starting at ``at`` ends."""
        first = self.data[at : at + 1]
        if first == b'"':
            match = _STRING.match(self.data, at)
            if match is None:
                raise _NeedsReview(f"an unterminated JSON string at byte {at}")
            return match.end()
        if first in (b"{", b"["):
            depth = 0
            for token in _BRACKET.finditer(self.data, at):
                depth += 1 if token.group(1) in (b"{", b"[") else -1
                if depth == 0:
                    return token.end()
            raise _NeedsReview(f"truncated JSON: the value at byte {at} never closes")
        match = _SCALAR.match(self.data, at)
        if match is None:
            raise _NeedsReview(f"not JSON at byte {at}")
        return match.end()

    def members(self, at: int) -> dict[str, tuple[int, int]]:
        """Key -> (start, end) of each member of the object at ``at`` (read once)."""
        if at not in self._members:
            self._members[at] = self._read_members(at)
        return self._members[at]

    def _read_members(self, at: int) -> dict[str, tuple[int, int]]:
        data, out = self.data, {}
        at = self.space(at + 1)
        if data[at : at + 1] == b"}":
            return out
        while True:
            key = _STRING.match(data, at)
            if key is None:
                raise _NeedsReview(f"an object key expected at byte {at}")
            at = self.space(key.end())
            if data[at : at + 1] != b":":
                raise _NeedsReview(f"':' expected at byte {at}")
            start = self.space(at + 1)
            stop = self.end(start)
            out[json.loads(key.group())] = (start, stop)
            at = self.space(stop)
            mark = data[at : at + 1]
            if mark == b"}":
                return out
            if mark != b",":
                raise _NeedsReview(f"',' or '}}' expected at byte {at}")
            at = self.space(at + 1)

    def items(self, at: int) -> list[tuple[int, int]]:
        """(start, end) of each item of the array at ``at``."""
        data, out = self.data, []
        at = self.space(at + 1)
        if data[at : at + 1] == b"]":
            return out
        while True:
            stop = self.end(at)
            out.append((at, stop))
            at = self.space(stop)
            mark = data[at : at + 1]
            if mark == b"]":
                return out
            if mark != b",":
                raise _NeedsReview(f"',' or ']' expected at byte {at}")
            at = self.space(at + 1)

    def value(self, span: tuple[int, int]) -> object:
        return json.loads(self.data[span[0] : span[1]])

    def records(
        self, span: tuple[int, int], mentions: Callable[[bytes], bool]
    ) -> Iterator[tuple[int, int]]:
        """The record objects in the value at ``span`` that ``mentions`` an erased id: the
        items of an array, the list under ``orders``/``returns``, the ``data`` of an Airbyte
        record, or the object itself. Values that mention none are not looked into."""
        if not mentions(self.data[span[0] : span[1]]):
            return
        first = self.data[span[0] : span[0] + 1]
        if first == b"[":
            for item in self.items(span[0]):
                yield from self.records(item, mentions)
        elif first == b"{":
            members = self.members(span[0])
            for key in _LIST_KEYS:
                inner = members.get(key)
                if inner and self.data[inner[0] : inner[0] + 1] == b"[":
                    yield from self.records(inner, mentions)
                    return
            if "stream" in members and "data" in members:
                if self.value(members["stream"]) == "orders":
                    yield members["data"]
                return
            yield span

    def find(self, record: tuple[int, int], path: str) -> tuple[int, int] | None:
        """Span of the value at a dotted ``path`` in the record object, or None."""
        span: tuple[int, int] | None = record
        for key in path.split("."):
            if span is None or self.data[span[0] : span[0] + 1] != b"{":
                return None
            span = self.members(span[0]).get(key)
        return span


def _json_text(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_values(doc: _Json, mentions: Callable[[bytes], bool]) -> list[tuple[int, int]]:
    """Spans of the document's top-level values: the one value, or the JSON Lines that
    ``mentions`` an erased id."""
    body = doc.data
    start = doc.space(0)
    stop = doc.end(start)
    if doc.space(stop) >= len(body):
        return [(start, stop)]
    values = []  # more after the first value: JSON Lines
    at = 0
    for line in body.splitlines(keepends=True):
        if mentions(line):  # one record per line: the others are not parsed at all
            first = doc.space(at)
            values.append((first, doc.end(first)))
        at += len(line)
    return values


def _json_replacement(new: str | None, was: bytes, encoding: str) -> bytes:
    """JSON text of a new value: ``null`` for None (or for "" where the old value was no
    string); non-ASCII escaped only where the old value was all ASCII."""
    if new is None or (new == "" and was[:1] != b'"'):
        return b"null"
    return json.dumps(new, ensure_ascii=not was.isascii()).encode(encoding)


def _apply_edits(body: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(body)
    for begin, end, text in sorted(edits, reverse=True):
        out[begin:end] = text
    return bytes(out)


def _rewrite_json(
    body: bytes, encoding: str, plan: Plan, mentions: Callable[[bytes], bool]
) -> tuple[bytes, set[str]]:
    doc = _Json(body)
    edits: list[tuple[int, int, bytes]] = []
    touched: set[str] = set()
    for value in _json_values(doc, mentions):
        for record in doc.records(value, mentions):
            if body[record[0] : record[0] + 1] != b"{":
                continue
            cache: dict[str, str | None] = {}

            def get(path: str, record: tuple[int, int] = record, cache=cache) -> str | None:
                if path not in cache:
                    span = doc.find(record, path)
                    cache[path] = None if span is None else _json_text(doc.value(span))
                return cache[path]

            found = plan(get)
            if found is None or not found[1]:
                continue
            key, changes = found
            for path, new in changes.items():
                span = doc.find(record, path)
                if span is None:
                    continue
                was = body[span[0] : span[1]]
                edits.append((span[0], span[1], _json_replacement(new, was, encoding)))
            touched.add(key)
    if not edits:
        return body, set()
    return _apply_edits(body, edits), touched


# --- checks -----------------------------------------------------------------------------------


def _facts(path: Path, name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The orders (personal columns aside) and lines the real adapter reads from a file."""
    with path.open("rb") as fh:
        adapter = detect(fh.read(SNIFF_BYTES))
    batches = list(adapter.parse(path, name))
    orders = pl.concat([b.orders for b in batches], how="vertical_relaxed")
    lines = pl.concat([b.lines for b in batches], how="vertical_relaxed")
    return orders.drop(*(c for c in orders.columns if c in _CHANGEABLE)), lines


def _check_same_facts(path: Path, new: bytes, rejected: bool) -> None:
    """Refuse a rewrite the real adapter reads differently (order ids, amounts, SKUs,
    quantities)."""
    _check_reads_the_same(
        path,
        new,
        rejected,
        lambda p: _facts(p, path.name),
        "the rewritten file would read as different orders or lines",
    )


def _check_reads_the_same(
    path: Path,
    new: bytes,
    rejected: bool,
    read: Callable[[Path], tuple[pl.DataFrame, ...]],
    differs: str,
) -> None:
    """Refuse ``new`` unless ``read`` gives the same frames for it as for the file. A
    rejected file the reader cannot read at all is checked only by its structure (what
    _Delimited and _Json enforce)."""
    try:
        before = read(path)
    except Exception as exc:
        if rejected:
            return
        raise _NeedsReview(f"the archived file no longer reads: {exc}") from exc
    scratch = path.with_name(f".{path.name}.erasure-check")
    try:
        scratch.write_bytes(new)
        try:
            after = read(scratch)
        except Exception as exc:
            raise _NeedsReview(f"the rewritten file would not read: {exc}") from exc
    finally:
        scratch.unlink(missing_ok=True)
    if not all(b.equals(a) for b, a in zip(before, after, strict=True)):
        raise _NeedsReview(differs)


# --- carrier tracking files -------------------------------------------------------------------

_CARRIER_WORDS = """
    a access accepted arrival arrived at attempted available awaiting be business carrier
    could created customs day delay delayed delivered delivery departed destination door
    electronic en exception expected facility fedex for from front has hub in information
    item label left local location mailbox no not notice of office on origin out package
    parcel picked pickup point porch post processed processing ready reached receiver received
    regional return returned returning route scan sender sent shipment shipper shipping sort
    sorting the through to today transit up ups usps vehicle yet
"""
#: Words of carriers' scan messages (those of the demo's generator among them). A message of
#: an erased parcel made of these alone says what happened to the parcel, never who took it
#: ("Delivered, Front Door/Porch"), and is kept; with any other word — a name, "by", "with",
#: a number — it is blanked ("Delivered, left with J SMITH"). Deliberately no "by", "with"
#: or "signed": those introduce a person.
CARRIER_WORDS = frozenset(_CARRIER_WORDS.split())
#: Columns of a flat tracking file blanked in an erased parcel's rows when the file has them
#: (the reader needs only ``location``; other carriers' exports add these).
_TRACKING_BLANK_COLUMNS = ("city", "zip", "postal_code", "signed_by")
#: What the check compares: the events the real reader gives, message and location aside.
_EVENT_FACTS = (
    "tracking_number",
    "carrier",
    "status",
    "raw_status",
    "status_detail",
    "occurred_at",
)

_POSTAL = r"(?=[A-Z0-9 \-]*[0-9])[A-Z0-9][A-Z0-9 \-]{1,9}"
_POSTAL_CODE = re.compile(_POSTAL)
_REGION = re.compile(rf"([A-Z]{{2,3}})(?:\s+{_POSTAL})?")
_COUNTRY = re.compile(r"[A-Z]{2}")


def carrier_words_only(message: str) -> bool:
    """Is every word of ``message`` one of :data:`CARRIER_WORDS` (case aside)?"""
    return all(word in CARRIER_WORDS for word in re.findall(r"[^\W_]+", message.lower()))


def coarse_location(text: str) -> str:
    """A scan location cut to its region and country: ``"Tustin, CA 92780, US"`` and
    ``"Tustin, CA, 92780, US"`` (the reader's form) become ``"CA, US"``.

    Parsed from the end: a two-letter country, then the region as two or three capitals,
    alone or followed by the postal code (or with the postal code as its own part after
    it); what stands before the region (city, street) is dropped. What does not parse so
    keeps only its country, or becomes blank: a location we cannot read is not kept. The
    result parses to itself, so a second erasure changes nothing.
    """
    parts = [part.strip() for part in text.split(",") if part.strip()]
    country = parts.pop() if parts and _COUNTRY.fullmatch(parts[-1]) else None
    region = None
    if parts:
        match = _REGION.fullmatch(parts[-1])
        if match is None and len(parts) > 1 and _POSTAL_CODE.fullmatch(parts[-1]):
            match = _REGION.fullmatch(parts[-2])
        region = match.group(1) if match else None
    return ", ".join(part for part in (region, country) if part)


def _scrub_tracking(path: Path, rejected: bool, erasure: _Erasure) -> FileAction | None:
    """A carrier tracking file: the scans of the erased orders' parcels lose the place of
    delivery and any message that is more than the carrier's status words."""
    if not _file_mentions(path, erasure.parcel_needle):
        return None
    kind = _kind(rejected, "tracking_file")
    data = path.read_bytes()
    try:
        new, touched = _rewrite_tracking(data, erasure)
        if not touched:
            return None
        _check_reads_the_same(
            path, new, rejected, _tracking_events, "the rewritten file would read as other events"
        )
    except _NeedsReview as exc:
        return FileAction(str(path), "needs_review", kind, _review_detail(path, erasure, exc))
    write_atomically(path, lambda tmp: tmp.write_bytes(new))
    keys = sorted(touched)
    more = f" and {len(keys) - _DETAIL_KEYS} more" if len(keys) > _DETAIL_KEYS else ""
    return FileAction(
        str(path),
        "rewritten",
        kind,
        f"scan places cut to region and country, other than status words blanked, for the "
        f"parcels of {', '.join(keys[:_DETAIL_KEYS])}{more}; every other record unchanged",
    )


def _tracking_events(path: Path) -> tuple[pl.DataFrame]:
    events = read_tracking_file(path).select(_EVENT_FACTS)
    # A blanked message changes an event's key, so two scans that differed only by message
    # read as one: the events are compared as a set.
    return (events.unique().sort(_EVENT_FACTS, nulls_last=True),)


def _rewrite_tracking(data: bytes, erasure: _Erasure) -> tuple[bytes, set[str]]:
    """(new bytes, order keys whose parcels' scans changed) of a flat CSV or tracker JSON
    file. Only records naming an erased parcel's tracking number are looked into."""
    bom = UTF8_BOM if data.startswith(UTF8_BOM) else b""
    body = data[len(bom) :]
    if b"\x00" in body:
        raise _NeedsReview("binary content")
    encoding = _encoding(body)
    if body.lstrip()[:1] in (b"{", b"["):
        new, touched = _rewrite_trackers(body, encoding, erasure)
    else:
        new, touched = _Delimited(b",").rewrite(
            body, encoding, _tracking_plan(erasure), erasure.parcel_mentioned
        )
    return bom + new, touched


def _tracking_plan(erasure: _Erasure) -> Plan:
    """Rows of a flat tracking file: matched by tracking number to the erased parcels."""

    def plan(get: Callable[[str], str | None]) -> tuple[str, dict[str, str]] | None:
        owner = erasure.parcels.get((get("tracking_number") or "").strip())
        if owner is None:
            return None
        changes = {name: "" for name in _TRACKING_BLANK_COLUMNS if (get(name) or "").strip()}
        location = get("location")
        if location and location.strip() and coarse_location(location) != location:
            changes["location"] = coarse_location(location)
        message = get("message")
        if message and message.strip() and not carrier_words_only(message):
            changes["message"] = ""
        return owner, changes

    return plan


def _rewrite_trackers(body: bytes, encoding: str, erasure: _Erasure) -> tuple[bytes, set[str]]:
    """EasyPost trackers (one object, a list, or JSON Lines) of the erased parcels."""
    doc = _Json(body)
    edits: list[tuple[int, int, bytes]] = []
    touched: set[str] = set()
    for value in _json_values(doc, erasure.parcel_mentioned):
        for tracker in doc.records(value, erasure.parcel_mentioned):
            if body[tracker[0] : tracker[0] + 1] != b"{":
                continue
            code = doc.find(tracker, "tracking_code")
            number = None if code is None else _json_text(doc.value(code))
            owner = erasure.parcels.get((number or "").strip())
            if owner is None:
                continue
            for (begin, end), new in _tracker_changes(doc, tracker):
                edits.append((begin, end, _json_replacement(new, body[begin:end], encoding)))
                touched.add(owner)
    if not edits:
        return body, set()
    return _apply_edits(body, edits), touched


def _tracker_changes(
    doc: _Json, tracker: tuple[int, int]
) -> Iterator[tuple[tuple[int, int], str | None]]:
    """(span, new value; None for null) of each value of one tracker that changes: who
    signed, the destination in its carrier detail, and each scan's city, postal code and
    message (``description`` too, which carriers use as a second message)."""

    def text(span: tuple[int, int] | None) -> str | None:
        if span is None:
            return None
        if doc.data[span[0] : span[0] + 1] in (b"{", b"["):
            raise _NeedsReview(f"a place or message that is not text at byte {span[0]}")
        value = _json_text(doc.value(span))
        return value if value and value.strip() else None

    def blank(record: tuple[int, int], *paths: str):
        for path in paths:
            span = doc.find(record, path)
            if text(span) is not None:
                yield span, None

    yield from blank(tracker, "signed_by")
    detail = doc.find(tracker, "carrier_detail")
    if detail is not None and doc.data[detail[0] : detail[0] + 1] == b"{":
        yield from blank(
            detail, "destination_tracking_location.city", "destination_tracking_location.zip"
        )
        span = doc.find(detail, "destination_location")
        place = text(span)
        if place is not None and coarse_location(place) != place:
            yield span, coarse_location(place) or None
    scans = doc.find(tracker, "tracking_details")
    if scans is None or doc.data[scans[0] : scans[0] + 1] != b"[":
        return
    for scan in doc.items(scans[0]):
        if doc.data[scan[0] : scan[0] + 1] != b"{":
            continue
        yield from blank(scan, "tracking_location.city", "tracking_location.zip")
        for name in ("message", "description"):
            span = doc.find(scan, name)
            message = text(span)
            if message is not None and not carrier_words_only(message):
                yield span, None


# --- mail -------------------------------------------------------------------------------------


def _scrub_mail(path: Path, rejected: bool, erasure: _Erasure, head: bytes) -> FileAction | None:
    """An email order: removed when an attachment holds an erased email order."""
    wanted = {o.external_order_id.strip(): o for o in erasure.orders if o.channel == "email"}
    if not wanted:
        return None
    kind = _kind(rejected, "email_order")
    try:
        attachments = list(email_attachments(path))
    except Exception as exc:  # a mail the parser refuses: a person looks at it
        if erasure.mentioned(path.read_bytes()):
            return FileAction(str(path), "needs_review", kind, _review_detail(path, erasure, exc))
        return None
    found: set[str] = set()
    doubtful = None
    for _, name, payload in attachments:
        if not erasure.mentioned(payload):
            continue
        try:
            found |= _mail_orders(payload, name) & set(wanted)
        except (UnreadableFile, _NeedsReview) as exc:
            doubtful = f"attachment {name!r}: {exc}"
    if found:
        keys = ", ".join(sorted(wanted[i].order_key for i in found))
        path.unlink()
        return FileAction(
            str(path),
            "removed",
            kind,
            f"the mail that sent {keys}: its sender, recipients and text are the customer's, "
            "so the whole message is deleted (the order's facts stay in the warehouse)",
        )
    if doubtful or erasure.mentioned(path.read_bytes()):
        why = doubtful or "the erased order's id is in the message text"
        return FileAction(str(path), "needs_review", kind, _review_detail(path, erasure, why))
    return None


def _mail_orders(payload: bytes, name: str) -> set[str]:
    """External order ids of an attachment, read with the real adapter."""
    adapter = detect(payload[:SNIFF_BYTES])
    with tempfile.TemporaryDirectory(prefix="oms-erase-") as tmp:
        att = Path(tmp) / (Path(name).name or "attachment")
        att.write_bytes(payload)
        ids: set[str] = set()
        for batch in adapter.parse(att, name):
            ids |= set(batch.orders.get_column("external_order_id").to_list())
    return ids
