import altair as alt
import polars as pl
import streamlit as st

from dashboards import data

ALL_WAREHOUSES = "All warehouses"

st.title("Inventory")

warehouses = data.inventory_by_warehouse()
if warehouses is None or warehouses.is_empty():
    st.info(
        "No inventory yet — drop an inventory snapshot in data/inbox and run the batch "
        "(`make run` creates demo data and runs it)."
    )
    st.stop()

reorder = data.reorder_report()
if reorder is None:
    reorder = pl.DataFrame()
backorders = data.open_backorders()
if backorders is None:
    backorders = pl.DataFrame(schema={"quantity": pl.Int64})

totals = warehouses.select("on_hand", "committed", "atp").sum().row(0, named=True)
c1, c2, c3, c4, c5, c6 = st.columns(6)
c1.metric("Units on hand", f"{totals['on_hand']:,}")
c2.metric("Committed", f"{totals['committed']:,}", help="Units allocated to orders, not shipped.")
c3.metric(
    "Available to promise",
    f"{totals['atp']:,}",
    help="Sum over positions of max(0, on hand - committed - safety stock).",
)
c4.metric("Open backorders", f"{backorders.height:,}", help="Order lines waiting for stock.")
c5.metric("Backordered units", f"{int(backorders['quantity'].sum() or 0):,}")
c6.metric(
    "SKUs to reorder",
    f"{reorder['sku'].n_unique() if reorder.height else 0:,}",
    help=f"Distinct SKUs at or below their reorder point; {reorder.height:,} warehouse "
    "positions in all.",
)

st.subheader("Reorder report")
choices = [ALL_WAREHOUSES, *sorted(reorder["warehouse_id"].unique())] if reorder.height else []
picked = st.selectbox("Warehouse", choices or [ALL_WAREHOUSES], key="reorder_warehouse")
shown = reorder if picked == ALL_WAREHOUSES else reorder.filter(pl.col("warehouse_id") == picked)
st.caption(
    f"{shown.height:,} positions whose available position (on hand - committed - open "
    "backorders promised from the warehouse) is at or below the reorder point; suggested "
    "quantity orders up to the max level."
)
st.dataframe(
    shown,
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
if backorders.is_empty():
    st.success("No order line is waiting for stock.")
else:
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

st.subheader("Positions per warehouse")
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
