"""Data quality: the holds validation puts on orders, the Great Expectations results run by
run, the records the tracking and returns stages quarantined, and the GX Data Docs.

Open holds are a state, not a flow: they are shown as of the snapshot's newest data (the
latest order event or hold change), whatever the order date, so an old snapshot does not age
its holds. Hold rates and times to resolve count on the order date (``analytics.kpi_holds``);
validation results and quarantined records on the UTC day they were recorded. Nothing here is
kept per warehouse (validation judges orders before a warehouse is chosen).
"""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from dashboards import data, filters
from pipelines.project import get_settings

AGE_BANDS = ("< 1 day", "1–3 days", "3–7 days", "> 7 days")
#: The snapshot's newest data time: open holds age against it, never the wall clock.
AS_OF_SQL = """
    SELECT greatest(
        (SELECT max("at") FROM oms.order_events),
        (SELECT max(opened_at) FROM analytics.stg_oms__order_holds),
        (SELECT max(resolved_at) FROM analytics.stg_oms__order_holds)
    ) AS as_of
"""


def _as_of():
    frame = data.query(AS_OF_SQL)
    return None if frame is None or frame.is_empty() else frame["as_of"][0]


def _open_holds(picked: filters.Filters) -> None:
    st.subheader("Open holds by reason and age")
    as_of = _as_of()
    cond, params = picked.where(channel_column="orders.channel")
    frame = (
        None
        if as_of is None
        else data.query(
            f"""
            WITH open_holds AS (
                SELECT holds.reason, holds.severity,
                       date_diff('second', holds.opened_at, ?::TIMESTAMPTZ) / 3600.0
                           AS age_hours
                FROM analytics.stg_oms__order_holds AS holds
                JOIN analytics.stg_oms__orders AS orders ON holds.order_key = orders.order_key
                WHERE holds.is_open AND {cond}
            )
            SELECT reason,
                   CASE WHEN age_hours < 24 THEN 0 WHEN age_hours < 72 THEN 1
                        WHEN age_hours < 168 THEN 2 ELSE 3 END AS band,
                   count(*) FILTER (WHERE severity = 'hold')::BIGINT AS holds,
                   count(*) FILTER (WHERE severity = 'warn')::BIGINT AS warnings
            FROM open_holds GROUP BY ALL ORDER BY reason, band
            """,
            (as_of, *params),
        )
    )
    if frame is None:
        st.info(
            "The holds are not in this snapshot yet: the next batch's analytics stage "
            "publishes them (`make run`)."
        )
        return
    if frame.is_empty() or frame["holds"].sum() == 0:
        st.success(
            "No open holds: every order validation judged has passed, been fixed or been "
            "released. Held orders appear here (and in the Exception queue) with the reason."
        )
        if frame["warnings"].sum():
            st.caption(f"{frame['warnings'].sum():,} open warnings (recorded, never stopping).")
        return
    frame = frame.with_columns(
        age_band=pl.col("band").replace_strict(dict(enumerate(AGE_BANDS)), return_dtype=pl.String)
    )
    holds = frame.filter(pl.col("holds") > 0)
    chart = (
        alt.Chart(holds.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("sum(holds):Q", title="Open holds", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("reason:N", title="Hold reason", sort="-x", axis=alt.Axis(labelLimit=220)),
            color=alt.Color(
                "age_band:N",
                title="Open for",
                scale=alt.Scale(domain=list(AGE_BANDS), scheme="orangered"),
            ),
            order=alt.Order("band:Q"),
            tooltip=[
                alt.Tooltip("reason:N", title="Reason"),
                alt.Tooltip("age_band:N", title="Open for"),
                alt.Tooltip("holds:Q", title="Open holds", format=","),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    table = (
        frame.group_by("reason")
        .agg(
            pl.col("holds").sum().alias("open_holds"),
            *(
                pl.col("holds").filter(pl.col("band") == i).sum().alias(band)
                for i, band in enumerate(AGE_BANDS)
            ),
            pl.col("warnings").sum().alias("open_warnings"),
        )
        .sort("open_holds", "reason", descending=[True, False])
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "reason": st.column_config.TextColumn("Hold reason"),
            "open_holds": st.column_config.NumberColumn("Open holds", format="localized"),
            **{band: st.column_config.NumberColumn(f"Open {band}") for band in AGE_BANDS},
            "open_warnings": st.column_config.NumberColumn(
                "Open warnings", help="Findings of severity warn: recorded, the order proceeds."
            ),
        },
    )
    st.caption(
        f"Ages as of {as_of:%Y-%m-%d %H:%M} UTC, the snapshot's newest order event or hold "
        "change; open holds of every order date. Release, correct or cancel them in the "
        "Exception queue."
    )


def _hold_rates(picked: filters.Filters) -> None:
    st.subheader("Hold rate and time to resolve by reason")
    cond, params = picked.where("order_date", "channel")
    day_cond, day_params = picked.where("date_day", "channel")
    placed = data.query(
        f"SELECT sum(orders)::BIGINT AS orders FROM analytics.kpi_daily WHERE {day_cond}",
        day_params,
    )
    orders = None if placed is None or placed.is_empty() else placed["orders"][0]
    by_reason = data.query(
        "SELECT reason, sum(held_orders)::BIGINT AS held_orders, "
        "sum(holds_opened)::BIGINT AS holds_opened, sum(holds_open)::BIGINT AS holds_open, "
        "sum(holds_resolved)::BIGINT AS holds_resolved, "
        "sum(hours_to_resolve_total) / nullif(sum(holds_resolved), 0) AS hours_avg "
        f"FROM analytics.kpi_holds WHERE {cond} GROUP BY reason",
        params,
    )
    # Percentiles do not roll up from the daily mart: take them over the period's holds.
    hold_cond, hold_params = picked.where("orders.order_date", "orders.channel")
    percentiles = data.query(
        "SELECT holds.reason, "
        "round(median(holds.hours_to_resolve), 1) AS hours_p50, "
        "round(quantile_cont(holds.hours_to_resolve, 0.9), 1) AS hours_p90 "
        "FROM analytics.stg_oms__order_holds AS holds "
        "JOIN analytics.stg_oms__orders AS orders ON holds.order_key = orders.order_key "
        f"WHERE holds.severity = 'hold' AND NOT holds.is_open AND {hold_cond} "
        "GROUP BY holds.reason",
        hold_params,
    )
    if not orders or by_reason is None or by_reason.is_empty():
        st.info(
            "No order placed in this period was held by validation. Holds appear when an "
            "order fails a rule of severity hold (data/reference/validation.toml)."
        )
        return
    if percentiles is not None:
        by_reason = by_reason.join(percentiles, on="reason", how="left")
    else:
        by_reason = by_reason.with_columns(hours_p50=None, hours_p90=None)
    by_reason = by_reason.with_columns(
        hold_rate=pl.col("held_orders") / orders, hours_avg=pl.col("hours_avg").round(1)
    ).sort("hold_rate", "reason", descending=[True, False])
    chart = (
        alt.Chart(by_reason.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X(
                "hold_rate:Q",
                title="Hold rate (orders held / orders placed)",
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("reason:N", title="Hold reason", sort="-x", axis=alt.Axis(labelLimit=220)),
            tooltip=[
                alt.Tooltip("reason:N", title="Reason"),
                alt.Tooltip("held_orders:Q", title="Orders held", format=","),
                alt.Tooltip("hold_rate:Q", title="Hold rate", format=".1%"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        by_reason.select(
            "reason",
            "held_orders",
            "hold_rate",
            "holds_open",
            "holds_resolved",
            "hours_p50",
            "hours_p90",
            "hours_avg",
        ),
        hide_index=True,
        column_config={
            "reason": st.column_config.TextColumn("Hold reason"),
            "held_orders": st.column_config.NumberColumn("Orders held", format="localized"),
            "hold_rate": st.column_config.NumberColumn("Hold rate", format="percent"),
            "holds_open": st.column_config.NumberColumn("Still open"),
            "holds_resolved": st.column_config.NumberColumn("Resolved"),
            "hours_p50": st.column_config.NumberColumn("Hours to resolve, median", format="%.1f h"),
            "hours_p90": st.column_config.NumberColumn("Hours to resolve, p90", format="%.1f h"),
            "hours_avg": st.column_config.NumberColumn("Hours to resolve, mean", format="%.1f h"),
        },
    )
    st.caption(
        f"Of the {orders:,} orders placed in the period. An order held for two reasons counts "
        "under both. Times to resolve: from the hold to its clearing, release or cancellation, "
        "over the resolved holds."
    )


def _validation_results(picked: filters.Filters) -> None:
    st.subheader("Validation results over time")
    cond, params = filters.open_ended(picked).where("validated_date")
    daily = data.query(
        "SELECT validated_date, rule, sum(rows_failed)::BIGINT AS rows_failed, "
        "sum(rows_evaluated)::BIGINT AS rows_evaluated "
        f"FROM analytics.fct_validation_results WHERE {cond} "
        "GROUP BY validated_date, rule ORDER BY validated_date, rule",
        params,
    )
    if daily is None:
        st.info(
            "No validation results in the snapshot yet: they are recorded by the validation "
            "stage of each batch (`make run`), then published with the analytics."
        )
        return
    if daily.is_empty():
        st.info("No validation run in this period: pick a longer period.")
        return
    failing = daily.filter(pl.col("rows_failed") > 0)
    if failing.is_empty():
        st.success(
            f"Every expectation passed in the period's validation runs "
            f"({daily['rows_evaluated'].sum():,} rows evaluated)."
        )
    else:
        chart = (
            alt.Chart(failing.to_pandas())
            .mark_bar()
            .encode(
                x=alt.X(
                    "validated_date:T",
                    title="Validation day (UTC)",
                    axis=alt.Axis(format="%Y-%m-%d"),
                ),
                y=alt.Y("sum(rows_failed):Q", title="Rows failed"),
                color=alt.Color("rule:N", title="Rule"),
                tooltip=[
                    alt.Tooltip("validated_date:T", title="Day", format="%Y-%m-%d"),
                    alt.Tooltip("rule:N", title="Rule"),
                    alt.Tooltip("rows_failed:Q", title="Rows failed", format=","),
                    alt.Tooltip("rows_evaluated:Q", title="Rows evaluated", format=","),
                ],
            )
        )
        st.altair_chart(chart, width="stretch")
    rules = data.query(
        "SELECT rule, any_value(severity ORDER BY validated_at DESC) AS severity, "
        "count(DISTINCT run_id)::BIGINT AS runs, sum(rows_evaluated)::BIGINT AS rows_evaluated, "
        "sum(rows_failed)::BIGINT AS rows_failed, "
        "sum(rows_failed) / nullif(sum(rows_evaluated), 0) AS failure_rate, "
        "max(validated_at) FILTER (WHERE NOT success) AS last_failed_at "
        f"FROM analytics.fct_validation_results WHERE {cond} GROUP BY rule "
        "ORDER BY rows_failed DESC, rule",
        params,
    )
    if rules is not None and not rules.is_empty():
        st.dataframe(
            rules,
            hide_index=True,
            column_config={
                "rule": st.column_config.TextColumn("Rule"),
                "severity": st.column_config.TextColumn("Severity", help="hold or warn"),
                "runs": st.column_config.NumberColumn("Runs"),
                "rows_evaluated": st.column_config.NumberColumn(
                    "Rows evaluated", format="localized"
                ),
                "rows_failed": st.column_config.NumberColumn("Rows failed", format="localized"),
                "failure_rate": st.column_config.NumberColumn("Failure rate", format="percent"),
                "last_failed_at": st.column_config.DatetimeColumn(
                    "Last failed (UTC)", format="YYYY-MM-DD HH:mm"
                ),
            },
        )
    st.caption(
        "Great Expectations results per validation run, on the day of the run. Each run "
        "validates the orders that are new or changed since they were last judged; a rule "
        "may have several expectations."
    )


def _quarantine(picked: filters.Filters) -> None:
    st.subheader("Quarantined records per day")
    cond, params = filters.open_ended(picked).where("cast(quarantined_at AS DATE)")
    daily = data.query(
        "SELECT cast(quarantined_at AS DATE) AS day, 'tracking events' AS source, reason, "
        "count(*)::BIGINT AS records "
        f"FROM analytics.stg_oms__tracking_quarantine WHERE {cond} GROUP BY ALL "
        "UNION ALL "
        "SELECT cast(quarantined_at AS DATE), 'returns ' || kind || 's', reason, "
        "count(*)::BIGINT "
        f"FROM analytics.stg_oms__returns_quarantine WHERE {cond} GROUP BY ALL "
        "ORDER BY 1, 2, 3",
        params + params,
    )
    if daily is None or daily.is_empty():
        st.success(
            "Nothing quarantined in this period: every tracking event matched one of our labels "
            "and every return record matched an order, line or RMA."
        )
        return
    chart = (
        alt.Chart(daily.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("day:T", title="Quarantine day (UTC)", axis=alt.Axis(format="%Y-%m-%d")),
            y=alt.Y("sum(records):Q", title="Records quarantined", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color("source:N", title="Records"),
            tooltip=[
                alt.Tooltip("day:T", title="Day", format="%Y-%m-%d"),
                alt.Tooltip("source:N", title="Records"),
                alt.Tooltip("reason:N", title="Reason"),
                alt.Tooltip("records:Q", title="Quarantined", format=","),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        daily.group_by("source", "reason")
        .agg(pl.col("records").sum())
        .sort("records", "source", descending=[True, False]),
        hide_index=True,
        column_config={
            "source": st.column_config.TextColumn("Records"),
            "reason": st.column_config.TextColumn("Why quarantined"),
            "records": st.column_config.NumberColumn("Quarantined", format="localized"),
        },
    )
    st.caption(
        "Kept with the reason and never applied (quality.tracking_quarantine, "
        "quality.returns_quarantine in the warehouse)."
    )


def _data_docs() -> None:
    st.subheader("Great Expectations Data Docs")
    index = get_settings().outbox / "quality" / "index.html"
    if not index.is_file():
        st.info(
            f"No Data Docs have been built yet. The validation stage writes them to {index} "
            "when a batch validates orders (`make run`)."
        )
        return
    st.markdown(f"[Open the Data Docs of the latest validation run]({index.resolve().as_uri()})")
    st.code(str(index.resolve()), language=None)
    st.caption(
        "Rebuilt by every batch that validates orders. Browsers may block file:// links from "
        "a web page: copy the path into the address bar if the link does not open."
    )


st.title("Data quality")
picked = filters.sidebar(channel=True, warehouse=False)
if picked is None:
    filters.empty_state("orders to check")
    _data_docs()
    st.stop()

st.caption(
    f"{picked.describe()} · open holds as of the snapshot's newest data, any order date; "
    "hold rates on the order date; validation results and quarantines on the day recorded "
    "(channel does not apply to them)."
)
_open_holds(picked)
_hold_rates(picked)
_validation_results(picked)
_quarantine(picked)
_data_docs()
