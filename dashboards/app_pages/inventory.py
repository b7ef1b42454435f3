"""Inventory: stock positions per warehouse, stock-outs (now and over time), what to reorder,
order lines waiting for stock, and what moved.

Stock is kept per warehouse, never per channel, so the channel filter does not apply here.
The warehouse filter applies everywhere (open backorders: the warehouse promised to fill
them). The period applies to the trends and the movements (UTC date the stock moved); the
positions, stock-outs, reorder list and backorders are as of the last batch. A period that
ends on the snapshot's latest order date runs on to the end of the snapshot, and one that
starts on its first order date takes everything before (the opening stock snapshot).
"""

from __future__ import annotations

from datetime import date

import altair as alt
import polars as pl
import streamlit as st

from dashboards import data, filters

# Rows shown at most in the long tables.
STOCKED_OUT_LIMIT = 500
REORDER_LIMIT = 1000
BACKORDERS_LIMIT = 1000
MOVEMENTS_LIMIT = 200
NO_DATA = (
    "No inventory yet — drop an inventory snapshot in data/inbox and run the batch "
    "(`make run` creates demo data and runs it)."
)
CAPPED = "The first {shown:,} of {total:,} rows."


st.title("Inventory")
picked = filters.sidebar(channel=False)
# Stock may arrive before the first order: without orders there is nothing to filter on.
span = filters.open_ended(picked) if picked else filters.Filters(date.min, date.max)
stock_in, stock_params = span.where(warehouse_column="warehouse_id")
period_in, period_params = span.where("date_day", warehouse_column="warehouse_id")

warehouses = data.query(
    "SELECT warehouse_id, count(*) AS skus, CAST(sum(on_hand) AS BIGINT) AS on_hand, "
    "CAST(sum(committed_units) AS BIGINT) AS committed, CAST(sum(atp) AS BIGINT) AS atp, "
    "count(*) FILTER (WHERE is_stocked_out) AS stocked_out, "
    "count(*) FILTER (WHERE below_reorder_point) AS below_reorder_point "
    f"FROM analytics.fct_inventory_positions WHERE {stock_in} "
    "GROUP BY warehouse_id ORDER BY warehouse_id",
    stock_params,
)
if warehouses is None or warehouses.is_empty():
    if span.warehouses and warehouses is not None:
        st.info("The warehouses picked hold no stock position — clear the warehouse filter.")
    else:
        st.info(NO_DATA)
    st.stop()
if picked:
    st.caption(
        f"{picked.start:%Y-%m-%d} to {picked.end:%Y-%m-%d} · "
        f"{', '.join(picked.warehouses) or 'all warehouses'}"
        + ("; movements after the last order date count too." if span.end == date.max else ".")
    )

reorder_totals = data.query(
    "SELECT count(*) AS positions, count(DISTINCT sku) AS skus "
    f"FROM analytics.stg_oms__reorder_report WHERE {stock_in}",
    stock_params,
)
backorders_in, backorders_params = span.where(warehouse_column="promised_warehouse_id")
backorder_totals = data.query(
    "SELECT count(*) AS lines, coalesce(CAST(sum(quantity) AS BIGINT), 0) AS units "
    f"FROM analytics.fct_backorders WHERE is_open AND {backorders_in}",
    backorders_params,
)
stockout_period = data.query(
    "SELECT CAST(sum(stocked_out_positions) AS BIGINT) AS out_days, "
    "CAST(sum(positions) AS BIGINT) AS position_days "
    f"FROM analytics.kpi_inventory_daily WHERE {period_in}",
    period_params,
)
if reorder_totals is None or backorder_totals is None or stockout_period is None:
    # The snapshot was replaced between two queries (or lacks a mart): the next run sees it.
    st.info(NO_DATA)
    st.stop()

totals = warehouses.select("skus", "on_hand", "committed", "atp", "stocked_out").sum()
totals = totals.row(0, named=True)
reorder = reorder_totals.row(0, named=True)
waiting = backorder_totals.row(0, named=True)
period = stockout_period.row(0, named=True)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Units on hand", f"{totals['on_hand']:,}")
c2.metric("Committed", f"{totals['committed']:,}", help="Units allocated to orders, not shipped.")
c3.metric(
    "Available to promise",
    f"{totals['atp']:,}",
    help="Sum over positions of max(0, on hand - committed - safety stock).",
)
c4.metric(
    "Stocked-out positions",
    f"{totals['stocked_out']:,} of {totals['skus']:,}",
    help="(Warehouse, SKU) positions with nothing available to promise (ATP 0) now.",
)
c5, c6, c7, c8 = st.columns(4)
c5.metric(
    "Stockout rate (period)",
    f"{period['out_days'] / period['position_days']:.1%}" if period["position_days"] else "–",
    help="Stockout days over position days in the period (analytics.kpi_inventory_daily): "
    "each day, the (warehouse, SKU) pairs that ever moved and the ones of them ending the day "
    "with ATP 0.",
)
c6.metric(
    "Open backorders",
    f"{waiting['lines']:,}",
    help="Order lines waiting for stock (with a warehouse picked: promised from it).",
)
c7.metric("Backordered units", f"{waiting['units']:,}")
c8.metric(
    "SKUs to reorder",
    f"{reorder['skus']:,}",
    help=f"Distinct SKUs at or below their reorder point; {reorder['positions']:,} warehouse "
    "positions in all.",
)

st.subheader("Positions per warehouse")
st.caption("Stock as of the last batch.")
chart = (
    alt.Chart(warehouses.select("warehouse_id", "on_hand", "committed", "atp").to_pandas())
    .transform_fold(["on_hand", "committed", "atp"], as_=["measure", "units"])
    .mark_bar()
    .encode(
        x=alt.X("warehouse_id:N", title="Warehouse"),
        xOffset="measure:N",
        y=alt.Y("units:Q", title="Units"),
        color=alt.Color("measure:N", title=None, sort=["on_hand", "committed", "atp"]),
        tooltip=["warehouse_id:N", "measure:N", "units:Q"],
    )
)
st.altair_chart(chart, width="stretch")
st.dataframe(
    warehouses,
    hide_index=True,
    column_config={
        "warehouse_id": "Warehouse",
        "skus": "SKUs",
        "on_hand": "On hand",
        "committed": "Committed",
        "atp": "ATP",
        "stocked_out": "Stocked out (ATP 0)",
        "below_reorder_point": "At/below reorder point",
    },
)

st.subheader("Stockouts")
st.caption(
    "Stockout rate per day (UTC) and warehouse: the share of the (warehouse, SKU) pairs that "
    "ever moved ending the day with nothing available to promise."
)
trend = data.query(
    "SELECT date_day, warehouse_id, positions, stocked_out_positions, stockout_rate "
    f"FROM analytics.kpi_inventory_daily WHERE {period_in} ORDER BY date_day, warehouse_id",
    period_params,
)
if trend is None or trend.is_empty():
    st.info("No stock moved in this period — widen the period or clear the warehouse filter.")
else:
    chart = (
        alt.Chart(trend.with_columns(pl.col("date_day").dt.strftime("%Y-%m-%d")).to_pandas())
        .mark_line(point=True)
        .encode(
            x=alt.X("date_day:O", title="Day (UTC)"),
            y=alt.Y("stockout_rate:Q", title="Stockout rate", axis=alt.Axis(format="%")),
            color=alt.Color("warehouse_id:N", title="Warehouse"),
            tooltip=[
                alt.Tooltip("date_day:O", title="Day"),
                alt.Tooltip("warehouse_id:N", title="Warehouse"),
                alt.Tooltip("stocked_out_positions:Q", title="Stocked out"),
                alt.Tooltip("positions:Q", title="Positions"),
                alt.Tooltip("stockout_rate:Q", title="Stockout rate", format=".1%"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")

st.markdown("**Stocked out now**")
positions_in, positions_params = span.where(warehouse_column="p.warehouse_id")
stocked_out = data.query(
    f"""
    WITH latest AS (
        SELECT warehouse_id, sku, consecutive_days_stocked_out
        FROM analytics.fct_inventory_daily
        WHERE snapshot_date = (SELECT max(snapshot_date) FROM analytics.fct_inventory_daily)
    )
    SELECT p.warehouse_id, p.sku, coalesce(p.product_name, d.product_name) AS product_name,
           p.on_hand, p.committed_units,
           p.safety_stock, p.backordered_units, l.consecutive_days_stocked_out AS days_out,
           p.last_movement_at
    FROM analytics.fct_inventory_positions AS p
    LEFT JOIN latest AS l ON p.warehouse_id = l.warehouse_id AND p.sku = l.sku
    LEFT JOIN analytics.dim_products AS d ON p.sku = d.sku
    WHERE p.is_stocked_out AND {positions_in}
    ORDER BY p.backordered_units DESC, days_out DESC NULLS LAST, p.warehouse_id, p.sku
    LIMIT ?
    """,
    (*positions_params, STOCKED_OUT_LIMIT),
)
if stocked_out is None or stocked_out.is_empty():
    st.success("No position is stocked out.")
else:
    if totals["stocked_out"] > stocked_out.height:
        st.caption(CAPPED.format(shown=stocked_out.height, total=totals["stocked_out"]))
    st.caption("Most backordered units first, then the longest out of stock.")
    st.dataframe(
        stocked_out,
        hide_index=True,
        column_config={
            "warehouse_id": "Warehouse",
            "sku": "SKU",
            "product_name": "Product",
            "on_hand": "On hand",
            "committed_units": "Committed",
            "safety_stock": "Safety stock",
            "backordered_units": "Backordered units",
            "days_out": "Days out of stock",
            "last_movement_at": st.column_config.DatetimeColumn("Last movement (UTC)"),
        },
    )

st.subheader("Reorder list")
st.caption(
    "Positions whose available position (on hand - committed - open backorders promised "
    "from the warehouse) is at or below the reorder point; suggested quantity orders up to "
    "the max level. As of the last batch."
)
reorder_rows = data.query(
    "SELECT warehouse_id, sku, product_name, available_position, reorder_point, "
    "suggested_quantity, lead_days FROM analytics.stg_oms__reorder_report "
    f"WHERE {stock_in} ORDER BY warehouse_id, sku LIMIT ?",
    (*stock_params, REORDER_LIMIT),
)
if reorder_rows is None or reorder_rows.is_empty():
    st.success("No position needs reordering.")
else:
    if reorder["positions"] > reorder_rows.height:
        st.caption(CAPPED.format(shown=reorder_rows.height, total=reorder["positions"]))
    st.dataframe(
        reorder_rows,
        hide_index=True,
        column_config={
            "warehouse_id": "Warehouse",
            "sku": "SKU",
            "product_name": "Product",
            "available_position": "Available position",
            "reorder_point": "Reorder point",
            "suggested_quantity": "Suggested qty",
            "lead_days": "Lead days",
        },
    )

st.subheader("Open backorders (oldest first)")
backorders = data.query(
    "SELECT order_key, line_no, sku, quantity, reason, detail, promised_date, "
    "promised_warehouse_id, channel, service_level, backordered_at, "
    "round(age_days, 1) AS age_days "
    f"FROM analytics.fct_backorders WHERE is_open AND {backorders_in} "
    "ORDER BY backordered_at, order_key, line_no LIMIT ?",
    (*backorders_params, BACKORDERS_LIMIT),
)
if backorders is None or backorders.is_empty():
    st.success("No order line is waiting for stock.")
else:
    if waiting["lines"] > backorders.height:
        st.caption(CAPPED.format(shown=backorders.height, total=waiting["lines"]))
    st.dataframe(
        backorders,
        hide_index=True,
        column_config={
            "order_key": "Order",
            "line_no": "Line",
            "sku": "SKU",
            "quantity": "Units short",
            "reason": "Reason",
            "detail": "Detail",
            "promised_date": "Promised",
            "promised_warehouse_id": "Promised from",
            "channel": "Channel",
            "service_level": "Service level",
            "backordered_at": "Backordered at",
            "age_days": "Age (days)",
        },
    )

st.subheader("Movements")
st.caption(
    "Units received (receipts) and shipped (left on a carrier manifest) per day (UTC date "
    "the stock moved), from the inventory ledger."
)
flows_in, flows_params = span.where("snapshot_date", warehouse_column="warehouse_id")
flows = data.query(
    "SELECT snapshot_date AS day, CAST(sum(received_units) AS BIGINT) AS received, "
    "CAST(sum(shipped_units) AS BIGINT) AS shipped "
    f"FROM analytics.fct_inventory_daily WHERE {flows_in} GROUP BY ALL ORDER BY day",
    flows_params,
)
if flows is None or flows.is_empty():
    st.info("No stock moved in this period — widen the period or clear the warehouse filter.")
else:
    chart = (
        alt.Chart(flows.with_columns(pl.col("day").dt.strftime("%Y-%m-%d")).to_pandas())
        .transform_fold(["received", "shipped"], as_=["movement", "units"])
        .mark_bar()
        .encode(
            x=alt.X("day:O", title="Day (UTC)"),
            xOffset="movement:N",
            y=alt.Y("units:Q", title="Units"),
            color=alt.Color("movement:N", title=None, sort=["received", "shipped"]),
            tooltip=[
                alt.Tooltip("day:O", title="Day"),
                alt.Tooltip("movement:N", title="Movement"),
                alt.Tooltip("units:Q", title="Units"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")

st.markdown("**Latest movements**")
moves_in, moves_params = span.where("CAST(moved_at AS DATE)", warehouse_column="warehouse_id")
moves_total = data.query(
    f"SELECT count(*) AS movements FROM analytics.stg_oms__inventory_movements WHERE {moves_in}",
    moves_params,
)
moves = data.query(
    "SELECT moved_at, warehouse_id, sku, reason, on_hand_delta, committed_delta, reference, "
    f"note FROM analytics.stg_oms__inventory_movements WHERE {moves_in} "
    "ORDER BY moved_at DESC, movement_id DESC LIMIT ?",
    (*moves_params, MOVEMENTS_LIMIT),
)
if moves is None or moves.is_empty() or moves_total is None:
    st.info("No stock moved in this period — widen the period or clear the warehouse filter.")
else:
    total = moves_total["movements"][0]
    if total > moves.height:
        st.caption(f"The latest {moves.height:,} of {total:,} movements in the period.")
    st.dataframe(
        moves,
        hide_index=True,
        column_config={
            "moved_at": st.column_config.DatetimeColumn("Moved at (UTC)"),
            "warehouse_id": "Warehouse",
            "sku": "SKU",
            "reason": "Reason",
            "on_hand_delta": "On hand ±",
            "committed_delta": "Committed ±",
            "reference": "Reference",
            "note": "Note",
        },
    )
