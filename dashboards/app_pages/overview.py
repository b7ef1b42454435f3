"""Overview: the KPIs an OMS is judged by, for the picked period and channels, each with its
change against the period of the same length just before, and their daily trends.

Every figure comes from ``analytics.kpi_daily`` (one row per day and channel, numerators and
denominators kept): a rate over a period is the sum of its numerators over the sum of its
denominators, which is how the mart's YAML defines the roll-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import polars as pl
import streamlit as st

from dashboards import data, filters, run_health


@dataclass(frozen=True)
class Kpi:
    label: str
    numerator: str
    denominator: str | None = None  # None: a total, not a rate
    kind: str = "count"  # count, money or rate
    lower_is_better: bool = False
    help: str = ""
    #: A money KPI's fixed currency; None: the reporting currency.
    currency: str | None = None


KPIS = (
    Kpi("Orders", "orders", help="Orders placed in the period (cancelled ones included)."),
    Kpi(
        "Revenue",
        "revenue_reporting",
        kind="money",
        help="Order totals of the orders placed, cancelled ones excluded, converted at the "
        "order date's FX rate.",
    ),
    Kpi("Units", "units", help="Units ordered in the period."),
    Kpi(
        "Fill rate",
        "fill_units_allocated",
        "fill_units_ordered",
        "rate",
        help="Units allocated at the order's first allocation attempt / units ordered.",
    ),
    Kpi(
        "Backorder rate",
        "backordered_orders",
        "allocation_attempted_orders",
        "rate",
        lower_is_better=True,
        help="Orders with a line backordered at the first attempt / orders attempted.",
    ),
    Kpi(
        "On-time ship",
        "shipped_on_time_orders",
        "ship_due_orders",
        "rate",
        help="Orders shipped in full by their ship-by time / orders due to ship (counted on "
        "the ship-by date or when shipped, whichever is first).",
    ),
    Kpi(
        "On-time delivery",
        "delivered_on_time_orders",
        "delivery_due_orders",
        "rate",
        help="Orders delivered in full by the promised date / orders whose promise is due.",
    ),
    Kpi(
        "OTIF",
        "otif_orders",
        "delivery_due_orders",
        "rate",
        help="On time and in full: every unit delivered by the promised date.",
    ),
    Kpi(
        "Perfect orders",
        "perfect_orders",
        "delivery_due_orders",
        "rate",
        help="OTIF, undamaged, and no return for a wrong or defective item.",
    ),
    Kpi(
        "Hold rate",
        "held_orders",
        "orders",
        "rate",
        lower_is_better=True,
        help="Orders placed that were ever held by validation / orders placed.",
    ),
    Kpi(
        "Split shipments",
        "split_shipment_orders",
        "shipped_orders",
        "rate",
        lower_is_better=True,
        help="Shipped orders that went out in more than one shipment / orders shipped.",
    ),
    Kpi(
        "Shipping cost per order",
        "shipping_cost_usd",
        "shipped_orders",
        "money",
        lower_is_better=True,
        help="Carrier cost of the parcels / orders shipped (first shipment in the period); "
        "carrier rates are in USD.",
        currency="USD",
    ),
    Kpi(
        "Refunds issued",
        "refunded_reporting",
        kind="money",
        lower_is_better=True,
        help="Refunds issued in the period, converted at the order date's FX rate.",
    ),
)
TILES_PER_ROW = 5

# The cycle times: (label, hours column, the date it counts on, the timestamp it needs).
CYCLES = (
    ("Received → released", "hours_received_to_released", "first_released_date"),
    ("Released → shipped", "hours_released_to_shipped", "first_shipped_date"),
    ("Shipped → delivered", "hours_shipped_to_delivered", "delivered_date"),
    ("Received → delivered", "hours_received_to_delivered", "delivered_date"),
)
# The daily service-level lines: (label, numerator, denominator).
SERVICE_LINES = (
    ("Fill rate", "fill_units_allocated", "fill_units_ordered"),
    ("On-time ship", "shipped_on_time_orders", "ship_due_orders"),
    ("OTIF", "otif_orders", "delivery_due_orders"),
)


def _columns() -> list[str]:
    return sorted({c for k in KPIS for c in (k.numerator, k.denominator) if c})


def totals(picked: filters.Filters) -> dict | None:
    """Each KPI column summed over the period and channels; None without the mart."""
    cond, params = picked.where("date_day", "channel")
    sums = ", ".join(f"sum({c}) AS {c}" for c in _columns())
    frame = data.query(
        f"SELECT {sums}, sum(unconverted_orders) AS unconverted_orders, "
        f"any_value(reporting_currency) AS reporting_currency "
        f"FROM analytics.kpi_daily WHERE {cond}",
        params,
    )
    return None if frame is None else frame.row(0, named=True)


def value(kpi: Kpi, sums: dict) -> float | None:
    top = sums.get(kpi.numerator)
    if kpi.denominator is None:
        return top or 0
    bottom = sums.get(kpi.denominator)
    return top / bottom if bottom else None


def show(kpi: Kpi, number: float | None) -> str:
    if number is None:
        return "–"
    if kpi.kind == "rate":
        return f"{number:.1%}"
    if kpi.kind == "money":  # the label names the currency
        return f"{number / 1_000_000:,.2f}M" if abs(number) >= 1_000_000 else f"{number:,.2f}"
    return f"{int(number):,}"


def change(kpi: Kpi, now: float | None, before: float | None, currency: str) -> str | None:
    """The change against the previous period in the KPI's own unit (percentage points for
    rates); None when either side has nothing to compare."""
    if now is None or before is None:
        return None
    diff = now - before
    if kpi.kind == "rate":
        return f"{diff * 100:+.1f} pp"
    if kpi.kind == "money":
        return f"{diff:+,.2f} {currency}"
    relative = f" ({diff / before:+.1%})" if before else ""
    return f"{int(diff):+,}{relative}"


st.title("Overview")

run_health.show(caption=True)

picked = filters.sidebar(warehouse=False)
# KPIs that count on a later date than the order date (ship-by, promised delivery, a
# refund) run on past the newest order date, so "All dates" holds every order judged.
span = filters.open_ended(picked) if picked else None
now = totals(span) if span else None
if picked is None or now is None:
    filters.empty_state()
    st.stop()

currency = now["reporting_currency"] or "USD"
earlier = filters.comparable(picked)
before = (totals(earlier) or {}) if earlier else {}
had_before = bool(before.get("orders"))
if earlier is None:
    compared = "The period before is not wholly in the snapshot, so no change is shown"
elif not had_before:
    compared = (
        f"No orders from {earlier.start:%Y-%m-%d} to {earlier.end:%Y-%m-%d}, so no change is shown"
    )
else:
    compared = f"Changes are against {earlier.start:%Y-%m-%d} to {earlier.end:%Y-%m-%d}"
st.caption(
    f"{picked.describe()}; KPIs counted on a later date (ship-by, promised delivery, "
    f"refund) include those days after the newest order. {compared}. Money in {currency}, "
    "the reporting currency; carrier costs in USD."
)
if now["unconverted_orders"]:
    st.warning(
        f"{now['unconverted_orders']:,} orders have no FX rate on or before their order date "
        f"and are left out of revenue: add their currency's rates to "
        "data/reference/fx_rates.csv."
    )

for row in range(0, len(KPIS), TILES_PER_ROW):
    cells = st.columns(TILES_PER_ROW)
    for cell, kpi in zip(cells, KPIS[row : row + TILES_PER_ROW], strict=False):
        current = value(kpi, now)
        unit = kpi.currency or currency
        label = f"{kpi.label} ({unit})" if kpi.kind == "money" else kpi.label
        cell.metric(
            label,
            show(kpi, current),
            change(kpi, current, value(kpi, before), unit) if had_before else None,
            delta_color="inverse" if kpi.lower_is_better else "normal",
            help=kpi.help,
        )

cond, params = span.where("date_day", "channel")
daily = data.query(
    "SELECT date_day, channel, orders, revenue_reporting, "
    + ", ".join(f"{top}, {bottom}" for _, top, bottom in SERVICE_LINES)
    + f" FROM analytics.kpi_daily WHERE {cond} ORDER BY date_day, channel",
    params,
)
if daily is None or daily.is_empty():
    st.info("No day in the period yet.")
    st.stop()
# Orders and revenue count on the order date: the picked days only.
placed = daily.filter(pl.col("date_day").is_between(picked.start, picked.end))

left, right = st.columns(2)
with left:
    st.subheader("Orders per day")
    orders_chart = (
        alt.Chart(placed.select("date_day", "channel", "orders").to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("date_day:T", title="Order date", axis=alt.Axis(format="%b %d")),
            y=alt.Y("sum(orders):Q", title="Orders"),
            color=alt.Color("channel:N", title="Channel"),
            tooltip=[
                alt.Tooltip("date_day:T", title="Date", format="%Y-%m-%d"),
                alt.Tooltip("channel:N", title="Channel"),
                alt.Tooltip("sum(orders):Q", title="Orders", format=","),
            ],
        )
    )
    st.altair_chart(orders_chart, width="stretch")
with right:
    st.subheader(f"Revenue per day ({currency})")
    revenue = placed.select(
        "date_day", "channel", pl.col("revenue_reporting").cast(pl.Float64).fill_null(0)
    )
    revenue_chart = (
        alt.Chart(revenue.to_pandas())
        .mark_area()
        .encode(
            x=alt.X("date_day:T", title="Order date", axis=alt.Axis(format="%b %d")),
            y=alt.Y(
                "sum(revenue_reporting):Q",
                title=f"Revenue ({currency})",
                axis=alt.Axis(format=",.0f"),
            ),
            color=alt.Color("channel:N", title="Channel"),
            tooltip=[
                alt.Tooltip("date_day:T", title="Date", format="%Y-%m-%d"),
                alt.Tooltip("channel:N", title="Channel"),
                alt.Tooltip(
                    "sum(revenue_reporting):Q", title=f"Revenue ({currency})", format=",.2f"
                ),
            ],
        )
    )
    st.altair_chart(revenue_chart, width="stretch")

st.subheader("Service levels per day")
per_day = daily.group_by("date_day").agg(
    pl.col(c).sum() for _, top, bottom in SERVICE_LINES for c in (top, bottom)
)
service = pl.concat(
    per_day.select(
        "date_day",
        pl.lit(label).alias("kpi"),
        (pl.col(top) / pl.when(pl.col(bottom) > 0).then(pl.col(bottom)))
        .cast(pl.Float64)
        .alias("rate"),
        pl.col(bottom).cast(pl.Int64).alias("base"),
    )
    for label, top, bottom in SERVICE_LINES
).drop_nulls("rate")
if service.is_empty():
    st.info("No order in the period has been allocated or come due to ship yet.")
else:
    st.caption(
        "Each day's rate over that day's orders (fill rate by order date, on-time ship by "
        "ship-by date, OTIF by promised delivery date); days without any order due are left out."
    )
    service_chart = (
        alt.Chart(service.sort("date_day").to_pandas())
        .mark_line(point=True)
        .encode(
            x=alt.X("date_day:T", title="Date", axis=alt.Axis(format="%b %d")),
            y=alt.Y(
                "rate:Q", title="Rate", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])
            ),
            color=alt.Color("kpi:N", title="KPI"),
            tooltip=[
                alt.Tooltip("date_day:T", title="Date", format="%Y-%m-%d"),
                alt.Tooltip("kpi:N", title="KPI"),
                alt.Tooltip("rate:Q", title="Rate", format=".1%"),
                alt.Tooltip("base:Q", title="Out of", format=","),
            ],
        )
    )
    st.altair_chart(service_chart, width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("Cycle times (hours)")
    cond, params = span.where(None, "channel")
    parts = [
        f"SELECT '{label}' AS step, count({hours}) AS orders, "
        f"round(median({hours}), 1) AS p50, round(quantile_cont({hours}, 0.9), 1) AS p90 "
        f"FROM analytics.fct_order_kpis WHERE NOT is_cancelled AND {hours} IS NOT NULL "
        f"AND {day} BETWEEN ? AND ? AND {cond}"
        for label, hours, day in CYCLES
    ]
    cycle_params = tuple(p for _ in CYCLES for p in (span.start, span.end, *params))
    cycles = data.query(" UNION ALL ".join(parts), cycle_params)
    if cycles is None or not cycles["orders"].sum():
        st.info("No order in the period has been released to a wave yet.")
    else:
        st.caption(
            "Median and 90th percentile over the orders that completed the step in the period."
        )
        st.dataframe(
            cycles,
            hide_index=True,
            column_config={
                "step": "Step",
                "orders": st.column_config.NumberColumn("Orders", format="localized"),
                "p50": st.column_config.NumberColumn("Median (h)", format="%.1f"),
                "p90": st.column_config.NumberColumn("p90 (h)", format="%.1f"),
            },
        )
with right:
    st.subheader("Orders by status")
    cond, params = picked.where("order_date", "channel")
    statuses = data.query(
        f"SELECT status, count(*) AS orders FROM analytics.fct_orders WHERE {cond} "
        "GROUP BY status ORDER BY orders DESC, status",
        params,
    )
    if statuses is None or statuses.is_empty():
        st.info("No order placed in the period.")
    else:
        st.caption("Where the orders placed in the period are now.")
        status_chart = (
            alt.Chart(statuses.to_pandas())
            .mark_bar()
            .encode(
                x=alt.X("orders:Q", title="Orders"),
                y=alt.Y("status:N", title=None, sort="-x"),
                tooltip=[
                    alt.Tooltip("status:N", title="Status"),
                    alt.Tooltip("orders:Q", title="Orders", format=","),
                ],
            )
        )
        st.altair_chart(status_chart, width="stretch")
