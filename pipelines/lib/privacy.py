"""Customer data kept to need: the keyed hash, the personal fields, postal prefixes.

Analysts and the reporting snapshot see customers only as a **keyed hash** (HMAC-SHA256 with
``OMS_PII_KEY``): stable across orders and channels, useless without the key, and computed
in DuckDB so a million orders take a second. Geography is the ship-to region and a **postal
prefix** (the first three characters; the outward code in the UK), never a street.

The key comes from the environment. Without one, outside production, a random key is made
once in ``<data>/secrets/pii.key`` (mode 600) so a fresh machine runs; production refuses to
start without ``OMS_PII_KEY``. Changing the key changes every customer key from the next
batch on (analysts would see the same people as new customers): set it once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

KEY_ENV = "OMS_PII_KEY"
#: Under the data folder, when the environment gives no key (dev and test only).
KEY_FILE = Path("secrets") / "pii.key"
#: Shortest key accepted from the environment (characters).
MIN_KEY_LENGTH = 16
#: Hex digits kept of a keyed hash (128 bits: no collision among any realistic customers).
HASH_HEX = 32

#: Fields of oms.orders that are personal: blanked on erasure, absent from the snapshot and
#: the marts. The postal code is cut to its prefix instead (POSTAL_PREFIX_SQL).
PERSONAL_ORDER_FIELDS = (
    "customer_name",
    "email",
    "phone",
    "ship_name",
    "ship_company",
    "ship_address1",
    "ship_address2",
    "ship_city",
    "notes",
)
#: Hold-decision fields whose corrected values are personal (hold_decisions.field).
PERSONAL_DECISION_FIELDS = (*PERSONAL_ORDER_FIELDS, "ship_postal_code")
#: What a scrubbed value in free text becomes.
ERASED = "[erased]"


class MissingKey(RuntimeError):
    """Production without ``OMS_PII_KEY``."""


def pii_key(data_dir: Path, environ: dict[str, str] | None = None) -> bytes:
    """The keyed-hash key: ``OMS_PII_KEY``, else (not in production) the local key file."""
    env = os.environ if environ is None else environ
    value = (env.get(KEY_ENV) or "").strip()
    if value:
        if len(value) < MIN_KEY_LENGTH:
            raise MissingKey(f"{KEY_ENV} is too short: give at least {MIN_KEY_LENGTH} characters")
        return value.encode("utf-8")
    if env.get("OMS_ENV") == "prod":
        raise MissingKey(
            f"{KEY_ENV} is not set: production needs the customer-hash key from the "
            "environment (deploy/secrets.example.env)"
        )
    path = Path(data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
        try:  # two processes or threads at once: the first key made wins, the other is dropped
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        log.warning("%s not set: made a local customer-hash key in %s", KEY_ENV, path)
    return path.read_text("utf-8").strip().encode("utf-8")


def keyed_hash(key: bytes, value: str) -> str:
    """The keyed hash of ``value`` in Python (the same as the SQL macro ``pii_hash``)."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:HASH_HEX]


def _blob(data: bytes) -> str:
    return "'" + "".join(f"\\x{b:02x}" for b in data) + "'::BLOB"


def install_hash(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Define the temporary macro ``pii_hash(text)`` on ``con``: HMAC-SHA256 with ``key``.

    The key lives only in this connection's temporary catalogue, never in a stored object.
    """
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    inner = _blob(bytes(b ^ 0x36 for b in block))
    outer = _blob(bytes(b ^ 0x5C for b in block))
    con.execute(
        "CREATE OR REPLACE TEMP MACRO pii_hash(v) AS "
        f"left(sha256({outer} || unhex(sha256({inner} || encode(v)))), {HASH_HEX})"
    )


def normalised_postal_sql(code: str) -> str:
    """A postal code upper-cased without spaces or hyphens ('94103-1234' → '941031234')."""
    return f"upper(regexp_replace(coalesce({code}, ''), '[\\s\\-]', '', 'g'))"


def postal_prefix_sql(code: str, country: str) -> str:
    """The postal prefix of ``code``: the outward code in the UK, else three characters.

    Three characters are a US sectional centre or a Canadian forward sortation area: a
    region of tens of thousands of households, never one street.
    """
    norm = normalised_postal_sql(code)
    return (
        f"CASE WHEN nullif({norm}, '') IS NULL THEN NULL "
        f"WHEN upper(coalesce({country}, '')) IN ('GB', 'UK') AND length({norm}) > 4 "
        f"THEN left({norm}, length({norm}) - 3) "
        f"ELSE left({norm}, 3) END"
    )


def zip5_sql(code: str, country: str) -> str:
    """A US ZIP+4's five-digit ZIP, else NULL: the tracking page accepts the ZIP alone."""
    norm = normalised_postal_sql(code)
    return (
        f"CASE WHEN upper(coalesce({country}, '')) = 'US' "
        f"AND regexp_full_match({norm}, '[0-9]{{9}}') THEN left({norm}, 5) END"
    )


def lookup_postal_keys(key: bytes, secret: str) -> tuple[str | None, str | None]:
    """(postal_key, postal5_key) a typed postal code would match: its normalised form, and a
    five-digit ZIP as the ZIP of a stored ZIP+4. None where nothing can match."""
    norm = re.sub(r"[\s\-]", "", secret or "").upper()
    if not norm:
        return None, None
    zip5 = keyed_hash(key, f"zip5:{norm}") if re.fullmatch(r"[0-9]{5}", norm) else None
    return keyed_hash(key, f"postal:{norm}"), zip5


def email_lookup_value(secret: str) -> str:
    """An email as it is matched: trimmed and lower-cased."""
    return (secret or "").strip().lower()


#: What an erasure can do to a file.
FILE_ACTIONS = ("rewritten", "removed", "needs_review")


@dataclass(frozen=True)
class FileAction:
    """What an erasure did to one file holding the customer's data.

    ``action``: ``rewritten`` (the customer's fields blanked, everyone else's kept),
    ``removed`` (the file held only this customer, or cannot be rewritten: deleted) or
    ``needs_review`` (it mentions the customer but cannot be read safely; left as it is).
    """

    path: str
    action: str
    kind: str
    detail: str


# --- keys on the orders ----------------------------------------------------------------------

#: The customer's identity, in order of preference (the same person across channels):
#: 1. email, trimmed and lower-cased (anything with an @ between two characters);
#: 2. else phone, digits only, a leading 1 dropped from 11 digits (the North American +1, so
#:    "+1 555-123-4567" and "(555) 123-4567" match); at least 7 digits;
#: 3. else the buyer's (else the recipient's) name, lower-cased with spaces collapsed, with
#:    the ship-to postal code upper-cased without spaces.
_IDENTITY_SQL = """
    WITH normalised AS (
        SELECT order_key,
               CASE WHEN lower(trim(email)) LIKE '_%@_%' THEN lower(trim(email)) END AS email_norm,
               regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g') AS phone_digits,
               nullif(lower(trim(regexp_replace(
                   coalesce(customer_name, ship_name, ''), '\\s+', ' ', 'g'))), '') AS name_norm,
               nullif(upper(regexp_replace(coalesce(ship_postal_code, ''), '\\s', '', 'g')), '')
                   AS postal_norm,
               nullif({postal}, '') AS lookup_postal,
               {zip5} AS zip5,
               {postal_prefix} AS postal_prefix
        FROM oms.orders
        WHERE erased_at IS NULL AND keyed_at IS DISTINCT FROM updated_at
    ),
    phones AS (
        SELECT *,
               CASE WHEN length(phone_digits) = 11 AND phone_digits LIKE '1%'
                        THEN phone_digits[2:]
                    WHEN length(phone_digits) >= 7 THEN phone_digits END AS phone_norm
        FROM normalised
    ),
    identified AS (
        SELECT *,
               CASE WHEN email_norm IS NOT NULL THEN 'email'
                    WHEN phone_norm IS NOT NULL THEN 'phone'
                    WHEN name_norm IS NOT NULL AND postal_norm IS NOT NULL
                        THEN 'name_postal_code' END AS identified_by,
               coalesce(email_norm, phone_norm, name_norm || '|' || postal_norm) AS identity
        FROM phones
    ),
    hashed AS (
        SELECT *, pii_hash(identified_by || ':' || identity) AS subject_key FROM identified
    ),
    forgotten AS (  -- a person erased before: their new orders start a new customer
        SELECT subject_key, count(DISTINCT erasure_id) AS times
        FROM oms.erasures WHERE subject_key IS NOT NULL GROUP BY subject_key
    )
    SELECT h.order_key, h.identified_by, h.postal_prefix,
           CASE WHEN h.identity IS NULL THEN NULL
                WHEN f.times IS NULL THEN h.subject_key
                ELSE pii_hash(h.identified_by || ':' || h.identity || '#' || f.times) END
               AS customer_key,
           h.subject_key, f.times IS NOT NULL AS after_erasure,
           CASE WHEN h.email_norm IS NOT NULL THEN pii_hash('email:' || h.email_norm) END
               AS email_key,
           CASE WHEN h.lookup_postal IS NOT NULL THEN pii_hash('postal:' || h.lookup_postal) END
               AS postal_key,
           CASE WHEN h.zip5 IS NOT NULL THEN pii_hash('zip5:' || h.zip5) END AS postal5_key
    FROM hashed h LEFT JOIN forgotten f USING (subject_key)
"""


def identity_sql() -> str:
    return _IDENTITY_SQL.format(
        postal=normalised_postal_sql("ship_postal_code"),
        zip5=zip5_sql("ship_postal_code", "ship_country"),
        postal_prefix=postal_prefix_sql("ship_postal_code", "ship_country"),
    )


def assign_privacy_keys(con: duckdb.DuckDBPyConnection, key: bytes) -> int:
    """Set the keyed hashes (and postal prefix) of every order new or changed since they were
    last computed.

    Orders of a customer erased before get a new customer key (the hash also covers how many
    times they were erased) and an event saying so: a returning customer is never silently
    joined to the history they asked to be forgotten. Returns the orders keyed.
    """
    from pipelines.lib.warehouse import transaction  # warehouse imports this module

    install_hash(con, key)
    con.execute(f"CREATE OR REPLACE TEMP TABLE privacy_keys AS {identity_sql()}")
    keyed = con.execute("SELECT count(*) FROM privacy_keys").fetchall()[0][0]
    if not keyed:
        con.execute("DROP TABLE privacy_keys")
        return 0
    try:
        with transaction(con):
            con.execute(
                """
                UPDATE oms.orders AS o
                SET customer_key = k.customer_key, identified_by = k.identified_by,
                    subject_key = CASE WHEN k.identified_by IS NOT NULL THEN k.subject_key END,
                    ship_postal_prefix = k.postal_prefix,
                    email_key = k.email_key, postal_key = k.postal_key,
                    postal5_key = k.postal5_key, keyed_at = o.updated_at
                FROM privacy_keys k WHERE o.order_key = k.order_key
                """,
            )
            con.execute(
                """
                INSERT INTO oms.order_events BY NAME
                SELECT md5(k.order_key || '|customer_previously_erased') AS event_id, k.order_key,
                       'customer_previously_erased' AS event, o.updated_at AS "at",
                       'this customer asked to be forgotten before; the order starts a new '
                       || 'customer record, not linked to the erased orders' AS detail,
                       o.run_id
                FROM privacy_keys k JOIN oms.orders o USING (order_key)
                WHERE k.after_erasure AND md5(k.order_key || '|customer_previously_erased')
                    NOT IN (SELECT event_id FROM oms.order_events
                            WHERE event = 'customer_previously_erased')
                """
            )
    finally:
        con.execute("DROP TABLE IF EXISTS privacy_keys")
    return keyed


# --- what the snapshots carry ----------------------------------------------------------------

#: Most personal values of one order replaced in its free text (9 fields and corrections,
#: each as written and in capitals; more is beyond any real order).
MAX_VALUES = 24
#: Text columns that can quote a customer, in whatever table or view carries them (the dbt
#: staging views and marts copy them): hold findings, event details, notes, carrier scans
#: (a delivery scan names the customer's city and ZIP), quarantined records, messages.
FREE_TEXT_COLUMNS = (
    "detail",
    "note",
    "resolution_note",
    "status_detail",
    "status_reason",
    "message",
    "location",
    "record",
    "subject",
    "explanation",
    "last_error",
)
#: Of those, the ones people type: any phone-like number in them goes too (not in system
#: text, where tracking numbers, order numbers and file names look like phone numbers).
PEOPLE_TEXT_COLUMNS = ("note", "resolution_note")
#: Columns no published table or view carries (oms.orders keeps its keyed hashes and prefix).
NEVER_PUBLISHED = (*PERSONAL_ORDER_FIELDS, "ship_postal_code", "recipient", "subject_key")
#: Tables the reporting snapshot leaves out: the erasure register names who was forgotten.
NOT_PUBLISHED = ("oms.erasures", "oms.erasure_files")
EMAIL_RE = r"[^\s\"'<>(),;:]+@[^\s\"'<>(),;:]+\.[A-Za-z]{2,}"
#: A phone number: North American (10 digits, optionally +1, in the usual groupings) or
#: international (+ and a country code). Dates, times and short ids do not look like one.
PHONE_RE = (
    r"(?:\+?1[ .\-]?)?\(?\b[0-9]{3}\)?[ .\-]?[0-9]{3}[ .\-]?[0-9]{4}\b"
    r"|\+[0-9]{1,3}(?:[ .\-]?[0-9]{2,4}){2,5}\b"
)
#: A finding quoting the value that failed: `email "ana@example" is not valid`.
QUOTED_RE = r'((?:email|phone|postal code|address|name) ")[^"]*(")'


def links(prefix: str) -> tuple[tuple[str, str | None, str | None], ...]:
    """How a row leads to its order, by the first of these columns it has: (column, the
    table of :func:`link_tables` mapping it to an order key, that table's column); an
    ``order_key`` column leads there itself."""
    return (
        ("order_key", None, None),
        ("shipment_id", f"{prefix}_shipments", "shipment_id"),
        ("parcel_id", f"{prefix}_parcels", "parcel_id"),
        ("tracking_number", f"{prefix}_tracking", "tracking_number"),
        ("order_ref", f"{prefix}_refs", "ref"),
    )


def link_tables(prefix: str, orders: str | None = None) -> list[str]:
    """Statements making the temporary tables of :func:`links` (``<prefix>_shipments``,
    ``_parcels``, ``_tracking``, ``_refs``), for every order or only ``orders`` (a SQL
    query of order keys)."""
    of = f"WHERE order_key IN ({orders})" if orders else ""
    return [
        f"CREATE OR REPLACE TEMP TABLE {prefix}_shipments AS "
        f"SELECT shipment_id, order_key FROM oms.shipments {of}",
        f"CREATE OR REPLACE TEMP TABLE {prefix}_parcels AS "
        "SELECT any_value(s.order_key) AS order_key, p.parcel_id, p.tracking_number "
        f"FROM oms.parcels p JOIN {prefix}_shipments s USING (shipment_id) GROUP BY ALL",
        f"CREATE OR REPLACE TEMP TABLE {prefix}_tracking AS "
        f"SELECT tracking_number, any_value(order_key) AS order_key FROM {prefix}_parcels "
        "WHERE tracking_number IS NOT NULL GROUP BY tracking_number",
        f"""
        CREATE OR REPLACE TEMP TABLE {prefix}_refs AS
        SELECT ref, any_value(order_key) AS order_key FROM (
            SELECT order_key AS ref, order_key FROM oms.orders
            UNION ALL SELECT order_number, order_key FROM oms.orders
            UNION ALL SELECT external_order_id, order_key FROM oms.orders)
        WHERE ref IS NOT NULL {of.replace("WHERE", "AND")} GROUP BY ref
        """,
    ]


def personal_values_sql(orders: str | None = None, limit: int | None = None) -> str:
    """(order_key, personal_values) of every order or only ``orders`` (a SQL query of order
    keys): its personal values and those ops corrected away, trimmed, as written and in
    capitals, at least 3 characters, longest first (at most ``limit``)."""
    fields = ", ".join(PERSONAL_DECISION_FIELDS)
    personal = ", ".join(f"'{f}'" for f in PERSONAL_DECISION_FIELDS)
    of = f"AND order_key IN ({orders})" if orders else ""
    cut = f"[:{limit}]" if limit else ""
    return f"""
        SELECT order_key, list(v ORDER BY length(v) DESC, v){cut} AS personal_values
        FROM (
            SELECT DISTINCT order_key, unnest([trim(v), upper(trim(v))]) AS v FROM (
                SELECT order_key, unnest([{fields}]) AS v FROM oms.orders WHERE true {of}
                UNION ALL  -- what ops corrected away is the customer's too
                SELECT order_key, unnest([value, previous_value]) FROM oms.hold_decisions
                WHERE lower(field) IN ({personal}) {of})
            WHERE length(trim(v)) >= 3)
        GROUP BY order_key
    """


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def scrub_sql(text: str, person: str | None, *, phones: bool = False) -> str:
    """SQL for ``text`` with the order's personal values (``person``.personal_values: its
    current values and those ops corrected away, as written and in capitals, longest
    first, so "Ann Whitfield" goes whole before "Ann") replaced by ``[erased]``, as well as
    any email address and any value a finding quotes; with ``phones``, phone numbers too.
    Without ``person`` (a row not tied to an order) only the patterns apply."""
    out = text
    if person is not None:
        # A fixed chain of plain replaces (a pattern per row would be compiled per row: 20
        # times slower); chr(0) never occurs in text, so a missing value replaces nothing.
        for i in range(1, MAX_VALUES + 1):
            value = f"coalesce({person}.personal_values[{i}], chr(0))"
            out = f"replace({out}, {value}, '{ERASED}')"
    out = f"regexp_replace({out}, {_literal(EMAIL_RE)}, '{ERASED}', 'g')"
    out = f"regexp_replace({out}, {_literal(QUOTED_RE)}, '\\1{ERASED}\\2', 'g')"
    if phones:
        out = f"regexp_replace({out}, {_literal(PHONE_RE)}, '{ERASED}', 'g')"
    return out


def _personal_fields_pattern() -> str:
    return "|".join(PERSONAL_DECISION_FIELDS)


def _snapshot_setup() -> list[str]:
    """Temporary tables the scrubbing joins: every order's personal values (and the values
    ops corrected away), and how shipments, parcels and references lead to orders."""
    people = personal_values_sql(limit=MAX_VALUES)
    return [
        f"CREATE OR REPLACE TEMP TABLE snapshot_people AS {people}",
        *link_tables("snapshot"),
    ]


def published_select(qualified: str, columns: list[tuple[str, str]]) -> str:
    """The SELECT that publishes one table or view, given its (column, type)s: personal
    columns left out, every free text scrubbed (joined to its order's personal values where
    the row leads to one). Only text columns count, whatever their name."""
    schema, name = qualified.split(".", 1)
    source = f'{schema}."{name}"'
    text_columns = {c for c, kind in columns if kind == "VARCHAR"}
    names = [c for c, _ in columns]
    dropped = [c for c in names if c in NEVER_PUBLISHED]
    texts = [c for c in names if c in FREE_TEXT_COLUMNS and c in text_columns]
    replaced: list[str] = []
    link = next((lk for lk in links("snapshot") if lk[0] in names), None) if texts else None
    person = "p" if link else None
    for c in texts:
        # Phone numbers only in what people typed about an order (a stock note's shipment
        # and purchase-order ids are nobody's phone).
        phones = c in PEOPLE_TEXT_COLUMNS and link is not None and link[0] == "order_key"
        scrubbed = scrub_sql(f't."{c}"', person, phones=phones)
        if c == "detail" and "event" in text_columns:
            # A correction of a personal field names the field, never the values.
            field_re = f"^({_personal_fields_pattern()}) corrected from "
            scrubbed = (
                f"CASE WHEN t.event = 'corrected' AND regexp_matches(t.detail, '{field_re}') "
                "THEN regexp_extract(t.detail, '^([a-z0-9_]+)', 1) "
                "|| ' corrected (personal data: values not shown)' "
                f"ELSE {scrubbed} END"
            )
        replaced.append(f'{scrubbed} AS "{c}"')
    if {"field", "value", "previous_value"} <= text_columns:
        personal = ", ".join(f"'{f}'" for f in PERSONAL_DECISION_FIELDS)
        for c in ("value", "previous_value"):
            replaced.append(
                f'CASE WHEN lower(t.field) IN ({personal}) THEN NULL ELSE t."{c}" END AS "{c}"'
            )
    star = "t.*"
    if dropped:
        star += f" EXCLUDE ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in dropped)})"
    if replaced:
        star += f" REPLACE ({', '.join(replaced)})"
    join = ""
    if link is not None:
        column, table, key = link
        if table is None:
            join = f" LEFT JOIN snapshot_people p ON p.order_key = t.{column}::VARCHAR"
        else:
            join = (
                f" LEFT JOIN {table} l ON l.{key} = t.{column}::VARCHAR"
                " LEFT JOIN snapshot_people p ON p.order_key = l.order_key"
            )
    return f"SELECT {star} FROM {source} t{join}"


def reporting_selects(
    objects: dict[str, list[tuple[str, str]]],
) -> tuple[list[str], dict[str, str]]:
    """(setup statements, SELECT per published table) for the reporting snapshot, from
    ``objects``: each table or view to publish and its (column, type)s."""
    selects = {
        qualified: published_select(qualified, columns)
        for qualified, columns in objects.items()
        if qualified not in NOT_PUBLISHED
    }
    return _snapshot_setup(), selects


#: Order statuses the ops workspace no longer works on.
_DONE = ("shipped", "delivered", "cancelled", "partially_returned", "returned")


def ops_selects() -> tuple[list[str], dict[str, str]]:
    """(setup, SELECT per table) for the ops snapshot: full details, only of the orders the
    ops workspace works on — those with an open hold, and phone and email orders staff
    entered that are not done yet — and the latest decisions (their notes and corrected
    personal values only for those orders)."""
    done = ", ".join(f"'{s}'" for s in _DONE)
    setup = [
        f"""
        CREATE OR REPLACE TEMP TABLE ops_orders AS
        SELECT order_key FROM oms.order_holds WHERE resolved_at IS NULL
        UNION
        SELECT order_key FROM oms.orders
        WHERE channel IN ('phone', 'email') AND status NOT IN ({done}) AND erased_at IS NULL
        """
    ]
    mine = "WHERE order_key IN (SELECT order_key FROM ops_orders)"
    personal = ", ".join(f"'{f}'" for f in PERSONAL_DECISION_FIELDS)
    elsewhere = "order_key NOT IN (SELECT order_key FROM ops_orders)"
    outside = f"lower(field) IN ({personal}) AND {elsewhere}"
    return setup, {
        "oms.orders": f"SELECT * FROM oms.orders {mine}",
        "oms.order_lines": f"SELECT * FROM oms.order_lines {mine}",
        "oms.order_holds": f"SELECT * FROM oms.order_holds {mine} AND resolved_at IS NULL",
        # The latest decisions (ops' own record of what they did); a note or a corrected
        # personal value only while its order is still worked on.
        "oms.hold_decisions": f"""
            SELECT * REPLACE (
                CASE WHEN {outside} THEN NULL ELSE value END AS value,
                CASE WHEN {outside} THEN NULL ELSE previous_value END AS previous_value,
                CASE WHEN {elsewhere} THEN NULL ELSE note END AS note)
            FROM oms.hold_decisions
            ORDER BY applied_at DESC NULLS FIRST, decided_at DESC LIMIT 200
        """,
    }
