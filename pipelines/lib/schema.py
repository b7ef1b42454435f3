"""The one source of truth for every table the platform writes.

Each table is declared once as a :class:`Table`; the DuckDB DDL, the Polars schema and the
column documentation (``oms schema``) are all derived from it. Adding a column here is all a
later stage needs to do: :func:`pipelines.lib.warehouse.migrate` adds it to an existing
warehouse without touching the rows already there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

#: Bumped whenever a table or column is added; recorded in ``raw.schema_version``.
SCHEMA_VERSION = 10

MONEY = "DECIMAL(18,2)"

_POLARS_TYPES: dict[str, pl.DataType] = {
    "VARCHAR": pl.String(),
    "BIGINT": pl.Int64(),
    "INTEGER": pl.Int32(),
    "DOUBLE": pl.Float64(),
    "BOOLEAN": pl.Boolean(),
    "DATE": pl.Date(),
    "TIMESTAMPTZ": pl.Datetime("us", "UTC"),
    MONEY: pl.Decimal(18, 2),
}


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    doc: str
    nullable: bool = True

    @property
    def polars_type(self) -> pl.DataType:
        return _POLARS_TYPES[self.sql_type]

    @property
    def ddl(self) -> str:
        return f'"{self.name}" {self.sql_type}{"" if self.nullable else " NOT NULL"}'


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    doc: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = field(default=())

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.polars_type for c in self.columns})

    def create_sql(self) -> str:
        parts = [c.ddl for c in self.columns]
        if self.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        body = ",\n    ".join(parts)
        return f"CREATE TABLE IF NOT EXISTS {self.qualified} (\n    {body}\n)"

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema)

    def conform(self, df: pl.DataFrame, only: tuple[str, ...] | None = None) -> pl.DataFrame:
        """Return ``df`` with exactly this table's columns (or ``only`` those), typed.

        Missing nullable columns are added as nulls; extra columns are dropped. A missing
        NOT NULL column is a programming error and raises.
        """
        exprs = []
        for c in self.columns:
            if only is not None and c.name not in only:
                continue
            if c.name in df.columns:
                exprs.append(pl.col(c.name).cast(c.polars_type))
            elif c.nullable:
                exprs.append(pl.lit(None, dtype=c.polars_type).alias(c.name))
            else:
                raise KeyError(f"{self.qualified}: required column {c.name!r} is missing")
        return df.select(exprs)


def _lineage() -> tuple[Column, ...]:
    return (
        Column("source_file", "VARCHAR", "Name of the inbox file the row came from.", False),
        Column("source_row", "BIGINT", "1-based record number inside that file.", False),
        Column("run_id", "VARCHAR", "Batch run that last wrote the row.", False),
    )


# --- vocabularies ---------------------------------------------------------------------------

CHANNELS = ("shopify", "woocommerce", "amazon", "phone", "email", "exchange")
SERVICE_LEVELS = ("overnight", "expedited", "standard")
ORDER_STATUSES = (
    "received",
    "on_hold",
    "ready",
    "allocated",
    "partially_allocated",
    "backordered",
    "released",
    "partially_shipped",
    "shipped",
    "delivered",
    "cancelled",
    "partially_returned",
    "returned",
)
PAYMENT_STATUSES = (
    "paid",
    "authorized",
    "pending",
    "on_account",
    "partially_paid",
    "partially_refunded",
    "refunded",
    "voided",
    "failed",
    "unknown",
)
FILE_STATUSES = ("processed", "rejected", "duplicate")
#: Why an order is held (or warned about); one vocabulary for rules, queue and analytics.
HOLD_REASONS = (
    "AWAITING_PAYMENT",
    "INCORRECT_ADDRESS",
    "UNKNOWN_SKU",
    "INVALID_QUANTITY",
    "PRICE_MISMATCH",
    "DUPLICATE_ORDER",
    "UNSERVICEABLE_DESTINATION",
    "HIGH_RISK",
)
#: hold stops the order; warn records the finding and lets the order proceed.
SEVERITIES = ("hold", "warn")
#: How a hold (or warning) ended.
HOLD_RESOLUTIONS = ("cleared", "released", "cancelled")
DECISION_ACTIONS = ("release", "cancel", "correct")
DECISION_STATUSES = ("applied", "rejected")
#: Why stock moved. Counts and snapshots move on_hand by the difference from the book
#: figure; commit/release move committed; ship moves both (docs/inventory.md).
MOVEMENT_REASONS = (
    "snapshot",
    "count",
    "receipt",
    "adjustment",
    "commit",
    "release",
    "ship",
    "return_restock",
    "scrap",
)
#: committed holds stock for the line; released: it is in a pick wave (still holding the
#: stock); shipped: it left on a closed manifest (a ship movement took it off on_hand and
#: committed); cancelled (the order was cancelled) and withdrawn (the order changed, went back
#: on hold, or the stock behind it was counted short) gave the stock back with a release
#: movement.
ALLOCATION_STATUSES = ("committed", "released", "shipped", "cancelled", "withdrawn")
#: Pick waves, their tasks and shipments move through these (parcels follow shipments);
#: shipped once their parcels are on a closed carrier manifest.
FULFILMENT_STATUSES = ("released", "picked", "packed", "shipped", "cancelled")
#: Where a shipped parcel (and so its shipment) is, from the carrier's tracking events.
CARRIER_STATUSES = (
    "shipped",
    "in_transit",
    "out_for_delivery",
    "available_for_pickup",
    "delivered",
    "delivery_failed",
    "returned_to_sender",
    "exception",
)
#: A customer notification's life: queued (rendered, waiting to be sent or for a gateway),
#: sent, failed (permanently, or after the last attempt), skipped (never to be sent: no
#: address, no consent, the order moved on).
NOTIFICATION_STATUSES = ("queued", "sent", "failed", "skipped")
NOTIFICATION_CHANNELS = ("email", "sms")
#: Allocation statuses that hold stock (count as committed on the ledger).
HOLDING_STOCK = ("committed", "released")
#: Allocation statuses whose units are taken care of for their line (no longer open).
COVERING = (*HOLDING_STOCK, "shipped")
ALLOCATION_RULES = ("single", "split")
BACKORDER_STATUSES = ("open", "filled", "cancelled")
#: Why a customer sends units back (the merchant's faults refund shipping and never pay a
#: restocking fee: pipelines.lib.refunds.MERCHANT_FAULT).
RETURN_REASONS = (
    "NOT_WANTED",
    "DEFECTIVE",
    "WRONG_ITEM",
    "SIZE_EXCHANGE",
    "DAMAGED_IN_TRANSIT",
    "OTHER",
)
RETURN_RESOLUTIONS = ("refund", "exchange", "store_credit")
#: A return line's life: requested (read from a request file), authorized (RMA number and
#: label issued) or rejected (with the reason), received (some units inspected, more
#: expected), inspected (every unit accounted for; the refund or exchange is waiting, e.g. for
#: review), completed (refunded, exchanged, or nothing to settle).
RETURN_STATUSES = ("requested", "authorized", "rejected", "received", "inspected", "completed")
#: What the warehouse found per unit group: only RESTOCK goes back on hand (and so to ATP);
#: REFURBISH, DAMAGED and SCRAP stay in the returns area (oms.return_inspections); MISSING
#: units never arrived.
DISPOSITIONS = ("RESTOCK", "REFURBISH", "DAMAGED", "SCRAP", "MISSING")
REFUND_METHODS = ("original", "store_credit")
#: no_stock: not enough ATP anywhere; ship_complete: no single warehouse could fill the
#: order and it may not split; split_limit: stock was left elsewhere but max_splits
#: warehouses were already used.
BACKORDER_REASONS = ("no_stock", "ship_complete", "split_limit")
#: Channels the platform sends feeds back to, in their own import formats.
FEED_CHANNELS = ("amazon", "shopify", "woocommerce")
#: shipment_confirmation: what shipped, with tracking; stock: sellable quantity per SKU.
FEED_KINDS = ("shipment_confirmation", "stock")
#: incremental: what is new or changed since the last feed; full: every SKU (on demand);
#: resend: the same records as an earlier feed, written again for a failed hand-off;
#: baseline: parcels shipped before the warehouse had channel feeds, recorded as confirmed
#: without a file (the channels heard of them some other way).
FEED_MODES = ("incremental", "full", "resend", "baseline")


# --- tables ---------------------------------------------------------------------------------

FILES = Table(
    "raw",
    "files",
    "File registry: every file the inbox ever received, recognised by its content hash.",
    (
        Column("receipt_id", "VARCHAR", "One receipt of a file: hash prefix, run and name.", False),
        Column("file_id", "VARCHAR", "SHA-256 of the file's bytes (the file's identity).", False),
        Column("file_name", "VARCHAR", "Name the file had in the inbox.", False),
        Column("size_bytes", "BIGINT", "Size of the file in bytes.", False),
        Column("detected_format", "VARCHAR", "Adapter that recognised the content."),
        Column("channel", "VARCHAR", "Sales channel of the orders in the file."),
        Column("status", "VARCHAR", ", ".join(FILE_STATUSES) + ".", False),
        Column("reason", "VARCHAR", "Why a file was rejected (with line/byte)."),
        Column("orders", "BIGINT", "Orders read from the file."),
        Column("lines", "BIGINT", "Order lines read from the file."),
        Column("received_at", "TIMESTAMPTZ", "When the batch picked the file up.", False),
        Column("stored_path", "VARCHAR", "Where the file lies now (archive or rejected)."),
        Column("run_id", "VARCHAR", "Batch run that handled the file.", False),
    ),
    primary_key=("receipt_id",),
)

ORDERS = Table(
    "oms",
    "orders",
    "Canonical orders: one row per order_key, whatever channel it came from.",
    (
        Column(
            "order_key", "VARCHAR", "'{channel}:{external_order_id}', the order's identity.", False
        ),
        Column("channel", "VARCHAR", "Sales channel: " + ", ".join(CHANNELS) + ".", False),
        Column(
            "source_format",
            "VARCHAR",
            "Adapter that read it (shopify_csv, amazon_tsv, ...).",
            False,
        ),
        Column("external_order_id", "VARCHAR", "The order's id in its channel.", False),
        Column("order_number", "VARCHAR", "Number the customer sees (#1050, 114-...)."),
        Column("ordered_at", "TIMESTAMPTZ", "When the customer placed the order (UTC).", False),
        Column(
            "ordered_at_offset",
            "VARCHAR",
            "UTC offset the channel gave the timestamp, e.g. -05:00.",
        ),
        Column("channel_status", "VARCHAR", "Status as the channel wrote it."),
        Column("status", "VARCHAR", "Lifecycle status: " + ", ".join(ORDER_STATUSES) + ".", False),
        Column("customer_name", "VARCHAR", "Buyer's name."),
        Column("email", "VARCHAR", "Buyer's email."),
        Column("phone", "VARCHAR", "Buyer's phone, as given."),
        Column("accepts_marketing", "BOOLEAN", "Consent to non-transactional messages."),
        Column("ship_name", "VARCHAR", "Recipient name."),
        Column("ship_company", "VARCHAR", "Recipient company."),
        Column("ship_address1", "VARCHAR", "Street address, first line."),
        Column("ship_address2", "VARCHAR", "Street address, second line."),
        Column("ship_city", "VARCHAR", "City."),
        Column("ship_region", "VARCHAR", "State/province code or name."),
        Column("ship_postal_code", "VARCHAR", "Postal code (apostrophe prefixes stripped)."),
        Column("ship_country", "VARCHAR", "ISO 3166-1 alpha-2 country code."),
        Column("currency", "VARCHAR", "ISO 4217 currency code."),
        Column("subtotal", MONEY, "Sum of line totals before order-level discount."),
        Column("shipping_amount", MONEY, "Shipping charged."),
        Column("tax_amount", MONEY, "Tax charged."),
        Column("discount_amount", MONEY, "Order-level discount."),
        Column("order_total", MONEY, "What the customer pays."),
        Column(
            "channel_refunded",
            MONEY,
            "What the channel says it refunded itself (Shopify Refunded Amount, WooCommerce "
            "refunds); the returns stage counts it so money is never refunded twice.",
        ),
        Column(
            "prices_include_tax",
            "BOOLEAN",
            "True when prices already include tax (totals add up without tax_amount).",
        ),
        Column("payment_method", "VARCHAR", "Payment method as named by the channel."),
        Column("payment_status", "VARCHAR", "Canonical: " + ", ".join(PAYMENT_STATUSES) + "."),
        Column("service_level", "VARCHAR", "Canonical: " + ", ".join(SERVICE_LEVELS) + ".", False),
        Column("ship_by", "TIMESTAMPTZ", "Latest ship time promised to the channel (UTC)."),
        Column("ship_complete", "BOOLEAN", "True when the order may not be split.", False),
        Column(
            "fulfilled_by_channel",
            "BOOLEAN",
            "True when the channel says the whole order was already fulfilled outside the "
            "platform (Shopify fulfilled, Amazon Shipped, WooCommerce completed): never shipped "
            "from our stock.",
        ),
        Column("cancelled_at", "TIMESTAMPTZ", "When the channel cancelled the order."),
        Column("notes", "VARCHAR", "Customer or staff notes."),
        Column(
            "original_order_key",
            "VARCHAR",
            "Exchange orders: the order whose returned units this one replaces.",
        ),
        Column("source_message_id", "VARCHAR", "Message-ID of the email that carried the file."),
        Column("received_at", "TIMESTAMPTZ", "When the platform first saw the order.", False),
        Column("updated_at", "TIMESTAMPTZ", "When the canonical order last changed.", False),
        Column(
            "validated_at",
            "TIMESTAMPTZ",
            "When validation last judged the order; older than updated_at means due again.",
        ),
        *_lineage(),
        # Privacy (pipelines/lib/privacy.py): keyed hashes, so analysts and the tracking page
        # work without the personal fields; set before every analytics build.
        Column(
            "customer_key",
            "VARCHAR",
            "The customer, as a keyed hash (HMAC-SHA256 with OMS_PII_KEY) of the normalised "
            "email, else phone, else name and postal code; null when the order gives none of "
            "them, or after erasure.",
        ),
        Column(
            "identified_by",
            "VARCHAR",
            "What customer_key hashes: email, phone or name_postal_code; erased after erasure.",
        ),
        Column(
            "subject_key",
            "VARCHAR",
            "The person's keyed hash whatever erasures came before (customer_key also counts "
            "them): what an erasure by order key looks for. Never published.",
        ),
        Column(
            "ship_postal_prefix",
            "VARCHAR",
            "The postal code's first three characters (UK: the outward code): geography for "
            "analysts without the street.",
        ),
        Column("email_key", "VARCHAR", "Keyed hash of the email (the tracking page's lookup)."),
        Column(
            "postal_key",
            "VARCHAR",
            "Keyed hash of the normalised ship-to postal code: the tracking page's lookup.",
        ),
        Column(
            "postal5_key",
            "VARCHAR",
            "US ZIP+4 only: keyed hash of its 5-digit ZIP, which the tracking page accepts too.",
        ),
        Column(
            "keyed_at",
            "TIMESTAMPTZ",
            "The order's updated_at when the keys above were computed (differs: due again).",
        ),
        Column(
            "erased_at",
            "TIMESTAMPTZ",
            "When the customer's personal fields were erased (oms forget-customer); a later "
            "export of the order never brings them back.",
        ),
    ),
    primary_key=("order_key",),
)

ORDER_LINES = Table(
    "oms",
    "order_lines",
    "Canonical order lines: one row per (order_key, line_no).",
    (
        Column("order_key", "VARCHAR", "Order the line belongs to.", False),
        Column("line_no", "INTEGER", "1-based position of the line in its order.", False),
        Column("external_line_id", "VARCHAR", "The line's id in its channel (order-item-id, ...)."),
        Column("sku", "VARCHAR", "Stock keeping unit as the channel sent it."),
        Column("product_name", "VARCHAR", "Product name as the channel sent it."),
        Column("quantity", "BIGINT", "Units ordered (validated to be >= 1 later)."),
        Column("unit_price", MONEY, "Price of one unit before line discount."),
        Column("line_discount", MONEY, "Discount on the whole line."),
        Column("line_total", MONEY, "quantity x unit_price - line_discount."),
        Column("requires_shipping", "BOOLEAN", "False for digital goods and services.", False),
        *_lineage(),
    ),
)

ORDER_EVENTS = Table(
    "oms",
    "order_events",
    "Append-only history of every order's transitions; read by tracking, notices, analytics.",
    (
        Column(
            "event_id", "VARCHAR", "Deterministic id, so a repeated event is stored once.", False
        ),
        Column("order_key", "VARCHAR", "Order the event is about.", False),
        Column(
            "event", "VARCHAR", "What happened: received, updated, cancelled, on_hold, ...", False
        ),
        Column("at", "TIMESTAMPTZ", "When it happened (UTC).", False),
        Column("detail", "VARCHAR", "Human-readable detail."),
        Column("run_id", "VARCHAR", "Batch run that recorded it.", False),
    ),
)

ORDER_HOLDS = Table(
    "oms",
    "order_holds",
    "The exception queue: one row per finding of a validation rule on an order, open until "
    "cleared by a later validation, released or cancelled by ops.",
    (
        Column("hold_id", "VARCHAR", "Deterministic id (order, rule, run that opened it).", False),
        Column("order_key", "VARCHAR", "Order held (or warned about).", False),
        Column("rule", "VARCHAR", "Validation rule that found it (validation.toml).", False),
        Column("reason", "VARCHAR", "Hold reason: " + ", ".join(HOLD_REASONS) + ".", False),
        Column("severity", "VARCHAR", "hold (stops the order) or warn (recorded only).", False),
        Column("detail", "VARCHAR", "Human-readable finding, from the failing rows.", False),
        Column("opened_at", "TIMESTAMPTZ", "When validation first found it.", False),
        Column("opened_run_id", "VARCHAR", "Batch run that found it.", False),
        Column("resolved_at", "TIMESTAMPTZ", "When it ended; null while open."),
        Column("resolution", "VARCHAR", "How it ended: " + ", ".join(HOLD_RESOLUTIONS) + "."),
        Column("resolved_by", "VARCHAR", "Who ended it: a person's name, or 'validation'."),
        Column("resolution_note", "VARCHAR", "Why (the decision's note, or what changed)."),
        Column("resolved_run_id", "VARCHAR", "Batch run that ended it."),
    ),
    primary_key=("hold_id",),
)

HOLD_DECISIONS = Table(
    "oms",
    "hold_decisions",
    "Ops decisions on held orders (release, cancel, correct), as received from decisions "
    "files, with what became of each; a rejected decision keeps its reason.",
    (
        Column("decision_id", "VARCHAR", "The file's decision_id, else file hash + row.", False),
        Column("order_key", "VARCHAR", "Order decided on.", False),
        Column("action", "VARCHAR", ", ".join(DECISION_ACTIONS) + ".", False),
        Column("reason", "VARCHAR", "release: only holds with this reason (blank: all)."),
        Column("field", "VARCHAR", "correct: the field corrected."),
        Column("line_no", "INTEGER", "correct: the line, for line fields (sku, quantity)."),
        Column("value", "VARCHAR", "correct: the new value."),
        Column("previous_value", "VARCHAR", "correct: the value it replaced."),
        Column("note", "VARCHAR", "Why, in the decider's words."),
        Column("decided_by", "VARCHAR", "Who decided.", False),
        Column("decided_at", "TIMESTAMPTZ", "When they decided (UTC).", False),
        Column("status", "VARCHAR", ", ".join(DECISION_STATUSES) + ".", False),
        Column("outcome", "VARCHAR", "What was done, or why the decision was rejected.", False),
        Column("applied_at", "TIMESTAMPTZ", "When the batch handled it.", False),
        *_lineage(),
    ),
    primary_key=("decision_id",),
)

EXPECTATION_RESULTS = Table(
    "quality",
    "expectation_results",
    "Great Expectations results per validation run: one row per expectation of each suite.",
    (
        Column("run_id", "VARCHAR", "Batch run that validated.", False),
        Column("validated_at", "TIMESTAMPTZ", "When.", False),
        Column("suite", "VARCHAR", "Expectation suite (orders, order_lines).", False),
        Column("rule", "VARCHAR", "Rule the expectation belongs to.", False),
        Column("expectation", "VARCHAR", "GX expectation type and column(s).", False),
        Column("severity", "VARCHAR", "hold or warn (from the rule).", False),
        Column("success", "BOOLEAN", "True when no row failed.", False),
        Column("element_count", "BIGINT", "Rows evaluated.", False),
        Column("unexpected_count", "BIGINT", "Rows that failed.", False),
        Column("orders_affected", "BIGINT", "Distinct orders with a failing row.", False),
    ),
)

INVENTORY_MOVEMENTS = Table(
    "oms",
    "inventory_movements",
    "The inventory ledger, append-only: every change to a (warehouse, sku) position. A "
    "correction is a new movement; positions are sums of the deltas.",
    (
        Column("movement_id", "VARCHAR", "Deterministic id, so a movement is stored once.", False),
        Column("at", "TIMESTAMPTZ", "When the stock moved (a count: when it was counted).", False),
        Column("warehouse_id", "VARCHAR", "Warehouse (data/reference/warehouses.csv).", False),
        Column("sku", "VARCHAR", "SKU (data/reference/products.csv).", False),
        Column("on_hand_delta", "BIGINT", "Change to units physically on hand.", False),
        Column("committed_delta", "BIGINT", "Change to units committed to orders.", False),
        Column("reason", "VARCHAR", ", ".join(MOVEMENT_REASONS) + ".", False),
        Column("reference", "VARCHAR", "PO, count or adjustment reference; order#line."),
        Column("note", "VARCHAR", "Free text: the adjustment's note, what a count found."),
        Column("recorded_at", "TIMESTAMPTZ", "When the batch wrote the movement.", False),
        Column("source_file", "VARCHAR", "Inbox file the movement came from (if any)."),
        Column("source_row", "BIGINT", "1-based record number in that file."),
        Column("run_id", "VARCHAR", "Batch run that wrote it.", False),
    ),
    primary_key=("movement_id",),
)

INVENTORY_POSITIONS = Table(
    "oms",
    "inventory_positions",
    "Positions per (warehouse, sku), derived from the ledger and stock_policy.csv; rebuilt "
    "whole by every batch that moves stock (never edited on its own).",
    (
        Column("warehouse_id", "VARCHAR", "Warehouse.", False),
        Column("sku", "VARCHAR", "SKU.", False),
        Column("on_hand", "BIGINT", "Units on the shelf: sum of on_hand_delta.", False),
        Column("committed", "BIGINT", "Units allocated, not yet shipped.", False),
        Column("safety_stock", "BIGINT", "Units held back from allocation (stock policy).", False),
        Column(
            "atp", "BIGINT", "Available to promise: max(0, on_hand - committed - safety).", False
        ),
        Column("reorder_point", "BIGINT", "Reorder at or below this available position."),
        Column("max_level", "BIGINT", "Order up to this level."),
        Column("last_movement_at", "TIMESTAMPTZ", "Latest movement of the position."),
        Column("last_counted_at", "TIMESTAMPTZ", "Latest snapshot or cycle count."),
        Column("as_of", "TIMESTAMPTZ", "When the positions were derived.", False),
    ),
    primary_key=("warehouse_id", "sku"),
)

ALLOCATIONS = Table(
    "oms",
    "allocations",
    "Stock committed to order lines: one row per (line, warehouse, run that allocated it).",
    (
        Column(
            "allocation_id", "VARCHAR", "Deterministic id (run, order, line, warehouse).", False
        ),
        Column("order_key", "VARCHAR", "Order.", False),
        Column("line_no", "INTEGER", "Line of the order.", False),
        Column("sku", "VARCHAR", "SKU allocated.", False),
        Column("warehouse_id", "VARCHAR", "Warehouse that ships it.", False),
        Column("quantity", "BIGINT", "Units.", False),
        Column("rule", "VARCHAR", "What decided it: " + ", ".join(ALLOCATION_RULES) + ".", False),
        Column("status", "VARCHAR", ", ".join(ALLOCATION_STATUSES) + ".", False),
        Column("allocated_at", "TIMESTAMPTZ", "When the batch committed it.", False),
        Column("run_id", "VARCHAR", "Batch run that committed it.", False),
        Column("ended_at", "TIMESTAMPTZ", "When it was cancelled or withdrawn."),
        Column("ended_reason", "VARCHAR", "Why it was cancelled or withdrawn."),
        Column("ended_run_id", "VARCHAR", "Batch run that ended it."),
    ),
    primary_key=("allocation_id",),
)

BACKORDERS = Table(
    "oms",
    "backorders",
    "Order lines waiting for stock: one row per (order, line), re-brokered every batch.",
    (
        Column("order_key", "VARCHAR", "Order.", False),
        Column("line_no", "INTEGER", "Line of the order.", False),
        Column("sku", "VARCHAR", "SKU waited for.", False),
        Column("quantity", "BIGINT", "Units still short (the shortfall).", False),
        Column("reason", "VARCHAR", "Why: " + ", ".join(BACKORDER_REASONS) + ".", False),
        Column("detail", "VARCHAR", "Human-readable why.", False),
        Column("promised_date", "DATE", "Date promised to the customer.", False),
        Column(
            "promised_warehouse_id",
            "VARCHAR",
            "Nearest warehouse stocking the SKU, whose lead time set the promise.",
        ),
        Column("status", "VARCHAR", ", ".join(BACKORDER_STATUSES) + ".", False),
        Column("backordered_at", "TIMESTAMPTZ", "When the line first waited.", False),
        Column("updated_at", "TIMESTAMPTZ", "When the row last changed.", False),
        Column("resolved_at", "TIMESTAMPTZ", "When it was filled or cancelled."),
        Column("run_id", "VARCHAR", "Batch run that last changed it.", False),
    ),
    primary_key=("order_key", "line_no"),
)

REORDER_REPORT = Table(
    "oms",
    "reorder_report",
    "SKUs at or below their reorder point per warehouse, with the quantity to order up to "
    "max_level; rebuilt by every batch (also written to data/outbox/inventory/).",
    (
        Column("warehouse_id", "VARCHAR", "Warehouse.", False),
        Column("sku", "VARCHAR", "SKU.", False),
        Column("product_name", "VARCHAR", "Catalogue name."),
        Column("on_hand", "BIGINT", "Units on hand.", False),
        Column("committed", "BIGINT", "Units committed.", False),
        Column("backordered", "BIGINT", "Units on open backorders promised from here.", False),
        Column(
            "available_position",
            "BIGINT",
            "on_hand - committed - backordered: what is left for new demand.",
            False,
        ),
        Column("reorder_point", "BIGINT", "Reorder at or below this.", False),
        Column("max_level", "BIGINT", "Order up to this.", False),
        Column("suggested_quantity", "BIGINT", "max_level - available_position.", False),
        Column("lead_days", "INTEGER", "Replenishment lead time of the warehouse.", False),
        Column(
            "as_of",
            "TIMESTAMPTZ",
            "When these figures were made (a batch finding the same figures keeps the report).",
            False,
        ),
        Column("run_id", "VARCHAR", "Batch run that made these figures.", False),
    ),
    primary_key=("warehouse_id", "sku"),
)

WAVES = Table(
    "oms",
    "waves",
    "Pick waves: committed allocations released to the floor per warehouse, whole shipments "
    "each, within the wave size limits (docs/fulfilment.md).",
    (
        Column(
            "wave_id", "VARCHAR", "W-<warehouse>-<local date>-<seq>, e.g. W-NJ-20261127-003.", False
        ),
        Column("warehouse_id", "VARCHAR", "Warehouse picking it.", False),
        Column(
            "wave_date",
            "DATE",
            "Local date of the cutoff it is picked for (its folder in the outbox).",
            False,
        ),
        Column("cutoff_at", "TIMESTAMPTZ", "Carrier cutoff the wave is picked for (UTC).", False),
        Column("cutoff_label", "VARCHAR", "That cutoff in the warehouse's local time.", False),
        Column(
            "due_at_cutoff",
            "BOOLEAN",
            "True for a wave of shipments that must leave at that cutoff (overnight, "
            "expedited, or ship_by before the next one).",
            False,
        ),
        Column("status", "VARCHAR", ", ".join(FULFILMENT_STATUSES) + ".", False),
        Column("shipments", "BIGINT", "Shipments (order x warehouse) in the wave.", False),
        Column("lines", "BIGINT", "Pick tasks (allocation rows).", False),
        Column("units", "BIGINT", "Units to pick.", False),
        Column("released_at", "TIMESTAMPTZ", "When the batch released it.", False),
        Column("files_written_at", "TIMESTAMPTZ", "When its pick list and slips were written."),
        Column("pick_list_path", "VARCHAR", "The wave's pick list PDF."),
        Column("run_id", "VARCHAR", "Batch run that released it.", False),
        Column("shipped_at", "TIMESTAMPTZ", "When its last live shipment left."),
    ),
    primary_key=("wave_id",),
)

SHIPMENTS = Table(
    "oms",
    "shipments",
    "What one warehouse sends for one order in one wave, in one tote, packed in parcels.",
    (
        Column("shipment_id", "VARCHAR", "<wave_id>-<tote>, e.g. W-NJ-20261127-003-T07.", False),
        Column("wave_id", "VARCHAR", "Wave it is picked in.", False),
        Column("order_key", "VARCHAR", "Order.", False),
        Column("warehouse_id", "VARCHAR", "Warehouse shipping it.", False),
        Column("tote", "VARCHAR", "Tote the picker puts its units in (T01 ...).", False),
        Column(
            "status",
            "VARCHAR",
            ", ".join(FULFILMENT_STATUSES)
            + "; once shipped, the carrier's: "
            + ", ".join(CARRIER_STATUSES[1:])
            + ".",
            False,
        ),
        Column("lines", "BIGINT", "Pick tasks.", False),
        Column("units", "BIGINT", "Units.", False),
        Column("parcels", "BIGINT", "Parcels cartonization chose.", False),
        Column("weight_g", "BIGINT", "Total parcel weight (items + tare), grams.", False),
        Column("released_at", "TIMESTAMPTZ", "When it was released.", False),
        Column("cancelled_at", "TIMESTAMPTZ", "When it was cancelled (order cancelled)."),
        Column("packing_slip_path", "VARCHAR", "Its packing slip PDF."),
        Column("run_id", "VARCHAR", "Batch run that released it.", False),
        Column("shipped_at", "TIMESTAMPTZ", "Carrier cutoff whose manifest took it."),
        Column(
            "promised_delivery_date",
            "DATE",
            "Latest promised delivery date of its parcels (ship date + promised business days).",
        ),
        Column("delivered_at", "TIMESTAMPTZ", "When its last parcel was delivered."),
        Column(
            "delayed_at",
            "TIMESTAMPTZ",
            "When it was found late: not delivered by promised_delivery_date + grace days, "
            "or delivered after it. Null when on time.",
        ),
        Column("status_at", "TIMESTAMPTZ", "Time of the carrier event behind its status."),
    ),
    primary_key=("shipment_id",),
)

PICK_TASKS = Table(
    "oms",
    "pick_tasks",
    "One task per allocation in a wave: pick this many units of a SKU from a bin into a tote.",
    (
        Column("task_id", "VARCHAR", "The allocation's id.", False),
        Column("wave_id", "VARCHAR", "Wave.", False),
        Column("shipment_id", "VARCHAR", "Shipment (and so tote) the units go to.", False),
        Column("order_key", "VARCHAR", "Order.", False),
        Column("line_no", "INTEGER", "Order line.", False),
        Column("warehouse_id", "VARCHAR", "Warehouse.", False),
        Column("sku", "VARCHAR", "SKU.", False),
        Column("bin", "VARCHAR", "Bin location zone-aisle-bay-level.", False),
        Column("walk_seq", "INTEGER", "Position of the bin in the wave's serpentine walk.", False),
        Column("quantity", "BIGINT", "Units.", False),
        Column("tote", "VARCHAR", "Tote.", False),
        Column("status", "VARCHAR", ", ".join(FULFILMENT_STATUSES) + ".", False),
        Column("released_at", "TIMESTAMPTZ", "When it was released.", False),
        Column("cancelled_at", "TIMESTAMPTZ", "When it was cancelled."),
        Column("cancel_reason", "VARCHAR", "Why."),
        Column("pulled_at", "TIMESTAMPTZ", "When a pull list told the floor to put it back."),
        Column("run_id", "VARCHAR", "Batch run that released it.", False),
    ),
    primary_key=("task_id",),
)

PARCELS = Table(
    "oms",
    "parcels",
    "Cartons of a shipment as cartonization chose them, with weight and size for rating.",
    (
        Column("parcel_id", "VARCHAR", "<shipment_id>-P<n>.", False),
        Column("shipment_id", "VARCHAR", "Shipment.", False),
        Column("parcel_no", "INTEGER", "1.. within the shipment.", False),
        Column("box_id", "VARCHAR", "Box (boxes.csv); null when the item ships alone."),
        Column("ship_alone", "BOOLEAN", "True for an item too big or heavy for any box.", False),
        Column("units", "BIGINT", "Units in it.", False),
        Column("items_weight_g", "BIGINT", "Weight of the items, grams.", False),
        Column("weight_g", "BIGINT", "Items + box tare, grams.", False),
        Column("length_mm", "BIGINT", "Length (box inner, or the item's own), mm.", False),
        Column("width_mm", "BIGINT", "Width, mm.", False),
        Column("height_mm", "BIGINT", "Height, mm.", False),
        Column("contents", "VARCHAR", "SKU x quantity, e.g. 'SKU-00001 x2; SKU-00007 x1'.", False),
        Column(
            "status",
            "VARCHAR",
            ", ".join(FULFILMENT_STATUSES)
            + "; once shipped, the carrier's: "
            + ", ".join(CARRIER_STATUSES[1:])
            + ".",
            False,
        ),
        Column("run_id", "VARCHAR", "Batch run that made it.", False),
        Column("carrier", "VARCHAR", "Carrier chosen by rate shopping."),
        Column("service", "VARCHAR", "Service chosen (carriers.csv)."),
        Column("service_code", "VARCHAR", "The carrier's code for the service."),
        Column("zone", "INTEGER", "Rating zone from the warehouse to the ship-to (9: abroad)."),
        Column("billable_weight_g", "BIGINT", "max(weight, dimensional weight), grams."),
        Column("rate", MONEY, "Price of the chosen service (USD, rate_cards.csv)."),
        Column("transit_days", "INTEGER", "Business days the chosen service takes."),
        Column("promised_days", "INTEGER", "Business days promised (service level, ship_by)."),
        Column("meets_sla", "BOOLEAN", "False when no service keeps the promise."),
        Column("rating_reason", "VARCHAR", "Why this service won (see oms.rate_quotes)."),
        Column("rating_warning", "VARCHAR", "Promise missed, or no service can carry it."),
        Column("rated_at", "TIMESTAMPTZ", "When it was rated."),
        Column("ship_date", "DATE", "Local date of the cutoff it leaves at."),
        Column(
            "promised_delivery_date", "DATE", "ship_date + promised_days business days (Mon-Fri)."
        ),
        Column("tracking_serial", "BIGINT", "Serial behind the tracking number (per carrier)."),
        Column("tracking_number", "VARCHAR", "Carrier tracking number with its check digit."),
        Column("labelled_at", "TIMESTAMPTZ", "When the label was made."),
        Column("label_path", "VARCHAR", "Label PDF holding its label (the .zpl lies beside)."),
        Column("voided_at", "TIMESTAMPTZ", "When its label was voided (parcel cancelled)."),
        Column("manifest_id", "VARCHAR", "Carrier manifest that took it."),
        Column("shipped_at", "TIMESTAMPTZ", "Carrier cutoff it left at."),
        Column("status_at", "TIMESTAMPTZ", "Time of the carrier event behind its status."),
        Column("status_detail", "VARCHAR", "The carrier's message for that event."),
        Column("delivered_at", "TIMESTAMPTZ", "When the carrier delivered it."),
    ),
    primary_key=("parcel_id",),
)

MANIFESTS = Table(
    "oms",
    "manifests",
    "End-of-day carrier manifests: one per carrier, warehouse and cutoff, closed at the cutoff.",
    (
        Column("manifest_id", "VARCHAR", "M-<carrier>-<warehouse>-<local date>-<nn>.", False),
        Column("carrier", "VARCHAR", "Carrier picking the parcels up.", False),
        Column("warehouse_id", "VARCHAR", "Warehouse shipping them.", False),
        Column("manifest_date", "DATE", "Local date of the cutoff.", False),
        Column("cutoff_at", "TIMESTAMPTZ", "Carrier cutoff (UTC) the parcels left at.", False),
        Column("parcels", "BIGINT", "Parcels on it.", False),
        Column("weight_g", "BIGINT", "Their actual weight, grams.", False),
        Column("billable_weight_g", "BIGINT", "Their billable weight, grams.", False),
        Column("total_cost", MONEY, "Sum of their rates (USD).", False),
        Column("closed_at", "TIMESTAMPTZ", "When the batch closed it.", False),
        Column("csv_path", "VARCHAR", "Its CSV."),
        Column("pdf_path", "VARCHAR", "Its PDF summary."),
        Column("files_written_at", "TIMESTAMPTZ", "When its files were written."),
        Column("run_id", "VARCHAR", "Batch run that closed it.", False),
    ),
    primary_key=("manifest_id",),
)

RATE_QUOTES = Table(
    "oms",
    "rate_quotes",
    "Every service considered for a parcel, priced and ranked: why the chosen one won.",
    (
        Column("parcel_id", "VARCHAR", "Parcel rated.", False),
        Column("carrier", "VARCHAR", "Carrier.", False),
        Column("service", "VARCHAR", "Service.", False),
        Column("zone", "INTEGER", "Zone.", False),
        Column("billable_weight_g", "BIGINT", "max(weight, dimensional weight) with this carrier."),
        Column("price", MONEY, "Price (USD); null when the service cannot carry the parcel."),
        Column("transit_days", "INTEGER", "Business days in transit."),
        Column("meets_sla", "BOOLEAN", "True when it keeps the promise.", False),
        Column("eligible", "BOOLEAN", "False when it cannot carry the parcel.", False),
        Column("rank", "INTEGER", "1 = chosen; null when not eligible."),
        Column("why_not", "VARCHAR", "Why it lost (null for the winner)."),
        Column("rated_at", "TIMESTAMPTZ", "When.", False),
        Column("run_id", "VARCHAR", "Batch run that rated it.", False),
    ),
    primary_key=("parcel_id", "carrier", "service"),
)

TRACKING_EVENTS = Table(
    "oms",
    "tracking_events",
    "Carrier tracking events of our parcels, each stored once (by event_key).",
    (
        Column("event_key", "VARCHAR", "Hash of tracking number, status, time and message.", False),
        Column("tracking_number", "VARCHAR", "Tracking number.", False),
        Column("parcel_id", "VARCHAR", "Our parcel.", False),
        Column("carrier", "VARCHAR", "Carrier as the file named it."),
        Column(
            "status", "VARCHAR", "Canonical carrier status (pre_transit, delivered, ...).", False
        ),
        Column("raw_status", "VARCHAR", "Status as the file gave it."),
        Column("status_detail", "VARCHAR", "The carrier's finer status."),
        Column("occurred_at", "TIMESTAMPTZ", "When it happened (UTC).", False),
        Column("location", "VARCHAR", "City, ST ZIP, country."),
        Column("message", "VARCHAR", "The carrier's message."),
        Column("recorded_at", "TIMESTAMPTZ", "When the batch stored it.", False),
        *_lineage(),
    ),
    primary_key=("event_key",),
)

TRACKING_QUARANTINE = Table(
    "quality",
    "tracking_quarantine",
    "Tracking events that match none of our labels, kept with the reason, never applied.",
    (
        Column("event_key", "VARCHAR", "Hash of tracking number, status, time and message.", False),
        Column("tracking_number", "VARCHAR", "Tracking number.", False),
        Column("carrier", "VARCHAR", "Carrier as the file named it."),
        Column("status", "VARCHAR", "Canonical carrier status.", False),
        Column("raw_status", "VARCHAR", "Status as the file gave it."),
        Column("occurred_at", "TIMESTAMPTZ", "When it happened (UTC).", False),
        Column("message", "VARCHAR", "The carrier's message."),
        Column("reason", "VARCHAR", "Why it was not applied.", False),
        Column("quarantined_at", "TIMESTAMPTZ", "When.", False),
        *_lineage(),
    ),
    primary_key=("event_key",),
)

NOTIFICATIONS = Table(
    "oms",
    "notifications",
    "The customer message outbox: one row per (order, kind, channel), however often the "
    "batch runs or the event repeats.",
    (
        Column("notification_id", "VARCHAR", "md5 of order_key | kind | channel.", False),
        Column("order_key", "VARCHAR", "Order the message is about.", False),
        Column("kind", "VARCHAR", "order_confirmed, action_needed, shipped, ... (docs).", False),
        Column("channel", "VARCHAR", ", ".join(NOTIFICATION_CHANNELS) + ".", False),
        Column("event_id", "VARCHAR", "The order event that called for it.", False),
        Column("event_at", "TIMESTAMPTZ", "When that event happened.", False),
        Column("recipient", "VARCHAR", "Email address or phone number (null: none known)."),
        Column("language", "VARCHAR", "Language of the text (from the ship-to country)."),
        Column("locale", "VARCHAR", "Locale dates and money are formatted in."),
        Column("subject", "VARCHAR", "Email subject (SMS: null)."),
        Column("sms_parts", "INTEGER", "SMS: parts the text is split into."),
        Column("status", "VARCHAR", ", ".join(NOTIFICATION_STATUSES) + ".", False),
        Column("skip_reason", "VARCHAR", "Why it is skipped."),
        Column("attempts", "INTEGER", "Delivery attempts so far.", False),
        Column("last_error", "VARCHAR", "The last delivery error (e.g. 451 4.3.0 ...)."),
        Column("last_attempt_at", "TIMESTAMPTZ", "When delivery was last tried."),
        Column("next_attempt_at", "TIMESTAMPTZ", "Not to be tried before (after a 4xx)."),
        Column("sent_at", "TIMESTAMPTZ", "When the server accepted it."),
        Column("file_path", "VARCHAR", "The .eml (email) or .txt (SMS) in data/outbox."),
        Column("created_at", "TIMESTAMPTZ", "When the batch rendered it.", False),
        Column("run_id", "VARCHAR", "Batch run that rendered it.", False),
    ),
    primary_key=("notification_id",),
)

RETURNS = Table(
    "oms",
    "returns",
    "Return (RMA) lines: one row per order line and reason of a customer's return request, "
    "from request to money back.",
    (
        Column(
            "return_line_id", "VARCHAR", "md5 of order_key | return_id | line_no | reason.", False
        ),
        Column(
            "return_id", "VARCHAR", "The request's id as the channel or service gave it.", False
        ),
        Column("rma_number", "VARCHAR", "Return authorisation number (authorized requests)."),
        Column("order_key", "VARCHAR", "Order the units were shipped on.", False),
        Column("line_no", "INTEGER", "Order line the units belong to.", False),
        Column("sku", "VARCHAR", "SKU coming back.", False),
        Column("quantity", "BIGINT", "Units the customer asked to return.", False),
        Column("reason", "VARCHAR", ", ".join(RETURN_REASONS) + ".", False),
        Column("resolution", "VARCHAR", ", ".join(RETURN_RESOLUTIONS) + ".", False),
        Column("exchange_sku", "VARCHAR", "Exchange: the SKU to send instead (else the same)."),
        Column("requested_at", "TIMESTAMPTZ", "When the customer asked (UTC).", False),
        Column("note", "VARCHAR", "The customer's or agent's words."),
        Column("status", "VARCHAR", ", ".join(RETURN_STATUSES) + ".", False),
        Column("status_reason", "VARCHAR", "Why it was rejected, or why it waits."),
        Column("window_ends_at", "TIMESTAMPTZ", "Last moment the return could be requested."),
        Column("authorized_at", "TIMESTAMPTZ", "When the RMA was issued."),
        Column("warehouse_id", "VARCHAR", "Warehouse the units go back to."),
        Column("label_path", "VARCHAR", "The return label (PDF) in data/outbox/returns."),
        Column("received_quantity", "BIGINT", "Units that arrived (any disposition but MISSING)."),
        Column("restocked_quantity", "BIGINT", "Units put back on hand (RESTOCK)."),
        Column("missing_quantity", "BIGINT", "Units the warehouse recorded as never arrived."),
        Column("inspected_at", "TIMESTAMPTZ", "When the last units were inspected."),
        Column("refunded_quantity", "BIGINT", "Units a refund (or store credit) has covered."),
        Column("exchange_order_key", "VARCHAR", "Exchange: the replacement order."),
        Column("completed_at", "TIMESTAMPTZ", "When the line was settled."),
        Column("updated_at", "TIMESTAMPTZ", "When the row last changed.", False),
        *_lineage(),
    ),
    primary_key=("return_line_id",),
)

RETURN_INSPECTIONS = Table(
    "oms",
    "return_inspections",
    "What the warehouse found in each return, per unit group and disposition; the REFURBISH, "
    "DAMAGED and SCRAP units here are the returns area's stock (never ATP).",
    (
        Column("inspection_id", "VARCHAR", "File hash and row of the inspection record.", False),
        Column("return_line_id", "VARCHAR", "Return line inspected.", False),
        Column("rma_number", "VARCHAR", "Return authorisation number.", False),
        Column("order_key", "VARCHAR", "Order the units were shipped on.", False),
        Column("sku", "VARCHAR", "SKU.", False),
        Column("warehouse_id", "VARCHAR", "Warehouse that received the units.", False),
        Column("disposition", "VARCHAR", ", ".join(DISPOSITIONS) + ".", False),
        Column("quantity", "BIGINT", "Units with that disposition.", False),
        Column("inspected_at", "TIMESTAMPTZ", "When (UTC).", False),
        Column("inspected_by", "VARCHAR", "Who inspected."),
        Column("note", "VARCHAR", "The inspector's note."),
        *_lineage(),
    ),
    primary_key=("inspection_id",),
)

REFUNDS = Table(
    "oms",
    "refunds",
    "Refunds and store credits issued for returned units, each exported once to finance.",
    (
        Column("refund_id", "VARCHAR", "RF-<rma_number>-<n>.", False),
        Column("order_key", "VARCHAR", "Order refunded.", False),
        Column("rma_number", "VARCHAR", "Return it pays for.", False),
        Column("method", "VARCHAR", ", ".join(REFUND_METHODS) + ".", False),
        Column("payment_method", "VARCHAR", "The order's payment method (original refunds)."),
        Column("currency", "VARCHAR", "ISO 4217 currency of the order.", False),
        Column("amount", MONEY, "What the customer gets back.", False),
        Column("merchandise", MONEY, "Returned units x unit price.", False),
        Column("discount_share", MONEY, "Line and order discount shares taken off.", False),
        Column("tax_share", MONEY, "Tax share given back.", False),
        Column("shipping", MONEY, "Shipping given back (merchant's fault only).", False),
        Column("restocking_fee", MONEY, "Fee kept (policy; never for merchant's faults).", False),
        Column("cap_adjustment", MONEY, "Cut so no more is refunded than was paid (<= 0).", False),
        Column("units", "BIGINT", "Units refunded.", False),
        Column("explanation", "VARCHAR", "How the amount was computed, line by line.", False),
        Column("issued_at", "TIMESTAMPTZ", "When the refund was issued.", False),
        Column("export_file", "VARCHAR", "Finance export file that carries it.", False),
        Column(
            "exported_at",
            "TIMESTAMPTZ",
            "When its export file was written; never written again after (null: not yet).",
        ),
        Column("run_id", "VARCHAR", "Batch run that issued it.", False),
    ),
    primary_key=("refund_id",),
)

RETURNS_QUARANTINE = Table(
    "quality",
    "returns_quarantine",
    "Return requests and inspection records that could not be tied to an order, line or RMA "
    "(or were malformed), kept with the reason, never applied.",
    (
        Column("kind", "VARCHAR", "request or inspection.", False),
        Column("reference", "VARCHAR", "The record's return_id or rma_number."),
        Column("order_ref", "VARCHAR", "The order it named (order_key or order_number)."),
        Column("sku", "VARCHAR", "The SKU it named."),
        Column("record", "VARCHAR", "The record as read (JSON).", False),
        Column("reason", "VARCHAR", "Why it was not applied.", False),
        Column("quarantined_at", "TIMESTAMPTZ", "When.", False),
        *_lineage(),
    ),
)

CHANNEL_FEEDS = Table(
    "oms",
    "channel_feeds",
    "Files sent back to the sales channels (docs/channel-feeds.md): one row per feed, a kind "
    "of file for one channel, written under data/outbox/channels/<channel>/<timestamp>/.",
    (
        Column("feed_id", "VARCHAR", "FD-000001, ...; `oms feeds resend FD-...` names it.", False),
        Column("seq", "BIGINT", "Order the feeds were made in (the id's number).", False),
        Column("channel", "VARCHAR", ", ".join(FEED_CHANNELS) + ".", False),
        Column("kind", "VARCHAR", ", ".join(FEED_KINDS) + ".", False),
        Column("mode", "VARCHAR", ", ".join(FEED_MODES) + ".", False),
        Column("resend_of", "VARCHAR", "The feed a resend repeats."),
        Column("records", "BIGINT", "Rows (items confirmed, or SKUs) the feed covers.", False),
        Column("orders", "BIGINT", "Orders confirmed (shipment confirmations)."),
        Column("units", "BIGINT", "Units confirmed, or sellable units offered.", False),
        Column(
            "covers", "VARCHAR", "What it covers, in words (manifests, ship dates, SKUs).", False
        ),
        Column("folder", "VARCHAR", "Folder its files are written to.", False),
        Column("files", "VARCHAR", "Its file names in that folder, comma-separated.", False),
        Column(
            "settings",
            "VARCHAR",
            "The channel's channels.toml settings it was made with (JSON), so a resend "
            "writes the same bytes.",
        ),
        Column("created_at", "TIMESTAMPTZ", "When it was made (batch clock).", False),
        Column("written_at", "TIMESTAMPTZ", "When its files were written (null: not yet)."),
        Column("run_id", "VARCHAR", "Batch run (or command) that made it.", False),
    ),
    primary_key=("feed_id",),
)

CHANNEL_CONFIRMATIONS = Table(
    "oms",
    "channel_confirmations",
    "Shipped units confirmed to their channel: one row per order line and parcel, stored "
    "once, so an item is never confirmed twice.",
    (
        Column("order_key", "VARCHAR", "Order.", False),
        Column("line_no", "INTEGER", "Order line.", False),
        Column("parcel_id", "VARCHAR", "Parcel the units left in.", False),
        Column("feed_id", "VARCHAR", "Feed that confirmed them.", False),
        Column("channel", "VARCHAR", "Channel.", False),
        Column("external_order_id", "VARCHAR", "The order's id in its channel.", False),
        Column("order_number", "VARCHAR", "Number the channel shows (#1050, 114-...)."),
        Column("external_line_id", "VARCHAR", "The line's id in its channel (order-item-id)."),
        Column("sku", "VARCHAR", "SKU.", False),
        Column("quantity", "BIGINT", "Units of the line in the parcel.", False),
        Column("carrier", "VARCHAR", "Carrier.", False),
        Column("service", "VARCHAR", "Service (ship method).", False),
        Column("tracking_number", "VARCHAR", "Tracking number.", False),
        Column("shipped_at", "TIMESTAMPTZ", "Carrier cutoff the parcel left at.", False),
        Column("ship_date", "DATE", "Local date of that cutoff at the warehouse."),
        Column("manifest_id", "VARCHAR", "Carrier manifest that took it.", False),
        Column(
            "order_complete",
            "BOOLEAN",
            "True when, with this feed, every unit of the order we ship is confirmed.",
            False,
        ),
    ),
    primary_key=("order_key", "line_no", "parcel_id"),
)

CHANNEL_STOCK = Table(
    "oms",
    "channel_stock",
    "Sellable quantities sent to the channels: one row per stock feed and SKU; the newest row "
    "per (channel, sku) is what the channel was last told.",
    (
        Column("feed_id", "VARCHAR", "Stock feed.", False),
        Column("channel", "VARCHAR", "Channel.", False),
        Column("sku", "VARCHAR", "SKU.", False),
        Column("product_name", "VARCHAR", "Product name (products.csv)."),
        Column("atp", "BIGINT", "Sum of ATP over the warehouses serving the channel.", False),
        Column("buffer", "BIGINT", "Units held back: safety margin + reserve.", False),
        Column("quantity", "BIGINT", "Sellable: max(0, atp - buffer); 0 when not sold.", False),
    ),
    primary_key=("feed_id", "sku"),
)

ERASURES = Table(
    "oms",
    "erasures",
    "Customers forgotten on request (oms forget-customer): one row per erasure and order. "
    "subject_key lets a later order of the same person start a new customer, visibly.",
    (
        Column("erasure_id", "VARCHAR", "ER-<UTC time>-<hash>, one per request.", False),
        Column("order_key", "VARCHAR", "An order whose personal fields were erased.", False),
        Column(
            "subject_key",
            "VARCHAR",
            "The erased customer's keyed hash (customer_key before erasure).",
        ),
        Column(
            "matched_by", "VARCHAR", "How the request named the customer: email or order.", False
        ),
        Column("requested_by", "VARCHAR", "Who ran the erasure.", False),
        Column("erased_at", "TIMESTAMPTZ", "When the warehouse rows were blanked.", False),
        Column("files_done_at", "TIMESTAMPTZ", "When the files were rewritten or removed."),
    ),
    primary_key=("erasure_id", "order_key"),
)

ERASURE_FILES = Table(
    "oms",
    "erasure_files",
    "What each erasure did to the files holding the customer's data.",
    (
        Column("erasure_id", "VARCHAR", "Erasure.", False),
        Column("path", "VARCHAR", "The file.", False),
        Column("action", "VARCHAR", "rewritten, removed or needs_review.", False),
        Column("kind", "VARCHAR", "channel_export, mail, labels, manifest, ...", False),
        Column("detail", "VARCHAR", "What was done, or what a person must still do."),
        Column("at", "TIMESTAMPTZ", "When.", False),
    ),
    primary_key=("erasure_id", "path"),
)

ANALYTICS_BUILDS = Table(
    "oms",
    "analytics_builds",
    "Each full dbt build, the fingerprint of what it read, and whether the snapshots were then "
    "published from it: a refresh finding the fingerprint of the last publish, and the very "
    "snapshot files it wrote, has nothing to do.",
    (
        Column("run_id", "VARCHAR", "Dagster run that built (and published).", False),
        Column(
            "fingerprint",
            "VARCHAR",
            "sha256 of every raw, oms and quality table's rows, the dbt project, the reference "
            "data, the platform's code and its libraries' versions, as the build read them.",
            False,
        ),
        Column("built_at", "TIMESTAMPTZ", "When dbt finished building every model.", False),
        Column(
            "published_at",
            "TIMESTAMPTZ",
            "When the snapshots were published from this build; empty while not (yet).",
        ),
        Column(
            "snapshots",
            "VARCHAR",
            "The published snapshot files as written (path, size, modification time), so a "
            "file replaced since, or another warehouse's publish over it, is noticed.",
        ),
    ),
    primary_key=("run_id",),
)

TABLES: tuple[Table, ...] = (
    FILES,
    ORDERS,
    ORDER_LINES,
    ORDER_EVENTS,
    ORDER_HOLDS,
    HOLD_DECISIONS,
    EXPECTATION_RESULTS,
    INVENTORY_MOVEMENTS,
    INVENTORY_POSITIONS,
    ALLOCATIONS,
    BACKORDERS,
    REORDER_REPORT,
    WAVES,
    SHIPMENTS,
    PICK_TASKS,
    PARCELS,
    MANIFESTS,
    RATE_QUOTES,
    TRACKING_EVENTS,
    TRACKING_QUARANTINE,
    NOTIFICATIONS,
    RETURNS,
    RETURN_INSPECTIONS,
    REFUNDS,
    RETURNS_QUARANTINE,
    CHANNEL_FEEDS,
    CHANNEL_CONFIRMATIONS,
    CHANNEL_STOCK,
    ERASURES,
    ERASURE_FILES,
    ANALYTICS_BUILDS,
)
SCHEMAS: tuple[str, ...] = ("raw", "oms", "quality", "analytics")


def table(qualified: str) -> Table:
    for t in TABLES:
        if t.qualified == qualified:
            return t
    raise KeyError(qualified)


def describe() -> str:
    """Markdown documentation of every table, derived from the declarations above."""
    out = []
    for t in TABLES:
        out.append(f"### `{t.qualified}`\n\n{t.doc}\n\n| column | type | doc |\n|---|---|---|")
        out.extend(f"| {c.name} | {c.sql_type} | {c.doc} |" for c in t.columns)
        out.append("")
    return "\n".join(out)
