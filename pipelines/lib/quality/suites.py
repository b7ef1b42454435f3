"""The expectation suites, as code: every check is a Great Expectations expectation.

Two suites: ``orders`` (one row per order) and ``order_lines`` (one row per line). Each
expectation belongs to a rule of ``validation.toml`` (its reason and severity) and carries
the sentence a failing row is explained with, as a Polars expression over that row, so the
hold reasons come straight from GX's unexpected rows.

Columns the libraries or arithmetic have to compute first (postal_problem, email_problem,
phone_problem, total_diff_cents, duplicate_of, ...) are added by
:mod:`pipelines.lib.quality.prepare`; the judgement (which rows fail) is GX's.
"""

from __future__ import annotations

from dataclasses import dataclass

import great_expectations.expectations as gxe
import polars as pl
import pycountry

ORDERS_SUITE = "orders"
LINES_SUITE = "order_lines"


def _only_if(flag: str) -> dict:
    """GX row condition: the expectation applies to rows where boolean ``flag`` is true."""
    return {"row_condition": f"{flag}==True", "condition_parser": "pandas"}


#: Ship-to rules apply to orders with at least one line we ship.
SHIPS = _only_if("needs_shipping")
#: The catalogue rule applies to lines we ship (not those Amazon ships from FBA stock).
WE_SHIP = _only_if("requires_shipping")


@dataclass(frozen=True)
class Check:
    rule: str
    suite: str
    expectation: gxe.Expectation
    #: Explains one failing row (evaluated on the suite's Polars frame).
    detail: pl.Expr

    @property
    def columns(self) -> list[str]:
        """Frame columns the expectation reads (including its row condition)."""
        kwargs = self.expectation.configuration.kwargs
        cols = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
        condition = kwargs.get("row_condition")
        if condition:  # "flag==True" (see _only_if); GX keeps it as a pass-through filter
            text = (
                condition.get("pass_through_filter", "")
                if isinstance(condition, dict)
                else condition
            )
            cols.append(str(text).split("==")[0])
        return cols

    @property
    def label(self) -> str:
        return f"{self.expectation.expectation_type}({', '.join(self.columns[:2])})"


@dataclass(frozen=True)
class SuiteInputs:
    """Value sets the expectations compare against, from reference data and libraries."""

    catalogue_skus: frozenset[str]
    served_countries: frozenset[str]
    release_payment_statuses: tuple[str, ...]
    on_account_channels: tuple[str, ...]
    high_risk_order_total_usd: float

    @property
    def payment_accepted(self) -> list[str]:
        """payment_clearance values that pass (see prepare.orders_frame)."""
        return [*self.release_payment_statuses, "on_account"]


def iso_countries() -> list[str]:
    return sorted(c.alpha_2 for c in pycountry.countries)


def iso_currencies() -> list[str]:
    return sorted(c.alpha_3 for c in pycountry.currencies)


def _money(cents: str) -> pl.Expr:
    """Integer cents → "12.34" text."""
    value = pl.col(cents)
    sign = pl.when(value < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    units = value.abs() // 100
    frac = (value.abs() % 100).cast(pl.String).str.zfill(2)
    return pl.concat_str([sign, units.cast(pl.String), pl.lit("."), frac])


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).fill_null("(blank)")


def _line(text: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit("line "), pl.col("line_no").cast(pl.String), pl.lit(": "), text])


def build_checks(inputs: SuiteInputs) -> list[Check]:
    """Every expectation of both suites, in the order their findings are listed."""
    ship_to = {
        "ship_name": "recipient name",
        "ship_address1": "street address",
        "ship_city": "city",
        "ship_country": "country",
    }
    checks = [
        *(
            Check(
                "ship_to_required",
                ORDERS_SUITE,
                gxe.ExpectColumnValuesToNotBeNull(column=column, **SHIPS),
                pl.lit(f"ship-to {label} is missing"),
            )
            for column, label in ship_to.items()
        ),
        Check(
            "country_code",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeInSet(
                column="ship_country", value_set=iso_countries(), **SHIPS
            ),
            pl.format('country "{}" is not an ISO 3166 country code', _text("ship_country")),
        ),
        Check(
            "postal_code",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeNull(column="postal_problem", **SHIPS),
            pl.col("postal_problem"),
        ),
        Check(
            "email_syntax",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeNull(column="email_problem"),
            pl.col("email_problem"),
        ),
        Check(
            "phone_number",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeNull(column="phone_problem"),
            pl.col("phone_problem"),
        ),
        Check(
            "currency_code",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToNotBeNull(column="currency"),
            pl.lit("currency is missing"),
        ),
        Check(
            "currency_code",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeInSet(column="currency", value_set=iso_currencies()),
            pl.format('currency "{}" is not an ISO 4217 code', _text("currency")),
        ),
        Check(
            "order_totals",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToNotBeNull(column="order_total_cents"),
            pl.lit("order total is missing"),
        ),
        Check(
            "order_totals",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeBetween(
                column="subtotal_diff_cents", min_value=-1, max_value=1
            ),
            pl.format(
                "subtotal {} is not the sum of the line totals {}",
                _money("subtotal_cents"),
                _money("lines_total_cents"),
            ),
        ),
        Check(
            "order_totals",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeBetween(column="total_diff_cents", min_value=-1, max_value=1),
            pl.format(
                "order total {} is not subtotal {} + shipping {} + tax {} - discount {} = {}",
                _money("order_total_cents"),
                _money("subtotal_cents"),
                _money("shipping_cents"),
                pl.when(pl.col("prices_include_tax"))
                .then(pl.concat_str([_money("tax_cents"), pl.lit(" (included)")]))
                .otherwise(_money("tax_cents")),
                _money("discount_cents"),
                _money("expected_total_cents"),
            ),
        ),
        Check(
            "has_lines",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeBetween(column="line_count", min_value=1),
            pl.lit("order has no lines"),
        ),
        Check(
            "payment",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeInSet(
                column="payment_clearance", value_set=inputs.payment_accepted
            ),
            pl.when(pl.col("payment_status") == "on_account")
            .then(pl.format('payment "on_account" is not accepted for {} orders', "channel"))
            .otherwise(
                pl.format(
                    'payment is "{}" (needs {})',
                    _text("payment_status"),
                    pl.when(pl.col("channel").is_in(list(inputs.on_account_channels)))
                    .then(pl.lit(", ".join(inputs.release_payment_statuses) + " or on_account"))
                    .otherwise(pl.lit(" or ".join(inputs.release_payment_statuses))),
                )
            ),
        ),
        Check(
            "serviceable_destination",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeInSet(
                column="ship_country", value_set=sorted(inputs.served_countries), **SHIPS
            ),
            pl.format("no warehouse or carrier ships to {}", _text("ship_country")),
        ),
        Check(
            "duplicate_order",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeNull(column="duplicate_of"),
            pl.format(
                "same customer, ship-to and items as {} placed {} min earlier",
                pl.col("duplicate_of"),
                pl.col("duplicate_gap_minutes").cast(pl.String),
            ),
        ),
        Check(
            "high_value",
            ORDERS_SUITE,
            gxe.ExpectColumnValuesToBeBetween(
                column="order_total_usd", max_value=inputs.high_risk_order_total_usd
            ),
            pl.format(
                "order total {} {} (about {} USD) is above the review limit of {} USD",
                _money("order_total_cents"),
                _text("currency"),
                pl.col("order_total_usd").round(0).cast(pl.Int64).cast(pl.String),
                pl.lit(f"{inputs.high_risk_order_total_usd:g}"),
            ),
        ),
        Check(
            "sku_known",
            LINES_SUITE,
            gxe.ExpectColumnValuesToNotBeNull(column="sku", **WE_SHIP),
            _line(pl.lit("no SKU")),
        ),
        Check(
            "sku_known",
            LINES_SUITE,
            gxe.ExpectColumnValuesToBeInSet(
                column="sku", value_set=sorted(inputs.catalogue_skus), **WE_SHIP
            ),
            _line(pl.format('SKU "{}" is not in the catalogue', pl.col("sku"))),
        ),
        Check(
            "quantity",
            LINES_SUITE,
            gxe.ExpectColumnValuesToNotBeNull(column="quantity"),
            _line(pl.lit("quantity is missing or not a whole number")),
        ),
        Check(
            "quantity",
            LINES_SUITE,
            gxe.ExpectColumnValuesToBeBetween(column="quantity", min_value=1),
            _line(pl.format("quantity {} (must be at least 1)", pl.col("quantity"))),
        ),
        Check(
            "unit_price",
            LINES_SUITE,
            gxe.ExpectColumnValuesToNotBeNull(column="unit_price_cents"),
            _line(pl.lit("unit price is missing")),
        ),
        Check(
            "unit_price",
            LINES_SUITE,
            gxe.ExpectColumnValuesToBeBetween(column="unit_price_cents", min_value=0),
            _line(pl.format("unit price {} is negative", _money("unit_price_cents"))),
        ),
        Check(
            "line_total",
            LINES_SUITE,
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="line_total_tolerance_cents",
                column_B="line_total_error_cents",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
            ),
            _line(
                pl.format(
                    "total {} is not {} x {} - discount {} = {}",
                    _money("line_total_cents"),
                    pl.col("quantity"),
                    _money("unit_price_cents"),
                    _money("line_discount_cents"),
                    _money("expected_line_total_cents"),
                )
            ),
        ),
    ]
    for number, check in enumerate(checks):
        check.expectation.meta = {"rule": check.rule, "check": number}
    return checks


#: Every rule an expectation belongs to, in listing order; validation.toml must configure
#: exactly these (a test holds this list and build_checks() to each other).
RULES: tuple[str, ...] = (
    "ship_to_required",
    "country_code",
    "postal_code",
    "email_syntax",
    "phone_number",
    "currency_code",
    "order_totals",
    "has_lines",
    "payment",
    "serviceable_destination",
    "duplicate_order",
    "high_value",
    "sku_known",
    "quantity",
    "unit_price",
    "line_total",
)
