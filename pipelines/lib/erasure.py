"""Forget a customer on request: ``oms forget-customer --email ADDRESS`` (or ``--order KEY``).

Every personal field of the customer's orders is replaced wherever the platform stores it,
and the financial and stock facts stay (amounts, lines, SKUs, allocations, parcels, tracking
numbers, refunds, the ship-to country, region and postal prefix):

1. **The warehouse**, in one transaction: the order's name, email, phone, company, street,
   city and notes are blanked and its postal code cut to the prefix; free text that quoted
   them (hold findings, corrections, decision notes, return notes, carrier messages,
   quarantined records) has the values replaced by ``[erased]``; the customer's keys are
   dropped, in the marts too; ``oms.erasures`` records which orders were erased and the
   customer's keyed hash.
2. **The files**: archived exports and returns files rewritten with the customer's fields
   blanked (:mod:`pipelines.lib.erasure_archive`); labels, manifests, packing slips, return
   labels and refund exports rendered again from the blanked warehouse, mail and SMS to the
   customer removed (:mod:`pipelines.lib.erasure_outbox`). Each file's fate is recorded in
   ``oms.erasure_files``.
3. **The snapshots** are published again, and the request goes into the audit trail.

It refuses while any of the orders is still open (not shipped, delivered, returned or
cancelled): the warehouse still needs the address. Running it again changes nothing: the
orders are found through the erasure register (the email is gone from the orders), and
each step finds nothing left to do; a crash between the steps is repaired by running it
again. A later export of an erased order never brings the fields back (the intake keeps
them blank), and a later order of the same person starts a new customer, with an event
saying so (:func:`pipelines.lib.privacy.assign_privacy_keys`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from pipelines.lib.privacy import (
    ERASED,
    PERSONAL_DECISION_FIELDS,
    PERSONAL_ORDER_FIELDS,
    FileAction,
    assign_privacy_keys,
    email_lookup_value,
    keyed_hash,
    postal_prefix_sql,
)
from pipelines.lib.schema import ERASURE_FILES, ERASURES, ORDERS
from pipelines.lib.warehouse import frame, scalar, transaction

#: Order statuses after which the platform needs no address any more.
DONE_STATUSES = ("shipped", "delivered", "cancelled", "partially_returned", "returned")
_EMAIL = re.compile(r"[^\s\"'<>(),;:]+@[^\s\"'<>(),;:]+\.[A-Za-z]{2,}")


class ErasureRefused(Exception):
    """The request cannot be carried out now (open orders); nothing was changed."""


@dataclass
class ErasureResult:
    erasure_id: str | None
    orders: list[str]
    #: Orders erased by this run (empty when all were erased before).
    newly_erased: list[str]
    files: list[FileAction] = field(default_factory=list)
    rows_scrubbed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.newly_erased or self.files)


def _subject_for_email(key: bytes, email: str) -> str:
    """The keyed hash a customer known by this email has (privacy.identity_sql: email)."""
    return keyed_hash(key, f"email:{email}")


def resolve(
    con: duckdb.DuckDBPyConnection, key: bytes, *, email: str | None, order_key: str | None
) -> tuple[list[str], str | None, str]:
    """(order keys, the customer's keyed hash, how they were named) of a request.

    Orders erased before are found through the register, so a repeated request finds the
    same orders although their email is gone.
    """
    assign_privacy_keys(con, key)  # orders the analytics build has not keyed yet
    if email is not None:
        wanted = email_lookup_value(email)
        if "@" not in wanted:
            raise ValueError(f"not an email address: {email!r}")
        subject = _subject_for_email(key, wanted)
        rows = con.execute(
            f"""
            SELECT order_key FROM {ORDERS.qualified}
            WHERE erased_at IS NULL AND lower(trim(email)) = $email
            UNION
            SELECT order_key FROM {ERASURES.qualified} WHERE subject_key = $subject
            ORDER BY 1
            """,
            {"email": wanted, "subject": subject},
        ).fetchall()
        return [r[0] for r in rows], subject, "email"
    if not order_key:
        raise ValueError("name the customer by --email or --order")
    found = con.execute(
        f"SELECT customer_key, erased_at IS NOT NULL FROM {ORDERS.qualified} WHERE order_key = ?",
        [order_key],
    ).fetchall()
    if not found:
        return [], None, "order"
    customer_key, erased = found[0]
    if erased:
        subject = scalar(
            con,
            f"SELECT any_value(subject_key) FROM {ERASURES.qualified} WHERE order_key = ?",
            [order_key],
        )
    else:
        subject = customer_key
    if subject is None:  # an order naming no customer: just this one
        return [order_key], None, "order"
    rows = con.execute(
        f"""
        SELECT order_key FROM {ORDERS.qualified}
        WHERE erased_at IS NULL AND customer_key = $subject
        UNION
        SELECT order_key FROM {ERASURES.qualified} WHERE subject_key = $subject
        UNION SELECT $order
        ORDER BY 1
        """,
        {"subject": subject, "order": order_key},
    ).fetchall()
    return [r[0] for r in rows], subject, "order"


def _erasure_id(orders: list[str], now: datetime) -> str:
    digest = hashlib.sha256("|".join(orders).encode()).hexdigest()[:8]
    return f"ER-{now:%Y%m%dT%H%M%S}-{digest}"


def _values_of(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Per order being erased, its personal values longest first (replaced in free text)."""
    fields = ", ".join(PERSONAL_DECISION_FIELDS)
    people: dict[str, list[str]] = {}
    for row in con.execute(
        f"SELECT order_key, {fields} FROM {ORDERS.qualified} "
        "WHERE order_key IN (SELECT order_key FROM erase_now)"
    ).fetchall():
        values = {str(v).strip() for v in row[1:] if v is not None and len(str(v).strip()) >= 3}
        people[row[0]] = sorted(values, key=len, reverse=True)
    return people


def _scrub_text(text: str | None, values: list[str]) -> str | None:
    if text is None:
        return None
    out = text
    for value in values:
        out = re.sub(re.escape(value), ERASED, out, flags=re.IGNORECASE)
    return _EMAIL.sub(ERASED, out)


#: Free text that can quote the customer: (table, row key columns, text columns, the
#: order key's SQL expression on that table). Carrier events are reached through parcels.
_FREE_TEXT: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str], ...] = (
    ("oms.order_events", ("event_id",), ("detail",), "order_key"),
    ("oms.order_holds", ("hold_id",), ("detail", "resolution_note"), "order_key"),
    ("oms.hold_decisions", ("decision_id",), ("note",), "order_key"),
    ("oms.notifications", ("notification_id",), ("subject", "last_error"), "order_key"),
    ("oms.returns", ("return_line_id",), ("note", "status_reason"), "order_key"),
    ("oms.return_inspections", ("inspection_id",), ("note",), "order_key"),
    ("oms.refunds", ("refund_id",), ("explanation",), "order_key"),
    (
        "oms.tracking_events",
        ("event_key",),
        ("location", "message", "status_detail"),
        "(SELECT s.order_key FROM oms.parcels p JOIN oms.shipments s USING (shipment_id) "
        "WHERE p.parcel_id = t.parcel_id)",
    ),
    (
        "quality.tracking_quarantine",
        ("event_key", "source_file", "source_row"),
        ("message",),
        "(SELECT s.order_key FROM oms.parcels p JOIN oms.shipments s USING (shipment_id) "
        "WHERE p.tracking_number = t.tracking_number LIMIT 1)",
    ),
    (
        "quality.returns_quarantine",
        ("source_file", "source_row"),
        ("record",),
        "(SELECT o.order_key FROM oms.orders o WHERE t.order_ref IN "
        "(o.order_key, o.order_number, o.external_order_id) LIMIT 1)",
    ),
)


def _scrub_free_text(con: duckdb.DuckDBPyConnection, people: dict[str, list[str]]) -> int:
    """Replace the customer's values in every free text of their orders; rows changed."""
    changed = 0
    for table, keys, texts, order_of in _FREE_TEXT:
        key_cols = ", ".join(f"t.{k}" for k in keys)
        text_cols = ", ".join(f"t.{c}" for c in texts)
        rows = con.execute(
            f"SELECT * FROM (SELECT {order_of} AS erased_order, {key_cols}, {text_cols} "
            f"FROM {table} t) WHERE erased_order IN (SELECT order_key FROM erase_now)"
        ).fetchall()
        for row in rows:
            values = people.get(row[0], [])
            ident = row[1 : 1 + len(keys)]
            old = row[1 + len(keys) :]
            new = [_scrub_text(v, values) for v in old]
            if new == list(old):
                continue
            sets = ", ".join(f"{c} = ?" for c in texts)
            where = " AND ".join(f"{k} IS NOT DISTINCT FROM ?" for k in keys)
            con.execute(f"UPDATE {table} SET {sets} WHERE {where}", [*new, *ident])
            changed += 1
    # Corrected values of personal fields are personal: replaced whole.
    personal = ", ".join(f"'{f}'" for f in PERSONAL_DECISION_FIELDS)
    changed += con.execute(
        f"""
        UPDATE oms.hold_decisions SET value = '{ERASED}',
               previous_value = CASE WHEN previous_value IS NULL THEN NULL ELSE '{ERASED}' END
        WHERE order_key IN (SELECT order_key FROM erase_now)
          AND lower(field) IN ({personal}) AND value IS DISTINCT FROM '{ERASED}'
        """
    ).fetchall()[0][0]
    # Nothing more goes out to the customer: messages not sent yet are skipped.
    con.execute(
        """
        UPDATE oms.notifications
        SET status = CASE WHEN status = 'queued' THEN 'skipped' ELSE status END,
            skip_reason = CASE WHEN status = 'queued' THEN 'customer erased on request'
                               ELSE skip_reason END,
            recipient = NULL
        WHERE order_key IN (SELECT order_key FROM erase_now)
          AND (recipient IS NOT NULL OR status = 'queued')
        """
    )
    return changed


def _forget_in_marts(con: duckdb.DuckDBPyConnection) -> None:
    """The marts drop the customer's key now, not at the next build."""
    marts = con.execute(
        """
        SELECT table_name,
               bool_or(column_name = 'order_key') AS by_order
        FROM information_schema.columns
        WHERE table_schema = 'analytics' AND table_name IN (
            SELECT table_name FROM information_schema.tables
            WHERE table_schema = 'analytics' AND table_type = 'BASE TABLE')
        GROUP BY table_name
        HAVING bool_or(column_name = 'customer_key')
        """
    ).fetchall()
    for name, by_order in marts:
        if by_order:
            con.execute(
                f'UPDATE analytics."{name}" SET customer_key = NULL '
                "WHERE order_key IN (SELECT order_key FROM erase_now)"
            )
        else:
            con.execute(
                f'DELETE FROM analytics."{name}" WHERE customer_key IN '
                "(SELECT subject_key FROM erase_now WHERE subject_key IS NOT NULL)"
            )


def erase_rows(
    con: duckdb.DuckDBPyConnection,
    orders: list[str],
    subject: str | None,
    matched_by: str,
    requested_by: str,
    now: datetime,
) -> tuple[str | None, list[str], int]:
    """Step 1, in one transaction: (erasure id, orders newly erased, free-text rows changed).

    Orders erased before keep their erasure; the id returned is the new one, or the earlier
    one when there was nothing new.
    """
    fresh = [
        r[0]
        for r in con.execute(
            f"SELECT order_key FROM {ORDERS.qualified} "
            "WHERE list_contains($keys, order_key) AND erased_at IS NULL ORDER BY 1",
            {"keys": orders},
        ).fetchall()
    ]
    if not fresh:
        earlier = scalar(
            con,
            f"SELECT max(erasure_id) FROM {ERASURES.qualified} WHERE list_contains($k, order_key)",
            {"k": orders},
        )
        return earlier, [], 0
    erasure_id = _erasure_id(fresh, now)
    with transaction(con):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE erase_now AS
            SELECT order_key, coalesce($subject, customer_key) AS subject_key
            FROM {ORDERS.qualified} WHERE list_contains($keys, order_key)
            """,
            {"keys": fresh, "subject": subject},
        )
        people = _values_of(con)
        scrubbed = _scrub_free_text(con, people)
        _forget_in_marts(con)
        blank = ", ".join(f"{f} = NULL" for f in PERSONAL_ORDER_FIELDS)
        prefix = postal_prefix_sql("ship_postal_code", "ship_country")
        con.execute(
            f"""
            UPDATE {ORDERS.qualified} SET {blank},
                   ship_postal_code = {prefix}, ship_postal_prefix = {prefix},
                   accepts_marketing = false, customer_key = NULL, identified_by = 'erased',
                   email_key = NULL, postal_key = NULL, postal5_key = NULL,
                   keyed_at = updated_at, erased_at = $now
            WHERE order_key IN (SELECT order_key FROM erase_now)
            """,
            {"now": now},
        )
        con.execute(
            f"""
            INSERT INTO {ERASURES.qualified}
                (erasure_id, order_key, subject_key, matched_by, requested_by, erased_at)
            SELECT $id, order_key, subject_key, $matched_by, $by, $now FROM erase_now
            """,
            {"id": erasure_id, "matched_by": matched_by, "by": requested_by, "now": now},
        )
        con.execute(
            """
            INSERT INTO oms.order_events BY NAME
            SELECT md5(order_key || '|erased|' || $id) AS event_id, order_key,
                   'customer_erased' AS event, $now AS "at",
                   'personal data erased on request (' || $id || ')' AS detail,
                   'oms-forget-customer' AS run_id
            FROM erase_now
            """,
            {"id": erasure_id, "now": now},
        )
        con.execute("DROP TABLE erase_now")
    return erasure_id, fresh, scrubbed


def record_files(
    con: duckdb.DuckDBPyConnection, erasure_id: str, actions: list[FileAction], now: datetime
) -> None:
    """Step 2's outcome: each file's action in ``oms.erasure_files``, removed messages no
    longer pointed at; the erasure is done."""
    removed = [a.path for a in actions if a.action == "removed"]
    with transaction(con):
        if removed:
            con.execute(
                "UPDATE oms.notifications SET file_path = NULL "
                "WHERE list_contains($removed, file_path)",
                {"removed": removed},
            )
        for a in actions:
            con.execute(
                f"INSERT OR REPLACE INTO {ERASURE_FILES.qualified} "
                '(erasure_id, path, action, kind, detail, "at") VALUES (?, ?, ?, ?, ?, ?)',
                [erasure_id, a.path, a.action, a.kind, a.detail, now],
            )
        con.execute(
            f"UPDATE {ERASURES.qualified} SET files_done_at = ? "
            "WHERE erasure_id = ? AND files_done_at IS NULL",
            [now, erasure_id],
        )


def open_orders(con: duckdb.DuckDBPyConnection, orders: list[str]) -> list[tuple[str, str]]:
    """(order key, status) of the orders still being worked on."""
    done = ", ".join(f"'{s}'" for s in DONE_STATUSES)
    return con.execute(
        f"SELECT order_key, status FROM {ORDERS.qualified} "
        f"WHERE list_contains($keys, order_key) AND status NOT IN ({done}) ORDER BY 1",
        {"keys": orders},
    ).fetchall()


def forget_customer(
    con: duckdb.DuckDBPyConnection,
    *,
    key: bytes,
    data_dir: Path,
    reference_dir: Path,
    email: str | None = None,
    order_key: str | None = None,
    requested_by: str,
    now: datetime,
) -> ErasureResult:
    """Erase a customer's personal fields everywhere (steps 1 and 2 of the module docstring;
    the caller republishes the snapshots and writes the audit record)."""
    from pipelines.lib.erasure_archive import ErasedOrder, scrub_archives
    from pipelines.lib.erasure_outbox import scrub_outbox

    orders, subject, matched_by = resolve(con, key, email=email, order_key=order_key)
    if not orders:
        return ErasureResult(None, [], [])
    still_open = open_orders(con, orders)
    if still_open:
        listed = ", ".join(f"{k} ({s})" for k, s in still_open)
        raise ErasureRefused(
            f"{len(still_open)} order(s) of this customer are still open: {listed}. The "
            "warehouse needs their address until they ship or are cancelled; nothing was "
            "erased. Ask again then."
        )
    erasure_id, fresh, scrubbed = erase_rows(con, orders, subject, matched_by, requested_by, now)
    erased = frame(
        con,
        f"SELECT order_key, channel, source_format, external_order_id, order_number "
        f"FROM {ORDERS.qualified} WHERE list_contains($keys, order_key) ORDER BY order_key",
        {"keys": orders},
    )
    actions = scrub_archives(
        con,
        data_dir=data_dir,
        orders=[ErasedOrder(**row) for row in erased.iter_rows(named=True)],
        erasure_id=erasure_id,
        now=now,
    )
    actions += scrub_outbox(
        con,
        data_dir=data_dir,
        reference_dir=reference_dir,
        order_keys=orders,
        erasure_id=erasure_id,
        now=now,
    )
    record_files(con, erasure_id, actions, now)
    return ErasureResult(erasure_id, orders, fresh, actions, scrubbed)
