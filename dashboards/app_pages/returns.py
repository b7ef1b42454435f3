"""Returns: how much comes back, why, what state it comes back in, and what it costs.

Every section counts on the order date (the returns and refunds of the orders placed in the
picked period), like ``analytics.kpi_returns``: return rates are by cohort, so a recent
period's rate still grows while its return windows are open (a fall against the period
before is no good news, hence the neutral deltas). Rates over a period are the sum of the
numerators over the sum of the denominators. Money is in the reporting currency the snapshot
was built in (the marts' ``reporting_currency``), kept as DECIMAL for the tiles. The
warehouse filter applies to return lines (``fct_returns.warehouse_id``, known once a return
is authorized); rates and refunds are not kept per warehouse.
"""

from __future__ import annotations

from decimal import Decimal

import altair as alt
import polars as pl
import streamlit as st

from dashboards import data, filters

REASONS = {
    "NOT_WANTED": "returned_units_not_wanted",
    "DEFECTIVE": "returned_units_defective",
    "WRONG_ITEM": "returned_units_wrong_item",
    "SIZE_EXCHANGE": "returned_units_size_exchange",
    "DAMAGED_IN_TRANSIT": "returned_units_damaged_in_transit",
    "OTHER": "returned_units_other",
}
DISPOSITIONS = {
    "Restock": "restock_units",
    "Refurbish": "refurbish_units",
    "Damaged": "damaged_units",
    "Scrap": "scrap_units",
    "Missing": "missing_units",
}
STATUSES = ("requested", "authorized", "received", "inspected", "completed", "rejected")
TOP_SKUS = 20
DEFAULT_CURRENCY = "USD"


def _currency() -> str:
    """The reporting currency the snapshot's money is in: the refunds' own, else the daily
    KPIs' (a snapshot without refunds yet), else USD (dbt's default) when neither has a row."""
    row = data.query(
        "SELECT coalesce("
        "(SELECT any_value(reporting_currency) FROM analytics.fct_refunds), "
        "(SELECT any_value(reporting_currency) FROM analytics.kpi_daily)) AS currency"
    )
    if row is None or row.is_empty():
        return DEFAULT_CURRENCY
    return row["currency"][0] or DEFAULT_CURRENCY


def _money(value: Decimal | None) -> str:
    """An amount for a tile; the label names the currency."""
    return "—" if value is None else f"{value:,.2f}"


def _change(now, before):
    """now - before, None when either is unknown (Decimal with Decimal, float with float)."""
    return None if now is None or before is None else now - before


def _tiles(picked: filters.Filters) -> dict:
    """The headline figures for a period: requests and units (return lines, every filter),
    the return rate (units returned / shipped) and refunds in the reporting currency as a
    Decimal (no warehouse)."""
    lines_cond, lines_params = picked.where("order_date", "channel", "warehouse_id")
    rate_cond, rate_params = picked.where("order_date", "channel")
    row = data.query(
        f"""
        WITH lines AS (
            SELECT count(DISTINCT (order_key, return_id)) AS requests,
                   sum(received_quantity) FILTER (WHERE status <> 'rejected')::BIGINT AS units
            FROM analytics.fct_returns WHERE {lines_cond}
        ), rates AS (
            SELECT sum(returned_units) AS returned, sum(shipped_units) AS shipped
            FROM analytics.kpi_returns WHERE {rate_cond}
        ), money AS (
            SELECT sum(amount_reporting) AS refunds FROM analytics.fct_refunds
            WHERE {rate_cond}
        )
        SELECT requests, coalesce(units, 0) AS units,
               returned / nullif(shipped, 0) AS return_rate,
               coalesce(refunds, 0::DECIMAL(18, 2)) AS refunds
        FROM lines, rates, money
        """,
        lines_params + rate_params + rate_params,
    )
    if row is None or row.is_empty():
        return {}
    return row.row(0, named=True)


def _show_tiles(picked: filters.Filters, currency: str) -> None:
    previous = filters.comparable(picked)
    now = _tiles(picked)
    before = _tiles(previous) if previous is not None else {}
    if not now:
        st.info(
            "The return figures are not in this snapshot yet: the next batch's analytics stage "
            "builds them (`make run`)."
        )
        return
    # Only against a period wholly in the snapshot: one partly before the first order date
    # would make any period look like growth. Neutral colours: the period's orders are still
    # inside their return window, so a fall in returns is not (yet) good news.
    has_before = bool(before)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Return requests",
        f"{now['requests']:,}",
        f"{now['requests'] - before['requests']:+,}" if has_before else None,
        delta_color="off",
        help="Customer return requests (RMAs asked for, rejected ones included) on the orders "
        "placed in the period.",
    )
    c2.metric(
        "Units returned",
        f"{now['units']:,}",
        f"{now['units'] - before['units']:+,}" if has_before else None,
        delta_color="off",
        help="Units received back (any disposition but missing; rejected returns excluded) on "
        "the orders placed in the period.",
    )
    rate_change = _change(now["return_rate"], before.get("return_rate")) if has_before else None
    c3.metric(
        "Return rate",
        "—" if now["return_rate"] is None else f"{now['return_rate']:.1%}",
        None if rate_change is None else f"{rate_change * 100:+.1f} pp",
        delta_color="off",
        help="Units returned / units shipped on the orders placed in the period (all warehouses).",
    )
    money_change = _change(now["refunds"], before.get("refunds")) if has_before else None
    c4.metric(
        f"Refunds on these orders ({currency})",
        _money(now["refunds"]),
        None if money_change is None else f"{money_change:+,.2f} {currency}",
        delta_color="off",
        help=f"Refunds and store credit on the orders placed in the period, whenever they were "
        f"issued, converted to {currency} at the order date's rate (all warehouses); refunds "
        "without a rate are left out (see Refunds below). Not the Overview's Refunds, which "
        "counts the refunds issued in the period.",
    )
    if previous is None:
        st.caption("The period before is not wholly in the snapshot, so no change is shown.")
    else:
        st.caption(
            f"Change against {previous.start:%Y-%m-%d} to {previous.end:%Y-%m-%d}, on the "
            "orders placed then. Recent orders are still inside their return window, so their "
            "returns and refunds still grow: a fall against the period before is not good news."
        )


def _rate_chart(frame: pl.DataFrame, category: str, title: str) -> alt.Chart:
    return (
        alt.Chart(frame.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X(
                "return_rate:Q",
                title="Return rate (units returned / shipped)",
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y(f"{category}:N", title=title, sort="-x", axis=alt.Axis(labelLimit=220)),
            tooltip=[
                alt.Tooltip(f"{category}:N", title=title),
                alt.Tooltip("returned_units:Q", title="Units returned", format=","),
                alt.Tooltip("shipped_units:Q", title="Units shipped", format=","),
                alt.Tooltip("return_rate:Q", title="Return rate", format=".1%"),
            ],
        )
    )


def _reasons(picked: filters.Filters) -> None:
    st.subheader("Return rate by reason")
    cond, params = picked.where("order_date", "channel")
    sums = ", ".join(f"sum({column})::BIGINT AS {reason}" for reason, column in REASONS.items())
    frame = data.query(
        f"SELECT sum(shipped_units)::BIGINT AS shipped_units, {sums} FROM analytics.kpi_returns "
        f"WHERE {cond}",
        params,
    )
    if frame is None or frame.is_empty() or not frame["shipped_units"][0]:
        st.info(
            "No units shipped on the orders of this period yet, so no return rate: pick a "
            "longer period, or run the batch until orders ship."
        )
        return
    shipped = frame["shipped_units"][0]
    by_reason = pl.DataFrame(
        {
            "reason": list(REASONS),
            "returned_units": [int(frame[reason][0] or 0) for reason in REASONS],
        }
    ).with_columns(
        shipped_units=pl.lit(shipped),
        return_rate=pl.col("returned_units") / shipped,
    )
    if by_reason["returned_units"].sum() == 0:
        st.info(f"No units returned yet out of {shipped:,} shipped on the orders of this period.")
        return
    st.altair_chart(_rate_chart(by_reason, "reason", "Return reason"), width="stretch")
    st.caption(
        f"Units received back for each reason out of the {shipped:,} units shipped on the "
        "orders placed in the period (all warehouses)."
    )


def _channels(picked: filters.Filters) -> None:
    st.subheader("Return rate by channel")
    cond, params = picked.where("order_date", "channel")
    frame = data.query(
        "SELECT channel, sum(returned_units)::BIGINT AS returned_units, "
        "sum(shipped_units)::BIGINT AS shipped_units, "
        "sum(returned_units) / nullif(sum(shipped_units), 0) AS return_rate "
        f"FROM analytics.kpi_returns WHERE {cond} GROUP BY channel "
        "HAVING sum(shipped_units) > 0 ORDER BY channel",
        params,
    )
    if frame is None or frame.is_empty():
        st.info("No units shipped on the orders of this period yet: pick a longer period.")
        return
    st.altair_chart(_rate_chart(frame, "channel", "Channel"), width="stretch")


def _skus(picked: filters.Filters) -> None:
    st.subheader("SKUs returned most")
    minimum = st.number_input(
        "Minimum units shipped for a SKU to be ranked",
        min_value=1,
        value=10,
        step=5,
        key="returns_min_shipped",
        help="A SKU shipped twice and returned once has a 50% rate that says little; rank "
        "only SKUs shipped at least this often in the period.",
    )
    cond, params = picked.where("kpi.order_date", "kpi.channel")
    frame = data.query(
        "SELECT kpi.sku, any_value(products.product_name) AS product_name, "
        "sum(kpi.shipped_units)::BIGINT AS shipped_units, "
        "sum(kpi.returned_units)::BIGINT AS returned_units, "
        "sum(kpi.returned_units) / sum(kpi.shipped_units) AS return_rate "
        "FROM analytics.kpi_returns AS kpi "
        "LEFT JOIN analytics.dim_products AS products ON kpi.sku = products.sku "
        f"WHERE {cond} GROUP BY kpi.sku "
        "HAVING sum(kpi.shipped_units) >= ? AND sum(kpi.returned_units) > 0 "
        "ORDER BY return_rate DESC, returned_units DESC, kpi.sku LIMIT ?",
        (*params, int(minimum), TOP_SKUS),
    )
    if frame is None or frame.is_empty():
        st.info(
            f"No SKU shipped at least {int(minimum):,} units and had one returned in this "
            "period: lower the minimum or pick a longer period."
        )
        return
    st.caption(
        f"Top {TOP_SKUS} SKUs by return rate among those with at least {int(minimum):,} units "
        "shipped on the orders of the period (all warehouses)."
    )
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "sku": st.column_config.TextColumn("SKU"),
            "product_name": st.column_config.TextColumn("Product"),
            "shipped_units": st.column_config.NumberColumn("Units shipped", format="localized"),
            "returned_units": st.column_config.NumberColumn("Units returned", format="localized"),
            "return_rate": st.column_config.NumberColumn("Return rate", format="percent"),
        },
    )


def _dispositions(picked: filters.Filters) -> None:
    st.subheader("What came back: units by disposition")
    cond, params = picked.where("order_date", "channel", "warehouse_id")
    sums = ", ".join(
        f'sum({column})::BIGINT AS "{label}"' for label, column in DISPOSITIONS.items()
    )
    frame = data.query(
        f"SELECT reason, {sums} FROM analytics.fct_returns WHERE {cond} GROUP BY reason",
        params,
    )
    if frame is None or frame.is_empty():
        st.info("No returns on the orders of this period: nothing inspected yet.")
        return
    long = (
        frame.unpivot(index="reason", variable_name="disposition", value_name="units")
        .with_columns(pl.col("units").fill_null(0).cast(pl.Int64))
        .filter(pl.col("units") > 0)
    )
    if long.is_empty():
        st.info(
            "Returns were requested but no units inspected yet: dispositions appear once "
            "the warehouse inspects what arrives (returns inspection files in data/inbox)."
        )
        return
    chart = (
        alt.Chart(long.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("sum(units):Q", title="Units inspected"),
            y=alt.Y("disposition:N", title="Disposition", sort=list(DISPOSITIONS)),
            color=alt.Color("reason:N", title="Return reason"),
            tooltip=[
                alt.Tooltip("disposition:N", title="Disposition"),
                alt.Tooltip("reason:N", title="Return reason"),
                alt.Tooltip("units:Q", title="Units", format=","),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.caption(
        "Restock goes back on hand; refurbish, damaged and scrap stay in the returns area; "
        "missing units never arrived."
    )


def _refunds(picked: filters.Filters, currency: str) -> None:
    st.subheader(f"Refunds on these orders ({currency})")
    cond, params = picked.where("order_date", "channel")
    by_method = data.query(
        "SELECT method, count(*) AS refunds, sum(units)::BIGINT AS units, "
        "sum(amount_reporting)::DOUBLE AS amount_reporting, "
        "count(*) FILTER (WHERE amount_reporting IS NULL) AS unconverted "
        f"FROM analytics.fct_refunds WHERE {cond} GROUP BY method ORDER BY method",
        params,
    )
    if by_method is None or by_method.is_empty():
        st.info(
            "No refunds on the orders of this period: refunds are issued once returned "
            "units are inspected."
        )
        return
    st.dataframe(
        by_method,
        hide_index=True,
        column_config={
            "method": st.column_config.TextColumn(
                "Method", help="original: back to the order's payment; store_credit."
            ),
            "refunds": st.column_config.NumberColumn("Refunds", format="localized"),
            "units": st.column_config.NumberColumn("Units", format="localized"),
            "amount_reporting": st.column_config.NumberColumn(
                f"Amount ({currency})", format="%.2f", help=f"Converted to {currency}."
            ),
            "unconverted": st.column_config.NumberColumn(
                "Not converted", help="Refunds without an FX rate for the order date."
            ),
        },
    )
    daily = data.query(
        "SELECT issued_date, method, sum(amount_reporting)::DOUBLE AS amount_reporting "
        f"FROM analytics.fct_refunds WHERE {cond} AND amount_reporting IS NOT NULL "
        "GROUP BY issued_date, method ORDER BY issued_date",
        params,
    )
    if daily is not None and not daily.is_empty():
        chart = (
            alt.Chart(daily.to_pandas())
            .mark_bar()
            .encode(
                x=alt.X("issued_date:T", title="Issue date", axis=alt.Axis(format="%Y-%m-%d")),
                y=alt.Y(
                    "sum(amount_reporting):Q",
                    title=f"Refunded ({currency})",
                    axis=alt.Axis(format=",.0f"),
                ),
                color=alt.Color("method:N", title="Method"),
                tooltip=[
                    alt.Tooltip("issued_date:T", title="Issued", format="%Y-%m-%d"),
                    alt.Tooltip("method:N", title="Method"),
                    alt.Tooltip(
                        "sum(amount_reporting):Q", title=f"Refunded ({currency})", format=",.2f"
                    ),
                ],
            )
        )
        st.altair_chart(chart, width="stretch")
        st.caption("Refunds of the period's orders by the day they were issued.")
    unconverted = data.query(
        "SELECT currency, count(*) AS refunds, sum(amount) AS amount "
        f"FROM analytics.fct_refunds WHERE {cond} AND amount_reporting IS NULL "
        "GROUP BY currency ORDER BY currency",
        params,
    )
    if unconverted is not None and not unconverted.is_empty():
        left_out = ", ".join(
            f"{r['refunds']:,} in {r['currency']} ({r['amount']:,.2f})"
            for r in unconverted.iter_rows(named=True)
        )
        st.warning(
            f"Not in the {currency} totals, no FX rate for their order date: {left_out}. Add "
            "the rates to data/reference/fx_rates.csv and rerun the batch."
        )


def _statuses(picked: filters.Filters) -> None:
    st.subheader("Return lines by RMA status")
    cond, params = picked.where("order_date", "channel", "warehouse_id")
    frame = data.query(
        "SELECT status, count(*) AS return_lines, "
        "count(DISTINCT (order_key, return_id)) AS requests, "
        "sum(requested_quantity)::BIGINT AS units_requested "
        f"FROM analytics.fct_returns WHERE {cond} GROUP BY status",
        params,
    )
    if frame is None or frame.is_empty():
        st.info("No return requests on the orders of this period.")
        return
    order = {status: i for i, status in enumerate(STATUSES)}
    frame = frame.sort(pl.col("status").replace_strict(order, default=len(order)))
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "status": st.column_config.TextColumn("Status"),
            "return_lines": st.column_config.NumberColumn("Return lines", format="localized"),
            "requests": st.column_config.NumberColumn("Requests", format="localized"),
            "units_requested": st.column_config.NumberColumn(
                "Units asked back", format="localized"
            ),
        },
    )


st.title("Returns")
picked = filters.sidebar(channel=True, warehouse=True)
if picked is None:
    filters.empty_state("returns")
    st.stop()

currency = _currency()
st.caption(
    f"{picked.describe()} · every figure counts on the order date: the returns and refunds "
    f"of the orders placed in the period. Money in {currency}, the reporting currency."
)
if picked.warehouses:
    st.caption(
        "The warehouse filter applies to return requests, units returned, dispositions and "
        "statuses (the warehouse a return goes back to, known once authorized); return rates "
        "and refunds are for all warehouses."
    )
_show_tiles(picked, currency)
left, right = st.columns(2)
with left:
    _reasons(picked)
with right:
    _channels(picked)
_skus(picked)
_dispositions(picked)
_refunds(picked, currency)
_statuses(picked)
