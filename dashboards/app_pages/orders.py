"""Orders: find orders by date, channel, warehouse, status or number; download them; and
follow one order from its placement to its last event."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import data, filters
from dashboards.markdown import plain

#: Rows the table shows (the CSV download has them all).
TABLE_LIMIT = 1000
COLUMNS = (
    "order_number, order_key, channel, ordered_at, status, payment_status, service_level, "
    "ship_country, units, currency, order_total, order_total_reporting, open_holds, "
    "backordered_units, is_split, first_shipped_at, delivered_at, returned_units, "
    "refunded_amount"
)


def _matching(picked: filters.Filters, statuses: list[str], search: str) -> tuple[str, tuple]:
    """The condition on analytics.fct_orders for what the user asked, and its parameters."""
    cond, params = picked.where("order_date", "channel")
    if picked.warehouses:
        # An order belongs to a warehouse when any of its lines is (or was, until shipped or
        # cancelled) allocated from there; an allocation withdrawn for a re-plan is not.
        marks = ", ".join("?" for _ in picked.warehouses)
        cond += (
            " AND order_key IN (SELECT order_key FROM analytics.stg_oms__allocations "
            f"WHERE status <> 'withdrawn' AND warehouse_id IN ({marks}))"
        )
        params += picked.warehouses
    if statuses:
        cond += f" AND status IN ({', '.join('?' for _ in statuses)})"
        params += tuple(statuses)
    if search:
        cond += " AND (order_number ILIKE ? OR order_key ILIKE ?)"
        params += (f"%{search}%", f"%{search}%")
    return cond, params


def _timeline(order_key: str) -> None:
    order = data.query(
        "SELECT order_number, channel, status, ordered_at, currency, order_total, "
        "promised_date, delivered_at FROM analytics.fct_orders WHERE order_key = ?",
        (order_key,),
    )
    if order is None or order.is_empty():
        st.info("This order is not in the snapshot any more.")
        return
    head = order.row(0, named=True)
    st.markdown(
        f"**{plain(head['order_number'])}** ({plain(head['channel'])}) · status "
        f"**{plain(head['status'])}** · {head['order_total']:,.2f} {plain(head['currency'])} · "
        "placed "
        f"{head['ordered_at']:%Y-%m-%d %H:%M} UTC"
    )
    events = data.query(
        "SELECT occurred_at, event, detail FROM analytics.fct_order_events "
        "WHERE order_key = ? ORDER BY occurred_at, event_id",
        (order_key,),
    )
    if events is None or events.is_empty():
        st.info("No event recorded for this order yet.")
    else:
        chart = (
            alt.Chart(events.to_pandas())
            .mark_circle(size=120)
            .encode(
                x=alt.X("occurred_at:T", title="Time (UTC)"),
                y=alt.Y("event:N", title=None, sort=None),
                color=alt.Color("event:N", legend=None),
                tooltip=[
                    alt.Tooltip("occurred_at:T", title="When", format="%Y-%m-%d %H:%M"),
                    alt.Tooltip("event:N", title="Event"),
                    alt.Tooltip("detail:N", title="Detail"),
                ],
            )
        )
        st.altair_chart(chart, width="stretch")
        st.dataframe(
            events,
            hide_index=True,
            column_config={
                "occurred_at": st.column_config.DatetimeColumn(
                    "When (UTC)", format="YYYY-MM-DD HH:mm"
                ),
                "event": "Event",
                "detail": "Detail",
            },
        )
    lines = data.query(
        "SELECT line_no, sku, product_name, ordered_quantity, allocated_quantity, "
        "shipped_quantity, backordered_quantity, returned_quantity, refunded_quantity, "
        "line_total FROM analytics.fct_order_lines WHERE order_key = ? ORDER BY line_no",
        (order_key,),
    )
    if lines is not None and not lines.is_empty():
        st.markdown("**Lines**")
        st.dataframe(
            lines,
            hide_index=True,
            column_config={
                "line_no": "Line",
                "sku": "SKU",
                "product_name": "Product",
                "ordered_quantity": "Ordered",
                "allocated_quantity": "Allocated",
                "shipped_quantity": "Shipped",
                "backordered_quantity": "Backordered",
                "returned_quantity": "Returned",
                "refunded_quantity": "Refunded",
                "line_total": st.column_config.NumberColumn(
                    f"Line total ({head['currency']})", format="%.2f"
                ),
            },
        )
    parcels = data.query(
        "SELECT parcel_id, warehouse_id, carrier, service, tracking_number, status, shipped_at, "
        "delivered_at, promised_delivery_date FROM analytics.fct_parcels WHERE order_key = ? "
        "ORDER BY parcel_id",
        (order_key,),
    )
    if parcels is not None and not parcels.is_empty():
        st.markdown("**Parcels**")
        st.dataframe(
            parcels,
            hide_index=True,
            column_config={
                "parcel_id": "Parcel",
                "warehouse_id": "Warehouse",
                "carrier": "Carrier",
                "service": "Service",
                "tracking_number": "Tracking number",
                "status": "Status",
                "shipped_at": st.column_config.DatetimeColumn(
                    "Shipped (UTC)", format="YYYY-MM-DD HH:mm"
                ),
                "delivered_at": st.column_config.DatetimeColumn(
                    "Delivered (UTC)", format="YYYY-MM-DD HH:mm"
                ),
                "promised_delivery_date": "Promised delivery",
            },
        )


st.title("Orders")
picked = filters.sidebar()
if picked is None:
    filters.empty_state()
    st.stop()

known = data.query("SELECT DISTINCT status FROM analytics.fct_orders ORDER BY status")
offered = list(known["status"]) if known is not None else []
# Kept from an earlier visit (filters.keep); a newer snapshot may not have them.
kept = st.session_state.get("orders_status", [])
st.session_state["orders_status"] = [s for s in kept if s in offered]
left, right = st.columns([2, 3])
statuses = left.multiselect(
    "Status",
    offered,
    key="orders_status",
    placeholder="Any status",
)
search = right.text_input(
    "Order number", key="orders_search", placeholder="Search by order number or key"
).strip()

cond, params = _matching(picked, statuses, search)
summary = data.query(
    "SELECT count(*) AS orders, coalesce(sum(units), 0) AS units, "
    "sum(order_total_reporting) FILTER (WHERE status <> 'cancelled') AS revenue, "
    "any_value(reporting_currency) AS currency "
    f"FROM analytics.fct_orders WHERE {cond}",
    params,
)
if summary is None:
    filters.empty_state()
    st.stop()
found = summary.row(0, named=True)
currency = found["currency"] or "USD"
c1, c2, c3 = st.columns(3)
c1.metric("Orders found", f"{found['orders']:,}")
c2.metric("Units", f"{found['units']:,}")
c3.metric(
    f"Revenue ({currency})",
    f"{found['revenue'] or 0:,.2f}",
    help="Order totals of the orders found, cancelled ones excluded, in the reporting currency.",
)
if not found["orders"]:
    st.info(
        "No order matches: widen the period, or clear the status, channel, warehouse or search."
    )
    st.stop()

table_sql = (
    f"SELECT {COLUMNS} FROM analytics.fct_orders WHERE {cond} ORDER BY ordered_at DESC, order_key"
)
shown = data.query(f"{table_sql} LIMIT {TABLE_LIMIT}", params)
if shown is None:
    filters.empty_state()
    st.stop()
st.caption(
    f"{picked.describe()}. "
    + (
        f"The newest {TABLE_LIMIT:,} of {found['orders']:,} orders; the CSV has them all."
        if found["orders"] > TABLE_LIMIT
        else f"{found['orders']:,} orders, newest first."
    )
)
st.dataframe(
    shown,
    hide_index=True,
    key="orders_table",
    column_config={
        "order_number": "Order",
        "order_key": "Key",
        "channel": "Channel",
        "ordered_at": st.column_config.DatetimeColumn("Placed (UTC)", format="YYYY-MM-DD HH:mm"),
        "status": "Status",
        "payment_status": "Payment",
        "service_level": "Service",
        "ship_country": "Country",
        "units": "Units",
        "currency": "Currency",
        "order_total": st.column_config.NumberColumn("Total", format="%.2f"),
        "order_total_reporting": st.column_config.NumberColumn(
            f"Total ({currency})", format="%.2f"
        ),
        "open_holds": "Open holds",
        "backordered_units": "Backordered units",
        "is_split": "Split",
        "first_shipped_at": st.column_config.DatetimeColumn(
            "First shipped", format="YYYY-MM-DD HH:mm"
        ),
        "delivered_at": st.column_config.DatetimeColumn("Delivered", format="YYYY-MM-DD HH:mm"),
        "returned_units": "Returned units",
        "refunded_amount": st.column_config.NumberColumn("Refunded", format="%.2f"),
    },
)
st.download_button(
    f"Download {found['orders']:,} orders as CSV",
    data=lambda: data.csv(table_sql, params),
    file_name=f"orders_{picked.start:%Y%m%d}-{picked.end:%Y%m%d}.csv",
    mime="text/csv",
    key="orders_csv",
)

st.subheader("One order's timeline")
keys = shown["order_key"].to_list()
labels = dict(zip(keys, shown["order_number"].to_list(), strict=True))
chosen = st.selectbox(
    "Order",
    keys,
    key="orders_pick",
    format_func=lambda key: f"{labels.get(key, key)} ({key})",
    help="Any order of the table above; search by number to find one.",
)
if chosen:
    _timeline(chosen)
