"""Forget a customer on request: ``oms forget-customer --email ADDRESS`` (or ``--order KEY``).

Every personal field of the customer's orders is replaced wherever the platform stores it,
and the financial and stock facts stay (amounts, lines, SKUs, allocations, parcels, tracking
numbers, refunds, the ship-to country, region and postal prefix):

1. **The warehouse**, in one transaction: the order's name, email, phone, company, street,
   city and notes are blanked and its postal code cut to the prefix; every free text that
   can quote them (:data:`pipelines.lib.privacy.FREE_TEXT_COLUMNS` of any table: hold
   findings, events, notes, carrier scans, quarantined records, and the marts' copies) has
   the values, and the values ops corrected away, replaced by ``[erased]``; the customer's
   keys are dropped, in the marts too; ``oms.erasures`` records which orders were erased
   and the customer's keyed hash.
2. **The files**: archived exports, returns and tracking files rewritten with the customer's
   fields blanked (:mod:`pipelines.lib.erasure_archive`); labels, manifests, packing slips, return
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
    EMAIL_RE,
    ERASED,
    FREE_TEXT_COLUMNS,
    PEOPLE_TEXT_COLUMNS,
    PERSONAL_DECISION_FIELDS,
    PERSONAL_ORDER_FIELDS,
    PHONE_RE,
    QUOTED_RE,
    FileAction,
    assign_privacy_keys,
    email_lookup_value,
    keyed_hash,
    link_tables,
    links,
    personal_values_sql,
    postal_prefix_sql,
)
from pipelines.lib.schema import ERASURE_FILES, ERASURES, ORDERS
from pipelines.lib.warehouse import frame, scalar, transaction

#: Order statuses after which the platform needs no address any more.
DONE_STATUSES = ("shipped", "delivered", "cancelled", "partially_returned", "returned")
_EMAIL = re.compile(EMAIL_RE)
_QUOTED = re.compile(QUOTED_RE)
_PHONE = re.compile(PHONE_RE)


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
    #: An earlier run stopped before recording its files; this one finished the erasure.
    finished_interrupted: bool = False

    @property
    def changed(self) -> bool:
        done = [f for f in self.files if f.action != "needs_review"]  # reported every run
        return bool(self.newly_erased or done or self.finished_interrupted)


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
        f"SELECT subject_key, erased_at IS NOT NULL FROM {ORDERS.qualified} WHERE order_key = ?",
        [order_key],
    ).fetchall()
    if not found:
        return [], None, "order"
    subject_key, erased = found[0]
    if erased:
        subject = scalar(
            con,
            f"SELECT any_value(subject_key) FROM {ERASURES.qualified} WHERE order_key = ?",
            [order_key],
        )
    else:
        subject = subject_key
    if subject is None:  # an order naming no customer: just this one
        return [order_key], None, "order"
    rows = con.execute(
        f"""
        SELECT order_key FROM {ORDERS.qualified}
        WHERE erased_at IS NULL AND subject_key = $subject
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
    """Per order being erased, its personal values longest first (replaced in free text),
    as the snapshot gathers them."""
    return dict(con.execute(personal_values_sql("SELECT order_key FROM erase_now")).fetchall())


def _scrub_text(text: str | None, values: list[str], phones: bool) -> str | None:
    """``text`` scrubbed as :func:`pipelines.lib.privacy.scrub_sql` scrubs it."""
    if text is None:
        return None
    out = text
    for value in values:
        out = re.sub(re.escape(value), ERASED, out, flags=re.IGNORECASE)
    out = _EMAIL.sub(ERASED, out)
    out = _QUOTED.sub(rf"\g<1>{ERASED}\g<2>", out)
    return _PHONE.sub(ERASED, out) if phones else out


def _free_text_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, list[str], tuple]]:
    """(table, its free-text columns, its link) of every stored table with text that can
    quote a customer: the operational tables, the quarantines and the marts alike."""
    found = []
    for qualified, text_columns, columns in con.execute(
        """
        SELECT c.table_schema || '.' || c.table_name,
               list(c.column_name) FILTER (WHERE c.data_type = 'VARCHAR'), list(c.column_name)
        FROM information_schema.columns c
        JOIN information_schema.tables t
          ON t.table_schema = c.table_schema AND t.table_name = c.table_name
         AND t.table_catalog = c.table_catalog
        WHERE t.table_type = 'BASE TABLE' AND c.table_schema IN ('oms', 'quality', 'analytics')
          AND t.table_catalog = current_database()
        GROUP BY 1 ORDER BY 1
        """
    ).fetchall():
        texts = [c for c in text_columns or [] if c in FREE_TEXT_COLUMNS]
        link = next((lk for lk in links("erase") if lk[0] in columns), None)
        if texts and link:
            found.append((qualified, texts, link))
    return found


def _scrub_free_text(con: duckdb.DuckDBPyConnection, people: dict[str, list[str]]) -> int:
    """Replace the customer's values in every free text of their orders; rows changed."""
    for statement in link_tables("erase", "SELECT order_key FROM erase_now"):
        con.execute(statement)
    changed = 0
    for table, texts, (column, mapping, key) in _free_text_tables(con):
        mapping, key = mapping or "erase_now", key or "order_key"
        text_cols = ", ".join(f't."{c}"' for c in texts)
        rows = con.execute(
            f"SELECT t.rowid, m.order_key, {text_cols} FROM {table} t "
            f"JOIN {mapping} m ON m.{key} = t.{column}::VARCHAR"
        ).fetchall()
        for rowid, order_key, *old in rows:
            values = people.get(order_key, [])
            new = [
                _scrub_text(v, values, c in PEOPLE_TEXT_COLUMNS and column == "order_key")
                for c, v in zip(texts, old, strict=True)
            ]
            if new == old:
                continue
            sets = ", ".join(f'"{c}" = ?' for c in texts)
            con.execute(f"UPDATE {table} SET {sets} WHERE rowid = ?", [*new, rowid])
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
    """The marts drop the customer's key now, not at the next build (their copied text is
    scrubbed with the rest: :func:`_scrub_free_text`)."""
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
                "(SELECT customer_key FROM erase_now WHERE customer_key IS NOT NULL)"
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
            SELECT order_key, coalesce($subject, subject_key) AS subject_key, customer_key
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
        for temp in (
            "erase_now",
            "erase_shipments",
            "erase_parcels",
            "erase_tracking",
            "erase_refs",
        ):
            con.execute(f"DROP TABLE IF EXISTS {temp}")
    return erasure_id, fresh, scrubbed


def record_files(
    con: duckdb.DuckDBPyConnection,
    erasure_id: str,
    orders: list[str],
    actions: list[FileAction],
    now: datetime,
    data_dir: Path,
) -> None:
    """Step 2's outcome: each file's action in ``oms.erasure_files``, removed messages no
    longer pointed at; the erasure is done."""
    removed = [a.path for a in actions if a.action == "removed"]
    # A run that stopped after removing messages but before this point left paths to nothing.
    removed += [
        path
        for (path,) in con.execute(
            "SELECT file_path FROM oms.notifications "
            "WHERE file_path IS NOT NULL AND list_contains(?, order_key)",
            [orders],
        ).fetchall()
        if not Path(path).exists() and Path(path).resolve().is_relative_to(data_dir.resolve())
    ]
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
            "WHERE list_contains(?, order_key) AND files_done_at IS NULL",
            [now, orders],
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
    # An earlier run that stopped between the warehouse and the files: this one finishes it,
    # but what that run did to files was not recorded (the files themselves are repaired).
    interrupted = bool(
        scalar(
            con,
            f"SELECT count(*) FROM {ERASURES.qualified} "
            "WHERE list_contains($keys, order_key) AND files_done_at IS NULL "
            "AND erasure_id <> $id",
            {"keys": orders, "id": erasure_id if fresh else ""},
        )
    )
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
    record_files(con, erasure_id, orders, actions, now, data_dir)
    return ErasureResult(erasure_id, orders, fresh, actions, scrubbed, interrupted)


def scrub_reexported(
    con: duckdb.DuckDBPyConnection, *, data_dir: Path, run_id: str, now: datetime
) -> list[FileAction]:
    """After an intake run: the files it archived that carried erased customers' data again
    (a channel re-exporting the order; the warehouse kept the fields empty) get the same
    rewrite as at the erasure, recorded under it. Nothing to do in the usual run."""
    from pipelines.lib.erasure_archive import ErasedOrder, scrub_archives

    if not scalar(con, f"SELECT count(*) FROM {ERASURES.qualified}"):
        return []
    rows = frame(
        con,
        f"""
        SELECT o.order_key, o.channel, o.source_format, o.external_order_id, o.order_number,
               max(e.erasure_id) AS erasure_id
        FROM {ORDERS.qualified} o JOIN {ERASURES.qualified} e USING (order_key)
        WHERE o.order_key IN (SELECT order_key FROM oms.order_events
                              WHERE event = 'personal_data_ignored' AND run_id = $run)
        GROUP BY ALL ORDER BY o.order_key
        """,
        {"run": run_id},
    )
    actions: list[FileAction] = []
    for (erasure_id,), group in rows.group_by("erasure_id", maintain_order=True):
        done = scrub_archives(
            con,
            data_dir=data_dir,
            orders=[ErasedOrder(**r) for r in group.drop("erasure_id").iter_rows(named=True)],
            erasure_id=erasure_id,
            now=now,
        )
        record_files(con, erasure_id, group["order_key"].to_list(), done, now, data_dir)
        actions += done
    return actions
