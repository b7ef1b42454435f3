import altair as alt
import polars as pl
import streamlit as st

from dashboards import data

# Rows of the delayed-shipments table (newest first).
DELAYED_LIMIT = 300
# The warning of a parcel no service can carry (``pipelines/lib/rating.py``); the other
# "no service ..." warning ("no service meets ...") is a parcel that was labelled anyway.
CANNOT_CARRY = "no service can carry%"

st.title("Shipping")

summary = data.query(
    "SELECT count(*) AS parcels, "
    "count(*) FILTER (WHERE is_labelled) AS labelled, "
    "count(*) FILTER (WHERE is_shipped) AS shipped, "
    "count(*) FILTER (WHERE is_delivered) AS delivered, "
    "count(*) FILTER (WHERE is_delivered AND delivered_on_time) AS on_time, "
    "sum(rate) FILTER (WHERE NOT is_cancelled) AS cost, "
    "count(rate) FILTER (WHERE NOT is_cancelled) AS rated, "
    "count(*) FILTER (WHERE NOT is_cancelled AND rating_warning LIKE ?) AS cannot_carry "
    "FROM analytics.fct_parcels",
    (CANNOT_CARRY,),
)
delays = data.query(
    "SELECT count(*) FILTER (WHERE is_delayed) AS delayed, "
    "count(*) FILTER (WHERE is_delayed AND NOT is_delivered AND NOT is_cancelled) AS open "
    "FROM analytics.fct_shipments"
)
if summary is None or delays is None or summary["parcels"][0] == 0:
    st.info(
        "No shipping data yet — parcels appear once a batch has released and labelled a wave "
        "(`make run` creates demo data and runs it; see docs/shipping.md for manifests and "
        "carrier tracking)."
    )
    st.stop()

totals = summary.row(0, named=True)
delayed = delays.row(0, named=True)
cost = totals["cost"] or 0
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Parcels labelled", f"{totals['labelled']:,}", help="Parcels with a live label.")
c2.metric("Shipped", f"{totals['shipped']:,}", help="Parcels that left on a carrier manifest.")
c3.metric("Delivered", f"{totals['delivered']:,}")
c4.metric(
    "On-time delivery",
    f"{totals['on_time'] / totals['delivered']:.1%}" if totals["delivered"] else "–",
    help="Delivered parcels delivered on or before their promised delivery date.",
)
c5.metric(
    "No service can carry",
    f"{totals['cannot_carry']:,}",
    help="Live parcels left unlabelled because no carrier service can take them; they are "
    "rated again in the next batch.",
)
c6, c7, c8, _, _ = st.columns(5)
c6.metric(
    "Shipping cost (USD)",
    f"${cost:,.2f}",
    help="Sum of the chosen services' rates of the live (not cancelled) parcels.",
)
c7.metric(
    "Cost per parcel (USD)",
    f"${cost / totals['rated']:,.2f}" if totals["rated"] else "–",
    help="Shipping cost over the live parcels that have a rate.",
)
c8.metric(
    "Delayed shipments (open / total)",
    f"{delayed['open']:,} / {delayed['delayed']:,}",
    help="Shipments flagged late (not delivered by the promised date + grace days, or "
    "delivered after it); open ones are not delivered yet.",
)

st.subheader("Carrier and service mix")
mix = data.query(
    "SELECT carrier, service, count(*) AS parcels, "
    "count(*) FILTER (WHERE is_shipped) AS shipped, "
    "sum(rate) AS cost, round(avg(rate), 2) AS cost_per_parcel "
    "FROM analytics.fct_parcels WHERE NOT is_cancelled AND carrier IS NOT NULL "
    "GROUP BY ALL ORDER BY parcels DESC, carrier, service"
)
if mix is None or mix.is_empty():
    st.info("No parcel has been rated yet.")
else:
    chart = (
        alt.Chart(
            mix.select("carrier", "service", "parcels", pl.col("cost").cast(pl.Float64)).to_pandas()
        )
        .mark_bar()
        .encode(
            x=alt.X("carrier:N", title="Carrier"),
            xOffset="service:N",
            y=alt.Y("parcels:Q", title="Parcels"),
            color=alt.Color("service:N", title="Service"),
            tooltip=["carrier:N", "service:N", "parcels:Q", alt.Tooltip("cost:Q", format="$,.2f")],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        mix,
        hide_index=True,
        column_config={
            "carrier": "Carrier",
            "service": "Service",
            "parcels": "Parcels",
            "shipped": "Shipped",
            "cost": st.column_config.NumberColumn("Cost (USD)", format="%.2f"),
            "cost_per_parcel": st.column_config.NumberColumn("Per parcel (USD)", format="%.2f"),
        },
    )

st.subheader("Delayed shipments (newest first)")
late = data.query(
    "SELECT order_key, shipment_id, warehouse_id, carriers, promised_delivery_date, status, "
    "delayed_at FROM analytics.fct_shipments WHERE is_delayed "
    "ORDER BY delayed_at DESC, shipment_id LIMIT ?",
    (DELAYED_LIMIT,),
)
if late is None or late.is_empty():
    st.success("No shipment is late.")
else:
    if delayed["delayed"] > late.height:
        st.caption(f"The newest {late.height:,} of {delayed['delayed']:,} delayed shipments.")
    st.dataframe(
        late,
        hide_index=True,
        column_config={
            "order_key": "Order",
            "shipment_id": "Shipment",
            "warehouse_id": "Warehouse",
            "carriers": "Carrier(s)",
            "promised_delivery_date": "Promised delivery",
            "status": "Status",
            "delayed_at": "Delayed at",
        },
    )

st.subheader("Why this service?")
first = data.query(
    "SELECT min(parcel_id) AS parcel_id FROM analytics.stg_oms__rate_quotes",
)
default = first["parcel_id"][0] if first is not None and first.height else None
if default is None:
    st.info("No parcel has rate quotes yet.")
    st.stop()
wanted = st.text_input("Parcel id or tracking number", value=default, key="quote_parcel").strip()
parcel = data.query(
    "SELECT parcel_id, tracking_number, carrier, service, rate, promised_days, "
    "rating_reason, rating_warning, status FROM analytics.fct_parcels "
    "WHERE parcel_id = ? OR tracking_number = ? ORDER BY parcel_id LIMIT 1",
    (wanted, wanted),
)
if parcel is None or parcel.is_empty():
    st.warning(f"No parcel has the id or tracking number {wanted!r}.")
    st.stop()
chosen = parcel.row(0, named=True)
quotes = data.query(
    "SELECT quote_rank, carrier, service, zone, billable_weight_g, price, transit_days, "
    "meets_sla, is_eligible, why_not FROM analytics.stg_oms__rate_quotes "
    "WHERE parcel_id = ? ORDER BY quote_rank NULLS LAST, price NULLS LAST, carrier, service",
    (chosen["parcel_id"],),
)
if chosen["carrier"]:
    # Service names usually carry the carrier's name ("UPS Ground"); don't say it twice.
    name = chosen["service"]
    if not name.startswith(chosen["carrier"]):
        name = f"{chosen['carrier']} {name}"
    service = f"{name} at ${chosen['rate']:,.2f}"
else:
    service = "no service"
st.markdown(
    f"Parcel **{chosen['parcel_id']}** (tracking {chosen['tracking_number'] or '—'}, "
    f"status {chosen['status']}): **{service}** — {chosen['rating_reason'] or 'not rated'}."
)
if chosen["rating_warning"]:
    st.warning(chosen["rating_warning"])
if quotes is None or quotes.is_empty():
    st.info("This parcel has not been rated yet.")
else:
    st.caption(
        f"{quotes.height:,} services considered for a promise of {chosen['promised_days']} "
        "business days; rank 1 is the one chosen, ineligible services have no rank."
    )
    st.dataframe(
        quotes,
        hide_index=True,
        column_config={
            "quote_rank": "Rank",
            "carrier": "Carrier",
            "service": "Service",
            "zone": "Zone",
            "billable_weight_g": "Billable weight (g)",
            "price": st.column_config.NumberColumn("Price (USD)", format="%.2f"),
            "transit_days": "Transit (business days)",
            "meets_sla": "Meets promise",
            "is_eligible": "Eligible",
            "why_not": "Why not",
        },
    )
