"""The frames the suites validate: orders due for validation, with computed columns.

DuckDB does the set work (money in integer cents, line sums, the fx conversion, the
duplicate search over the window); the postal, email and phone libraries add their
findings in Polars. Nothing here decides whether an order passes: that is the suites' job.
"""

from __future__ import annotations

import duckdb
import polars as pl

from pipelines.lib.quality.config import ValidationConfig
from pipelines.lib.quality.contacts import contact_problems
from pipelines.lib.quality.postal import postal_problems
from pipelines.lib.schema import ORDER_LINES, ORDERS
from pipelines.lib.warehouse import frame as query_frame
from pipelines.lib.warehouse import scalar

#: Statuses validation may still move an order out of: an order is judged again when it
#: changes until it is released to the warehouse floor (a changed, already allocated order
#: that now fails a rule goes on hold and its stock is given back by the allocation stage).
VALIDATABLE = ("received", "on_hold", "ready", "allocated", "partially_allocated", "backordered")
#: Statuses that passing validation leaves as they are (the allocation stage owns them).
PLACED = ("allocated", "partially_allocated", "backordered")


def _cents(column: str, alias: str | None = None) -> str:
    return f"CAST({column} * 100 AS BIGINT) AS {alias or column + '_cents'}"


def select_due(con: duckdb.DuckDBPyConnection) -> int:
    """Fill temp table ``val_keys`` with the orders due: new, or changed since judged."""
    statuses = ", ".join(f"'{s}'" for s in VALIDATABLE)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE val_keys AS
        SELECT order_key FROM {ORDERS.qualified}
        WHERE status IN ({statuses})
          AND (validated_at IS NULL OR updated_at > validated_at)
        """
    )
    return scalar(con, "SELECT count(*) FROM val_keys")


def lines_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The lines of the orders in ``val_keys``, money in cents, with the line arithmetic."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE val_lines AS
        SELECT order_key, line_no, sku, quantity, requires_shipping,
               {_cents("unit_price")}, {_cents("line_discount")}, {_cents("line_total")}
        FROM {ORDER_LINES.qualified} JOIN val_keys USING (order_key)
        """
    )
    return query_frame(
        con,
        """
        SELECT *,
               quantity * unit_price_cents - coalesce(line_discount_cents, 0)
                   AS expected_line_total_cents,
               abs(line_total_cents - expected_line_total_cents) AS line_total_error_cents,
               -- a unit price the channel did not give but we derived (line total / qty,
               -- rounded to the cent) can be off by half a cent per unit
               greatest(1, quantity // 2) AS line_total_tolerance_cents
        FROM val_lines ORDER BY order_key, line_no
        """,
    )


def orders_frame(
    con: duckdb.DuckDBPyConnection, config: ValidationConfig, fx_rates: pl.DataFrame
) -> pl.DataFrame:
    """The orders in ``val_keys`` (after :func:`lines_frame`) with every computed column."""
    on_account = ", ".join(f"'{c}'" for c in config.on_account_channels) or "NULL"
    con.register("val_fx", fx_rates.select("date", "currency", "rate_to_usd").to_arrow())
    try:
        frame = query_frame(
            con,
            f"""
            WITH sums AS (
                SELECT order_key, count(*) AS line_count,
                       sum(line_total_cents) AS lines_total_cents,
                       bool_or(requires_shipping) AS ships
                FROM val_lines GROUP BY order_key
            )
            SELECT o.order_key, o.channel, o.ordered_at, o.customer_name, o.email, o.phone,
                   o.ship_name, o.ship_address1, o.ship_city, o.ship_region,
                   o.ship_postal_code, o.ship_country, o.currency, o.payment_status,
                   coalesce(o.prices_include_tax, false) AS prices_include_tax,
                   {_cents("o.subtotal", "subtotal_cents")},
                   {_cents("o.shipping_amount", "shipping_cents")},
                   {_cents("o.tax_amount", "tax_cents")},
                   {_cents("o.discount_amount", "discount_cents")},
                   {_cents("o.order_total", "order_total_cents")},
                   coalesce(s.line_count, 0) AS line_count,
                   s.lines_total_cents,
                   -- an order with no lines is judged as one that ships
                   coalesce(s.ships, true) AS needs_shipping,
                   subtotal_cents - s.lines_total_cents AS subtotal_diff_cents,
                   coalesce(subtotal_cents, s.lines_total_cents)
                       + coalesce(shipping_cents, 0)
                       + CASE WHEN o.prices_include_tax THEN 0 ELSE coalesce(tax_cents, 0) END
                       - coalesce(discount_cents, 0) AS expected_total_cents,
                   order_total_cents - expected_total_cents AS total_diff_cents,
                   CASE WHEN o.payment_status = 'on_account' AND o.channel IN ({on_account})
                        THEN 'on_account'
                        WHEN o.payment_status = 'on_account' THEN 'on_account_not_accepted'
                        ELSE coalesce(o.payment_status, 'unknown') END AS payment_clearance,
                   CASE WHEN o.currency = 'USD' THEN o.order_total::DOUBLE
                        ELSE o.order_total::DOUBLE * coalesce(fx.rate_to_usd, first_fx.rate_to_usd)
                   END AS order_total_usd
            FROM {ORDERS.qualified} o
            JOIN val_keys USING (order_key)
            LEFT JOIN sums s USING (order_key)
            -- the rate of the order's day (latest on or before it), else the earliest known
            ASOF LEFT JOIN val_fx fx
                ON fx.currency = o.currency AND CAST(o.ordered_at AS DATE) >= fx.date
            LEFT JOIN (
                SELECT currency, arg_min(rate_to_usd, date) AS rate_to_usd
                FROM val_fx GROUP BY currency
            ) first_fx ON first_fx.currency = o.currency
            ORDER BY o.order_key
            """,
        )
    finally:
        con.unregister("val_fx")
    duplicates = duplicate_orders(con, config.duplicate_window_hours)
    frame = frame.join(duplicates, on="order_key", how="left", maintain_order="left")
    postal = postal_problems(frame)
    return pl.concat(
        [
            frame.with_columns(
                pl.when(pl.col("needs_shipping")).then(postal).alias("postal_problem")
            ),
            contact_problems(frame),
        ],
        how="horizontal",
    )


def duplicate_orders(con: duckdb.DuckDBPyConnection, window_hours: float) -> pl.DataFrame:
    """For each order in ``val_keys`` that repeats an earlier one: which, and how much later.

    Two orders are the same when the customer (email, else name), the ship-to street, postal
    code and country, and the SKUs with their quantities are the same; the later one, placed
    within ``window_hours`` of the earlier (not cancelled) one, is the duplicate. Exchange
    orders (channel ``exchange``, made by the returns stage, one per RMA) are never
    duplicates, nor do they make another order one.
    """
    return query_frame(
        con,
        f"""
        WITH bounds AS (
            SELECT min(ordered_at) - to_microseconds(CAST($window * 3600e6 AS BIGINT)) AS lo,
                   max(ordered_at) AS hi
            FROM {ORDERS.qualified} JOIN val_keys USING (order_key)
        ),
        pool AS (
            SELECT order_key, ordered_at,
                   lower(trim(coalesce(email, customer_name))) AS who,
                   lower(trim(ship_address1)) AS street,
                   -- a ZIP+4 and its ZIP are the same place
                   regexp_replace(upper(replace(ship_postal_code, ' ', '')),
                                  '^([0-9]{{5}})-[0-9]{{4}}$', '\\1') AS postal,
                   ship_country
            FROM {ORDERS.qualified}, bounds
            WHERE status <> 'cancelled' AND ordered_at BETWEEN lo AND hi
              AND coalesce(email, customer_name) IS NOT NULL AND channel <> 'exchange'
        ),
        items AS (
            SELECT order_key,
                   string_agg(coalesce(sku, '?') || '*' || coalesce(quantity, 0), ','
                              ORDER BY sku, quantity) AS items
            FROM {ORDER_LINES.qualified}
            WHERE order_key IN (SELECT order_key FROM pool)
            GROUP BY order_key
        ),
        ranked AS (
            SELECT order_key, ordered_at,
                   lag(order_key) OVER w AS previous_key,
                   lag(ordered_at) OVER w AS previous_at
            FROM pool JOIN items USING (order_key)
            WINDOW w AS (
                PARTITION BY who, coalesce(street, ''), coalesce(postal, ''),
                             coalesce(ship_country, ''), items
                ORDER BY ordered_at, order_key
            )
        )
        SELECT order_key, previous_key AS duplicate_of,
               CAST(round(epoch(ordered_at - previous_at) / 60) AS BIGINT)
                   AS duplicate_gap_minutes
        FROM ranked
        WHERE previous_key IS NOT NULL
          AND ordered_at - previous_at <= to_microseconds(CAST($window * 3600e6 AS BIGINT))
          AND order_key IN (SELECT order_key FROM val_keys)
        """,
        {"window": window_hours},
    )
