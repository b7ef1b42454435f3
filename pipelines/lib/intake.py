"""The front door: files in the inbox become canonical orders, lines and events.

Per file: hash the bytes (a file already processed is a duplicate and ingests nothing),
detect the layout by content, parse with the channel adapter, and upsert inside one
transaction. Only after the commit is the file moved to ``archive/YYYY-MM-DD/``; an
unreadable file goes to ``rejected/`` with a ``.reason.txt`` beside it and the batch goes on.
"""

from __future__ import annotations

import email
import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from pathlib import Path

import duckdb
import polars as pl

from pipelines.lib.channels import SNIFF_BYTES, ChannelAdapter, UnreadableFile, detect
from pipelines.lib.channels.base import ADAPTER_LINE_COLUMNS, ADAPTER_ORDER_COLUMNS
from pipelines.lib.privacy import PERSONAL_ORDER_FIELDS
from pipelines.lib.schema import (
    ERASURES,
    FILES,
    HOLD_DECISIONS,
    ORDER_EVENTS,
    ORDER_LINES,
    ORDERS,
)
from pipelines.lib.tracking_events import sniff as sniff_tracking
from pipelines.lib.warehouse import MEMORY_LIMIT, scalar, transaction

#: Order columns that are lineage, not content: a change in them alone is no update.
_NOT_CONTENT = {"source_file", "source_row", "source_message_id"}
_CONTENT_COLUMNS = [c for c in ADAPTER_ORDER_COLUMNS if c not in _NOT_CONTENT]
_LINE_CONTENT_COLUMNS = [
    c for c in ADAPTER_LINE_COLUMNS if c not in _NOT_CONTENT and c != "order_key"
]
_EML_HEAD = re.compile(
    rb"^(received|from|return-path|mime-version|message-id|date|subject|to|delivered-to):",
    re.IGNORECASE | re.MULTILINE,
)


#: Inbox layouts read by later stages (by their header's columns); intake leaves them alone.
OTHER_STAGE_LAYOUTS: dict[str, frozenset[str]] = {
    "stock count": frozenset({"warehouse_id", "sku", "on_hand"}),
    "stock receipts": frozenset({"warehouse_id", "sku", "quantity", "received_at"}),
    "stock adjustments": frozenset({"warehouse_id", "sku", "quantity", "adjusted_at"}),
    "hold decisions": frozenset({"order_key", "action", "decided_by"}),
    "return requests": frozenset({"return_id", "sku", "quantity", "reason", "requested_at"}),
    "return inspections": frozenset(
        {"rma_number", "sku", "quantity", "disposition", "inspected_at"}
    ),
}


#: Carrier tracking files (tracker JSON or flat CSV, told by ``tracking_events.sniff``).
TRACKING_LAYOUT = "tracking events"


#: Once we have shipped from an order, a later export calling it fulfilled (Shopify
#: ``fulfilled``, Amazon ``Shipped``, WooCommerce ``completed``) is our own shipment
#: confirmed back by the channel (docs/channel-feeds.md), not a fulfilment outside the
#: platform: the flag keeps its value.
OUR_SHIPMENT_KEEPS_FLAG = (
    "CASE WHEN o.status IN ('partially_shipped', 'shipped', 'delivered', "
    "'partially_returned', 'returned') THEN o.fulfilled_by_channel "
    "ELSE s.fulfilled_by_channel END"
)


def other_stage_layout(head: bytes) -> str | None:
    """Name of the later-stage layout ``head`` is in, or None for anything else."""
    tracking = sniff_tracking(head)
    # (An order export never carries trackers, but a WooCommerce order's meta data could
    # name a tracking code: JSON with line items stays an order file.)
    if tracking == "tracking_csv" or (tracking == "tracker_json" and b'"line_items"' not in head):
        return TRACKING_LAYOUT
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
        # Return requests in JSON: requests with lines, never an order export's line items.
        if b'"return_id"' in head and b'"lines"' in head and b'"line_items"' not in head:
            return "return requests"
        return None
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lstrip("\ufeff")
    columns = {c.strip().strip('"').lower() for c in first.split(",")}
    for name, needed in OTHER_STAGE_LAYOUTS.items():
        if needed <= columns:
            return name
    return None


@dataclass
class ParsedFile:
    """A whole file (or a batch of one) read into canonical rows, not yet written anywhere."""

    name: str
    format: str
    orders: pl.DataFrame
    lines: pl.DataFrame
    #: Order columns the file's layout has no source for (see ParsedBatch.not_carried).
    not_carried: frozenset[str] = frozenset()

    def prepared(self) -> tuple[object, object, bool]:
        """(orders, lines) as Arrow tables for DuckDB, and whether any key repeats.

        Done by the read-ahead worker, so the writing thread only writes.
        """
        repeats = bool(self.orders.get_column("order_key").is_duplicated().any()) or bool(
            self.lines.select("order_key", "line_no").is_duplicated().any()
        )
        return self.orders.to_arrow(), self.lines.to_arrow(), repeats


@dataclass
class FileOutcome:
    name: str
    file_id: str
    status: str  # processed | rejected | duplicate
    format: str | None = None
    channel: str | None = None
    orders: int = 0
    lines: int = 0
    reason: str | None = None
    stored_path: str | None = None


@dataclass
class IntakeResult:
    files: list[FileOutcome] = field(default_factory=list)
    new_orders: int = 0
    updated_orders: int = 0
    cancelled_orders: int = 0
    unchanged_orders: int = 0
    lines: int = 0
    left_for_later: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def add_counts(self, other: IntakeResult) -> None:
        """Add another result's order and line counts (a file's, once it is committed)."""
        self.new_orders += other.new_orders
        self.updated_orders += other.updated_orders
        self.cancelled_orders += other.cancelled_orders
        self.unchanged_orders += other.unchanged_orders
        self.lines += other.lines


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def inbox_files(inbox: Path) -> list[Path]:
    """Files waiting in the inbox, oldest first.

    Hidden files and files starting with ``_`` (partial uploads, generator manifests) are
    left alone.
    """
    if not inbox.is_dir():
        return []
    files = [p for p in inbox.iterdir() if p.is_file() and not p.name.startswith((".", "_"))]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def file_layout(path: Path) -> str | None:
    """The later-stage layout of an inbox file (see OTHER_STAGE_LAYOUTS), or None."""
    return other_stage_layout(_head(path))


#: The reason recorded for a file whose bytes were processed before.
DUPLICATE_REASON = "identical content was already processed; not read again"


def already_processed(con: duckdb.DuckDBPyConnection, file_id: str) -> bool:
    """True when a file with these bytes (its SHA-256) was processed before."""
    return bool(
        scalar(
            con,
            f"SELECT count(*) FROM {FILES.qualified} WHERE file_id = ? AND status = 'processed'",
            [file_id],
        )
    )


def record_stored_path(con: duckdb.DuckDBPyConnection, outcome: FileOutcome, run_id: str) -> None:
    """Note in raw.files where a file went once it was moved out of the inbox."""
    con.execute(
        f"UPDATE {FILES.qualified} SET stored_path = ? WHERE file_id = ? AND run_id = ?",
        [outcome.stored_path, outcome.file_id, run_id],
    )


def _check_readable(path: Path, head: bytes) -> None:
    if not head:
        raise UnreadableFile("empty file (0 bytes)", byte=0)
    nul = head.find(b"\x00")
    if nul >= 0:
        raise UnreadableFile(
            "binary content (a NUL byte): not a text export; save it as UTF-8 CSV/TSV/JSON",
            byte=nul,
        )


def is_email(path: Path, head: bytes) -> bool:
    return path.suffix.lower() == ".eml" or bool(_EML_HEAD.match(head))


def _concat(name: str, fmt: str, parts: list[ParsedFile]) -> ParsedFile:
    return ParsedFile(
        name=name,
        format=fmt,
        orders=pl.concat([p.orders for p in parts], how="vertical_relaxed"),
        lines=pl.concat([p.lines for p in parts], how="vertical_relaxed"),
        # A column counts as not carried only when no part carries it.
        not_carried=frozenset.intersection(*(p.not_carried for p in parts)),
    )


def _read_batches(adapter: ChannelAdapter, path: Path, source_file: str) -> Iterator[ParsedFile]:
    empty = True
    for batch in adapter.parse(path, source_file):
        empty = False
        yield ParsedFile(source_file, adapter.format, batch.orders, batch.lines, batch.not_carried)
    if empty:
        raise UnreadableFile("no orders in the file (header only?)", line=2)


def email_attachments(path: Path) -> Iterator[tuple[str, str, bytes]]:
    """(message-id, attachment name, bytes) for each attachment of an .eml message."""
    with path.open("rb") as fh:
        msg = email.message_from_binary_file(fh, policy=policy.default)
    message_id = str(msg.get("Message-ID", "")).strip() or f"<{file_sha256(path)[:32]}@inbox>"
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        if payload:
            yield message_id, part.get_filename() or "attachment", payload


def _read_email(path: Path) -> ParsedFile:
    parsed: list[ParsedFile] = []
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="oms-eml-") as tmp:
        for i, (message_id, name, payload) in enumerate(email_attachments(path), start=1):
            safe = Path(name).name or f"attachment-{i}"
            att = Path(tmp) / f"{i:03d}-{safe}"
            att.write_bytes(payload)
            source = f"{path.name}/{safe}"
            try:
                head = payload[:SNIFF_BYTES]
                _check_readable(att, head)
                adapter = detect(head)
                one = _concat(source, adapter.format, list(_read_batches(adapter, att, source)))
            except UnreadableFile as exc:
                problems.append(f"attachment {safe!r}: {exc}")
                continue
            key = pl.concat_str(pl.lit("email:"), pl.col("external_order_id"))
            parsed.append(
                ParsedFile(
                    name=source,
                    format=one.format,
                    orders=one.orders.with_columns(
                        channel=pl.lit("email"),
                        order_key=key,
                        source_message_id=pl.lit(message_id),
                    ),
                    lines=one.lines.join(
                        one.orders.select("order_key", "external_order_id"),
                        on="order_key",
                        how="left",
                    )
                    .with_columns(order_key=key)
                    .drop("external_order_id"),
                    not_carried=one.not_carried,
                )
            )
    if not parsed:
        reason = "; ".join(problems) or "the message has no attachment"
        raise UnreadableFile(f"email without a readable order attachment: {reason}", line=1)
    return _concat(path.name, "email/" + "+".join(sorted({p.format for p in parsed})), parsed)


def parse_file(path: Path) -> Iterator[ParsedFile]:
    """Canonical rows of one file (export or .eml), in batches that never split an order.

    Raises :class:`UnreadableFile` (possibly after some batches: a caller that writes must
    treat the file as all or nothing).
    """
    head = _head(path)
    _check_readable(path, head)
    try:
        if is_email(path, head):
            yield _read_email(path)
        else:
            yield from _read_batches(detect(head), path, path.name)
    except (UnreadableFile, MemoryError, OSError):
        raise  # OSError/MemoryError are the machine's trouble, not the file's: the run fails
    except Exception as exc:  # a surprise in an adapter sets this file aside, not the batch
        raise UnreadableFile(
            f"could not be read ({type(exc).__name__}: {str(exc)[:500]}); the file is kept "
            "for a retry once the cause is fixed"
        ) from exc


def read_file(path: Path) -> ParsedFile:
    """Parse one whole file into canonical rows without writing anything (a dry run)."""
    parts = list(parse_file(path))
    return _concat(parts[0].name, parts[0].format, parts)


# --- writing --------------------------------------------------------------------------------


def _digest(columns: list[str]) -> str:
    """SQL for a digest of a row's columns; tells copies of an order within one file apart."""
    parts = ", ".join(f"coalesce(CAST({c} AS VARCHAR), chr(1))" for c in columns)
    return f"md5(concat_ws(chr(31), {parts}))"


def _stage(
    con: duckdb.DuckDBPyConnection,
    parsed: ParsedFile,
    prepared: tuple[object, object, bool] | None = None,
) -> None:
    """Views stg_orders/stg_lines over the parsed rows, one row per order and line.

    The same order more than once in a file is read once when every copy is identical
    (order fields and lines); any difference rejects the file, since which copy is right
    can't be known.
    """
    orders, lines, repeats = prepared if prepared is not None else parsed.prepared()
    con.register("in_orders", orders)
    con.register("in_lines", lines)
    if not repeats:  # the usual case: every order and line once, nothing to reconcile
        con.execute("CREATE OR REPLACE TEMP VIEW stg_orders_in AS SELECT * FROM in_orders")
        con.execute("CREATE OR REPLACE TEMP VIEW stg_lines AS SELECT * FROM in_lines")
    else:
        _stage_repeats(con)
    _keep_not_carried(con, parsed.not_carried)
    _keep_erased(con)


def _keep_not_carried(con: duckdb.DuckDBPyConnection, not_carried: frozenset[str]) -> None:
    """View stg_orders: the staged orders, with columns the layout lacks taken from the
    stored order (an order new to the platform has them null)."""
    if not not_carried:
        con.execute("CREATE OR REPLACE TEMP VIEW stg_orders AS SELECT * FROM stg_orders_in")
        return
    kept = ", ".join(f"coalesce(s.{c}, o.{c}) AS {c}" for c in sorted(not_carried))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP VIEW stg_orders AS
        SELECT s.* REPLACE ({kept})
        FROM stg_orders_in s LEFT JOIN {ORDERS.qualified} o USING (order_key)
        """
    )


#: What an erased order keeps as it is whatever a later export says (pipelines/lib/erasure.py).
_ERASED_FIELDS = (*PERSONAL_ORDER_FIELDS, "ship_postal_code", "accepts_marketing")


def _keep_erased(con: duckdb.DuckDBPyConnection) -> None:
    """An order whose customer was erased keeps its personal fields blank when a channel
    exports it again; table stg_erased_again lists the orders whose export carried them (an
    event says so: never silently re-linked). Without any erasure, nothing to join."""
    if not scalar(con, f"SELECT count(*) > 0 FROM {ERASURES.qualified}"):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE stg_erased_again AS "
            "SELECT NULL::VARCHAR AS order_key WHERE false"
        )
        return
    kept = ", ".join(
        f"CASE WHEN o.erased_at IS NULL THEN s.{c} ELSE o.{c} END AS {c}" for c in _ERASED_FIELDS
    )
    carried = " OR ".join(f"s.{c} IS NOT NULL" for c in PERSONAL_ORDER_FIELDS)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE stg_erased_again AS
        SELECT s.order_key FROM stg_orders s JOIN {ORDERS.qualified} o USING (order_key)
        WHERE o.erased_at IS NOT NULL AND ({carried})
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE stg_orders_kept AS
        SELECT s.* REPLACE ({kept})
        FROM stg_orders s LEFT JOIN {ORDERS.qualified} o USING (order_key)
        """
    )
    con.execute("CREATE OR REPLACE TEMP VIEW stg_orders AS SELECT * FROM stg_orders_kept")


def _stage_repeats(con: duckdb.DuckDBPyConnection) -> None:
    """Reconcile orders that appear more than once in a file (see :func:`_stage`)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE stg_orders_all AS
        SELECT *, {_digest(_CONTENT_COLUMNS)} AS order_hash,
               count(*) OVER (PARTITION BY order_key) AS copies
        FROM in_orders
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE stg_lines_all AS
        SELECT *, {_digest(_LINE_CONTENT_COLUMNS)} AS line_hash FROM in_lines
        """
    )
    conflicts = con.execute(
        """
        WITH order_conflicts AS (
            SELECT order_key FROM stg_orders_all
            GROUP BY order_key HAVING count(DISTINCT order_hash) > 1
        ),
        line_groups AS (
            SELECT l.order_key, l.line_no, count(*) AS n, count(DISTINCT l.line_hash) AS kinds
            FROM stg_lines_all l
            WHERE l.order_key IN (SELECT order_key FROM stg_orders_all WHERE copies > 1)
            GROUP BY l.order_key, l.line_no
        ),
        line_conflicts AS (
            SELECT g.order_key FROM line_groups g
            JOIN (SELECT DISTINCT order_key, copies FROM stg_orders_all) o USING (order_key)
            WHERE g.kinds > 1 OR g.n <> o.copies
            UNION
            SELECT order_key FROM stg_lines_all WHERE order_key NOT IN (
                SELECT order_key FROM stg_orders_all WHERE copies > 1)
            GROUP BY order_key, line_no HAVING count(DISTINCT line_hash) > 1
        )
        SELECT o.order_key, list(DISTINCT o.source_row ORDER BY o.source_row)
        FROM stg_orders_all o
        WHERE o.order_key IN (SELECT order_key FROM order_conflicts
                              UNION SELECT order_key FROM line_conflicts)
        GROUP BY o.order_key ORDER BY min(o.source_row) LIMIT 5
        """
    ).fetchall()
    if conflicts:
        detail = "; ".join(f"{key} at records {rows}" for key, rows in conflicts)
        raise UnreadableFile(
            f"the same order id appears more than once with conflicting data: {detail}"
        )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE stg_lines_once AS
        SELECT * FROM stg_lines_all
        QUALIFY row_number() OVER (PARTITION BY order_key, line_no ORDER BY source_row) = 1
        """
    )
    con.execute("CREATE OR REPLACE TEMP VIEW stg_lines AS SELECT * FROM stg_lines_once")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE stg_orders_once AS
        SELECT * EXCLUDE (order_hash, copies) FROM stg_orders_all
        QUALIFY row_number() OVER (PARTITION BY order_key ORDER BY source_row) = 1
        """
    )
    con.execute("CREATE OR REPLACE TEMP VIEW stg_orders_in AS SELECT * FROM stg_orders_once")


def _record_ignored_personal_data(
    con: duckdb.DuckDBPyConnection, file_id: str, now: datetime, run_id: str
) -> None:
    """An event on each erased order this file carried personal data of (not stored)."""
    con.execute(
        f"""
        INSERT INTO {ORDER_EVENTS.qualified} BY NAME
        SELECT md5(order_key || '|personal_data_ignored|' || $file_id) AS event_id, order_key,
               'personal_data_ignored' AS event, $now AS "at",
               source_file || ' carried personal data of this order, whose customer was '
               || 'erased on request: not stored' AS detail, $run_id AS run_id
        FROM stg_cmp WHERE order_key IN (SELECT order_key FROM stg_erased_again)
          AND md5(order_key || '|personal_data_ignored|' || $file_id)
              NOT IN (SELECT event_id FROM {ORDER_EVENTS.qualified})
        """,
        {"file_id": file_id, "now": now, "run_id": run_id},
    )


def _upsert(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    now: datetime,
    result: IntakeResult,
    file_id: str,
) -> None:
    """Write the staged orders: new ones inserted, changed ones updated, with their events.

    An order already known is compared with what is stored, field by field and line by line
    (exactly, no hashing), so the cost is in the re-exported orders, not in the new ones.
    """
    line_cmp = ", ".join(["order_key", *_LINE_CONTENT_COLUMNS])
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE stg_known AS
        SELECT order_key FROM stg_orders
        WHERE order_key IN (SELECT order_key FROM {ORDERS.qualified})
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE stg_lines_changed AS
        WITH incoming AS (
            SELECT {line_cmp} FROM stg_lines WHERE order_key IN (SELECT order_key FROM stg_known)
        ),
        stored AS (
            SELECT {line_cmp} FROM {ORDER_LINES.qualified}
            WHERE order_key IN (SELECT order_key FROM stg_known)
        )
        SELECT DISTINCT order_key FROM (
            (SELECT * FROM incoming EXCEPT SELECT * FROM stored)
            UNION ALL
            (SELECT * FROM stored EXCEPT SELECT * FROM incoming)
        )
        """
    )
    # The stored status is the lifecycle status later stages move on; a cancellation by the
    # channel shows in channel_status / cancelled_at, which are compared.
    compared = [c for c in _CONTENT_COLUMNS if c != "status"]
    old = ", ".join(f"o.{c}" for c in compared)
    new_ = ", ".join(f"s.{c}" for c in compared)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE stg_cmp AS
        WITH cmp AS (
            SELECT s.order_key, s.status, s.channel_status, s.source_file,
                   o.order_key IS NULL AS is_new,
                   o.order_key IS NOT NULL AND (
                       ({old}) IS DISTINCT FROM ({new_})
                       OR s.order_key IN (SELECT order_key FROM stg_lines_changed)
                   ) AS is_changed,
                   s.status = 'cancelled' AND coalesce(o.status, '') <> 'cancelled' AS cancels,
                   -- The channel took back its own cancellation (e.g. WooCommerce restored
                   -- the order). An ops cancellation (a decision) stands whatever the
                   -- channel sends later.
                   o.status = 'cancelled' AND s.status <> 'cancelled'
                       AND o.channel_status IS DISTINCT FROM s.channel_status
                       AND s.order_key NOT IN (
                           SELECT order_key FROM {HOLD_DECISIONS.qualified}
                           WHERE action = 'cancel' AND status = 'applied') AS reopens,
                   o.payment_status AS old_payment, s.payment_status AS new_payment,
                   o.channel_status AS old_channel_status,
                   (o.ship_address1, o.ship_address2, o.ship_city, o.ship_region,
                    o.ship_postal_code, o.ship_country)
                       IS DISTINCT FROM
                   (s.ship_address1, s.ship_address2, s.ship_city, s.ship_region,
                    s.ship_postal_code, s.ship_country) AS address_changed,
                   o.order_total AS old_total, s.order_total AS new_total,
                   s.order_key IN (SELECT order_key FROM stg_lines_changed) AS lines_changed
            FROM stg_orders s LEFT JOIN {ORDERS.qualified} o USING (order_key)
        )
        SELECT *,
               CASE WHEN is_changed THEN concat_ws(', ',
                   CASE WHEN old_payment IS DISTINCT FROM new_payment
                        THEN 'payment ' || coalesce(old_payment, '?') || ' -> '
                             || coalesce(new_payment, '?') END,
                   CASE WHEN old_channel_status IS DISTINCT FROM channel_status
                        THEN 'channel status ' || coalesce(old_channel_status, '?') || ' -> '
                             || coalesce(channel_status, '?') END,
                   CASE WHEN address_changed THEN 'ship-to address' END,
                   CASE WHEN old_total IS DISTINCT FROM new_total
                        THEN 'total ' || coalesce(old_total::VARCHAR, '?') || ' -> '
                             || coalesce(new_total::VARCHAR, '?') END,
                   CASE WHEN lines_changed THEN 'lines' END
               ) END AS what_changed
        FROM cmp
        """
    )
    ((new, changed, cancels, total),) = con.execute(
        "SELECT count(*) FILTER (is_new), count(*) FILTER (is_changed), "
        "count(*) FILTER ((is_new OR is_changed) AND cancels), count(*) FROM stg_cmp"
    ).fetchall()
    result.new_orders += new
    result.updated_orders += changed
    result.cancelled_orders += cancels
    result.unchanged_orders += total - new - changed
    if scalar(con, "SELECT count(*) FROM stg_erased_again"):
        _record_ignored_personal_data(con, file_id, now, run_id)
    if not new and not changed:
        return
    params = {"run_id": run_id, "now": now}
    # A batch of orders all new to the platform (a bulk load) needs no join to pick them.
    pick_new = (
        "" if new == total else "WHERE order_key IN (SELECT order_key FROM stg_cmp WHERE is_new)"
    )
    pick_written = (
        ""
        if new == total
        else "WHERE order_key IN (SELECT order_key FROM stg_cmp WHERE is_new OR is_changed)"
    )
    adapter_cols = ", ".join(ADAPTER_ORDER_COLUMNS)
    con.execute(
        f"""
        INSERT INTO {ORDERS.qualified} ({adapter_cols}, received_at, updated_at, run_id)
        SELECT {adapter_cols}, $now, $now, $run_id FROM stg_orders {pick_new}
        """,
        params,
    )
    if changed:
        updatable = [c for c in ADAPTER_ORDER_COLUMNS if c not in ("order_key", "status")]
        sets = ", ".join(
            f"{c} = {OUR_SHIPMENT_KEEPS_FLAG}" if c == "fulfilled_by_channel" else f"{c} = s.{c}"
            for c in updatable
        )
        con.execute(
            f"""
            UPDATE {ORDERS.qualified} AS o SET {sets},
                status = CASE WHEN s.status = 'cancelled' THEN 'cancelled'
                              WHEN c.reopens THEN 'received' ELSE o.status END,
                updated_at = $now, run_id = $run_id
            FROM stg_orders s JOIN stg_cmp c USING (order_key)
            WHERE o.order_key = s.order_key AND c.is_changed
            """,
            params,
        )
        con.execute(
            f"""
            DELETE FROM {ORDER_LINES.qualified}
            WHERE order_key IN (SELECT order_key FROM stg_cmp WHERE is_changed)
            """
        )
    line_cols = ", ".join(ADAPTER_LINE_COLUMNS)
    con.execute(
        f"""
        INSERT INTO {ORDER_LINES.qualified} ({line_cols}, run_id)
        SELECT {line_cols}, $run_id FROM stg_lines {pick_written}
        """,
        {"run_id": run_id},
    )
    result.lines += scalar(con, f"SELECT count(*) FROM stg_lines {pick_written}")
    con.execute(
        f"""
        INSERT INTO {ORDER_EVENTS.qualified} BY NAME
        -- 'received' happens once per order; an update, cancellation or reopening once per
        -- file that brought it (a file is never processed twice; A -> B -> A is 2 updates).
        SELECT md5(order_key || '|' || event
                   || CASE WHEN event = 'received' THEN '' ELSE '|' || $file_id END) AS event_id,
               order_key, event, $now AS "at", detail, $run_id AS run_id
        FROM (
            SELECT order_key, 'received' AS event, 'received from ' || source_file AS detail
            FROM stg_cmp WHERE is_new
            UNION ALL
            SELECT order_key, 'updated',
                   'updated from ' || source_file
                   || CASE WHEN what_changed <> '' THEN ': ' || what_changed ELSE '' END
            FROM stg_cmp WHERE is_changed
            UNION ALL
            SELECT order_key, 'cancelled',
                   'cancelled by the channel (' || coalesce(channel_status, 'cancelled')
                   || ') in ' || source_file
            FROM stg_cmp WHERE (is_new OR is_changed) AND cancels
            UNION ALL
            SELECT order_key, 'reopened',
                   'the channel reopened the order (' || coalesce(channel_status, '?')
                   || ') in ' || source_file
            FROM stg_cmp WHERE is_changed AND reopens
        )
        -- Orders new to the platform have no events yet: only changed ones need the check.
        WHERE event_id NOT IN (
            SELECT event_id FROM {ORDER_EVENTS.qualified}
            WHERE order_key IN (SELECT order_key FROM stg_cmp WHERE is_changed)
        )
        """,
        {**params, "file_id": file_id},
    )


def record_file(
    con: duckdb.DuckDBPyConnection, outcome: FileOutcome, size: int, run_id: str, now: datetime
) -> None:
    row = {
        "receipt_id": f"{outcome.file_id[:16]}:{run_id}:{outcome.name}",
        "file_id": outcome.file_id,
        "file_name": outcome.name,
        "size_bytes": size,
        "detected_format": outcome.format,
        "channel": outcome.channel,
        "status": outcome.status,
        "reason": outcome.reason,
        "orders": outcome.orders,
        "lines": outcome.lines,
        "received_at": now,
        "stored_path": outcome.stored_path,
        "run_id": run_id,
    }
    cols = ", ".join(row)
    con.execute(
        f"INSERT INTO {FILES.qualified} ({cols}) VALUES ({', '.join('?' for _ in row)}) "
        "ON CONFLICT DO NOTHING",
        list(row.values()),
    )


def _free_name(folder: Path, name: str, file_id: str) -> Path:
    target = folder / name
    if target.exists():
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}.{file_id[:8]}{dot}{suffix}"
    return target


def archive_file(path: Path, archive_dir: Path, file_id: str, now: datetime) -> Path:
    folder = archive_dir / now.strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, path.name, file_id)
    shutil.move(path, target)
    return target


def reject_file(path: Path, rejected_dir: Path, file_id: str, reason: str) -> Path:
    rejected_dir.mkdir(parents=True, exist_ok=True)
    target = _free_name(rejected_dir, path.name, file_id)
    shutil.move(path, target)
    target.with_name(target.name + ".reason.txt").write_text(
        f"{target.name}: {reason}\n", encoding="utf-8"
    )
    return target


def take_stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    fmt: str,
    apply: Callable[[FileOutcome], int],
    unreadable: tuple[type[Exception], ...],
    archive_dir: Path,
    rejected_dir: Path,
    run_id: str,
    now: datetime,
) -> FileOutcome:
    """One inbox file of a later stage (stock, tracking): recorded as a duplicate when its
    bytes were processed before; otherwise ``apply(outcome)`` (which returns the records
    read) and the file's record in one transaction — the whole file or nothing — or, when
    ``apply`` raises one of ``unreadable``, the file rejected with that reason. Then the file
    is moved to the archive or to rejected."""
    file_id = file_sha256(path)
    size = path.stat().st_size
    outcome = FileOutcome(name=path.name, file_id=file_id, status="processed", format=fmt)
    if already_processed(con, file_id):
        outcome.status, outcome.reason = "duplicate", DUPLICATE_REASON
        with transaction(con):
            record_file(con, outcome, size, run_id, now)
    else:
        try:
            with transaction(con):
                outcome.lines = apply(outcome)
                record_file(con, outcome, size, run_id, now)
        except unreadable as exc:
            outcome.status, outcome.reason, outcome.lines = "rejected", str(exc), 0
            with transaction(con):
                record_file(con, outcome, size, run_id, now)
    if outcome.status == "rejected":
        stored = reject_file(path, rejected_dir, file_id, outcome.reason)
    else:
        stored = archive_file(path, archive_dir, file_id, now)
    outcome.stored_path = str(stored)
    with transaction(con):
        record_stored_path(con, outcome, run_id)
    return outcome


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    archive_dir: Path,
    rejected_dir: Path,
    run_id: str,
    now: datetime,
    result: IntakeResult,
    ahead: Future | None = None,
) -> FileOutcome:
    """Ingest one inbox file; never raises for a bad file (it is rejected with a reason).

    ``ahead`` is the file read ahead by a worker (see :func:`ingest_inbox`).
    """
    read = ahead.result() if ahead is not None else _ReadAhead.of(path, parse=False)
    file_id = read.file_id
    size = path.stat().st_size
    outcome = FileOutcome(name=path.name, file_id=file_id, status="processed")
    if already_processed(con, file_id):
        outcome.status = "duplicate"
        outcome.reason = DUPLICATE_REASON
        outcome.stored_path = str(archive_file(path, archive_dir, file_id, now))
        with transaction(con):
            record_file(con, outcome, size, run_id, now)
        result.files.append(outcome)
        return outcome
    try:
        channels: set[str] = set()
        batch_result = IntakeResult()
        with transaction(con):  # the whole file or nothing, however many batches it has
            for parsed, prepared in read.batches(con, path):
                outcome.format = parsed.format
                channels.update(parsed.orders.get_column("channel").unique().to_list())
                outcome.orders += parsed.orders.height
                outcome.lines += parsed.lines.height
                _stage(con, parsed, prepared)
                _upsert(con, run_id, now, batch_result, file_id)
                con.unregister("in_orders")
                con.unregister("in_lines")
            outcome.channel = ",".join(sorted(channels))
            record_file(con, outcome, size, run_id, now)
        result.add_counts(batch_result)
    except UnreadableFile as exc:
        outcome.status = "rejected"
        outcome.reason = str(exc)
        outcome.orders = outcome.lines = 0
        outcome.stored_path = str(reject_file(path, rejected_dir, file_id, outcome.reason))
        with transaction(con):
            record_file(con, outcome, size, run_id, now)
        result.files.append(outcome)
        return outcome
    outcome.stored_path = str(archive_file(path, archive_dir, file_id, now))
    record_stored_path(con, outcome, run_id)
    result.files.append(outcome)
    return outcome


#: Up to READ_AHEAD_FILES files are hashed, parsed and converted for DuckDB by worker threads
#: while the current one is written (hashlib, Polars and DuckDB release the GIL). Files over
#: READ_AHEAD_BYTES are hashed ahead but stream batch by batch when written, with
#: DuckDB held to STREAM_MEMORY_LIMIT so the file's uncommitted rows spill to disk rather
#: than grow the process (its transaction must hold the whole file: all or nothing).
READ_AHEAD_BYTES = 256 * 1024 * 1024
READ_AHEAD_FILES = 2
STREAM_MEMORY_LIMIT = "640MB"


@dataclass
class _ReadAhead:
    """A file hashed and (when small enough) parsed and prepared by a worker thread."""

    file_id: str
    parsed: list[tuple[ParsedFile, tuple[object, object, bool]]] | None = None
    error: UnreadableFile | None = None

    @classmethod
    def of(cls, path: Path, parse: bool = True) -> _ReadAhead:
        read = cls(file_sha256(path))
        if parse and path.stat().st_size <= READ_AHEAD_BYTES:
            try:
                read.parsed = [(p, p.prepared()) for p in parse_file(path)]
            except UnreadableFile as exc:
                read.error = exc
        return read

    def batches(
        self, con: duckdb.DuckDBPyConnection, path: Path
    ) -> Iterator[tuple[ParsedFile, tuple[object, object, bool] | None]]:
        if self.error is not None:
            raise self.error
        if self.parsed is not None:
            yield from self.parsed
            return
        for parsed in _streamed(con, path):
            yield parsed, None


def _streamed(con: duckdb.DuckDBPyConnection, path: Path) -> Iterator[ParsedFile]:
    con.execute(f"SET memory_limit = '{STREAM_MEMORY_LIMIT}'")
    try:
        yield from parse_file(path)
    finally:
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")


def ingest_inbox(
    con: duckdb.DuckDBPyConnection,
    inbox: Path,
    *,
    archive_dir: Path,
    rejected_dir: Path,
    run_id: str,
    now: datetime,
) -> IntakeResult:
    result = IntakeResult()
    paths = []
    for path in inbox_files(inbox):
        if file_layout(path):
            result.left_for_later.append(path.name)
        else:
            paths.append(path)
    threads = scalar(con, "SELECT current_setting('threads')")
    con.execute("SET threads = 1")  # the other core parses the next file
    try:
        pool = ThreadPoolExecutor(max_workers=READ_AHEAD_FILES, thread_name_prefix="oms-read")
        with pool:
            ahead = [pool.submit(_ReadAhead.of, p) for p in paths[:READ_AHEAD_FILES]]
            for i, path in enumerate(paths):
                if i + READ_AHEAD_FILES < len(paths):
                    ahead.append(pool.submit(_ReadAhead.of, paths[i + READ_AHEAD_FILES]))
                ingest_file(
                    con,
                    path,
                    archive_dir=archive_dir,
                    rejected_dir=rejected_dir,
                    run_id=run_id,
                    now=now,
                    result=result,
                    ahead=ahead[i],
                )
                ahead[i] = None  # let the parsed frames go
    finally:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("CHECKPOINT")
    return result
