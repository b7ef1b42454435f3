"""Fulfilment & shipping: pick waves and the carrier cutoffs they are picked for, carriers and
what they cost, what rate shopping saved, late shipments, and why a parcel got its service.

Each section counts on the date that fits it, said in its caption: waves and cutoffs on the
release date (UTC date of ``released_at``), parcels, costs, savings and late shipments on the
ship date (the local date of the carrier cutoff the parcel's wave is picked for), the on-time
ship rate on the day the KPI mart settles it. A period that ends on the snapshot's latest
order date runs on to the end of the snapshot (orders placed that day ship later), and one
that starts on its first order date takes everything before. Channels are the orders'
channels; warehouses the warehouse that picks and ships.
"""

from __future__ import annotations

from datetime import date

import altair as alt
import polars as pl
import streamlit as st

from dashboards import data, filters
from dashboards.markdown import plain

# Rows of the delayed-shipments and latest-waves tables (newest first).
DELAYED_LIMIT = 300
WAVES_LIMIT = 50
# The warning of a parcel no service can carry (``pipelines/lib/rating.py``); the other
# "no service ..." warning ("no service meets ...") is a parcel that was labelled anyway.
CANNOT_CARRY = "no service can carry%"
NO_DATA = (
    "No shipping data yet — parcels appear once a batch has released and labelled a wave "
    "(`make run` creates demo data and runs it; see docs/shipping.md for manifests and "
    "carrier tracking)."
)
CUTOFFS_MET_HELP = (
    "Of the shipments released to a wave (not cancelled) whose carrier cutoff has passed "
    "(at the last batch) or that already left, the share that left on a carrier manifest "
    "closed at their wave's cutoff (shipped_at = the wave's cutoff_at). A shipment still "
    "waiting after its cutoff, or that left at a later one, missed it."
)
NO_PARCELS = (
    "No parcel was rated for a ship date in this period — widen the period or clear the filters."
)
SAVINGS_HELP = (
    "Per rated parcel: the price of the next-cheapest eligible service that also keeps the "
    "promise (rate quotes) minus the price of the service chosen, in USD from the rate cards; "
    "0 when no other service keeps the promise. Total over the live rated parcels shipping "
    "in the period, and that total per rated parcel."
)


def _usd(amount) -> str:
    return f"${amount:,.2f}"


def _share(part, whole) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _scope(
    span: filters.Filters, date_column: str, warehouse_column: str, order_key: str = "order_key"
) -> tuple[str, tuple]:
    """The period on ``date_column``, the warehouses on ``warehouse_column`` and the channels
    through the order (``order_key``'s order in fct_orders)."""
    condition, params = span.where(date_column, None, warehouse_column)
    if span.channels:
        channels, more = span.where(channel_column="channel")
        condition += (
            f" AND {order_key} IN (SELECT order_key FROM analytics.fct_orders WHERE {channels})"
        )
        params += more
    return condition, params


st.title("Fulfilment & shipping")
picked = filters.sidebar()
anything = data.query("SELECT count(*) AS parcels FROM analytics.fct_parcels")
if picked is None or anything is None or anything["parcels"][0] == 0:
    st.info(NO_DATA)
    st.stop()
span = filters.open_ended(picked)
st.caption(
    f"{picked.describe()}"
    + (
        "; runs on past the last order date, as its orders ship later."
        if span.end == date.max
        else "."
    )
)

# Shipments released to waves, with their wave's cutoff and whether it has passed.
shipments_in, shipments_params = _scope(
    span, "CAST(s.released_at AS DATE)", "s.warehouse_id", "s.order_key"
)
RELEASED = f"""
    SELECT s.wave_id, s.warehouse_id, CAST(s.released_at AS DATE) AS release_date, s.units,
           w.wave_date, w.cutoff_label, w.due_at_cutoff, w.status, w.released_at,
           w.shipped_at,
           NOT s.is_cancelled
           AND (s.is_shipped OR w.cutoff_at <= (SELECT max(as_of)
                                                FROM analytics.fct_inventory_positions))
               AS is_cutoff_judged,
           NOT s.is_cancelled AND s.shipped_at = w.cutoff_at AS met_cutoff
    FROM analytics.fct_shipments AS s
    JOIN analytics.stg_oms__waves AS w ON s.wave_id = w.wave_id
    WHERE {shipments_in}
"""
parcels_in, parcels_params = _scope(span, "ship_date", "warehouse_id")
kpis_in, kpis_params = span.where("ship_settled_date", "channel")
if span.warehouses:
    warehouses, more = span.where(warehouse_column="warehouse_id")
    kpis_in += (
        f" AND order_key IN (SELECT order_key FROM analytics.fct_shipments WHERE {warehouses})"
    )
    kpis_params += more

parcels = data.query(
    "SELECT count(*) FILTER (WHERE is_shipped) AS shipped, "
    "count(rate) AS rated, sum(rate) AS cost, "
    "CAST(sum(billable_weight_g) FILTER (WHERE rate IS NOT NULL) AS BIGINT) AS billable_g, "
    "count(*) FILTER (WHERE rating_warning LIKE ?) AS cannot_carry "
    f"FROM analytics.fct_parcels WHERE NOT is_cancelled AND {parcels_in}",
    (CANNOT_CARRY, *parcels_params),
)
cutoffs = data.query(
    "SELECT count(*) FILTER (WHERE is_cutoff_judged) AS judged, "
    f"count(*) FILTER (WHERE met_cutoff) AS met FROM ({RELEASED})",
    shipments_params,
)
on_time_ship = data.query(
    "SELECT count(*) AS due, count(*) FILTER (WHERE is_shipped_on_time) AS on_time "
    f"FROM analytics.fct_order_kpis WHERE is_ship_judged AND {kpis_in}",
    kpis_params,
)
# Savings per chosen service. Rate shopping ranks a parcel's eligible services that keep the
# promise by price, cheapest first (pipelines/lib/rating.py), and takes rank 1; so the
# next-cheapest service keeping the promise is rank 2 when that one keeps it, and there is
# none when it does not (nor when the chosen service misses the promise itself). One keyed
# join instead of a minimum per parcel over every quote keeps this fast on a big snapshot.
rated_in, rated_params = _scope(span, "p.ship_date", "p.warehouse_id", "p.order_key")
savings = data.query(
    "SELECT p.carrier, p.service, count(*) AS parcels, count(q.price) AS with_alternative, "
    "coalesce(sum(q.price - p.rate), 0) AS savings "
    "FROM analytics.fct_parcels AS p LEFT JOIN analytics.stg_oms__rate_quotes AS q "
    "ON q.parcel_id = p.parcel_id AND q.quote_rank = 2 AND q.meets_sla "
    f"WHERE NOT p.is_cancelled AND p.rate IS NOT NULL AND {rated_in} "
    "GROUP BY ALL ORDER BY savings DESC, p.carrier, p.service",
    rated_params,
)
late_in, late_params = _scope(span, "w.wave_date", "s.warehouse_id", "s.order_key")
LATE = (
    "FROM analytics.fct_shipments AS s JOIN analytics.stg_oms__waves AS w "
    f"ON s.wave_id = w.wave_id WHERE s.is_delayed AND {late_in}"
)
delays = data.query(
    "SELECT count(*) AS delayed, "
    f"count(*) FILTER (WHERE NOT s.is_delivered AND NOT s.is_cancelled) AS open {LATE}",
    late_params,
)
if any(frame is None for frame in (parcels, cutoffs, on_time_ship, savings, delays)):
    # The snapshot was replaced between two queries (or lacks a mart): the next run sees it.
    st.info(NO_DATA)
    st.stop()

totals = parcels.row(0, named=True)
cost = totals["cost"] or 0
saved = savings["savings"].sum() if savings.height else 0
ship = on_time_ship.row(0, named=True)
cut = cutoffs.row(0, named=True)
late = delays.row(0, named=True)

c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(
    "On-time ship rate",
    _share(ship["on_time"], ship["due"]),
    help="Orders shipped in full with the last shipment leaving by their ship-by time, over "
    "the orders due to ship (analytics.fct_order_kpis: counted on the day they shipped in "
    "full when on time, else on the ship-by date). With a warehouse picked: orders with a "
    "shipment from it.",
)
c2.metric(
    "Shipped parcels",
    f"{totals['shipped']:,}",
    help="Live parcels that left on a carrier manifest, by ship date.",
)
c3.metric(
    "Cost per parcel (USD)",
    _usd(cost / totals["rated"]) if totals["rated"] else "–",
    help="Shipping cost over the live parcels that have a rate.",
)
c4.metric("Cutoffs met", _share(cut["met"], cut["judged"]), help=CUTOFFS_MET_HELP)
c5.metric("Rate-shopping savings (USD)", _usd(saved), help=SAVINGS_HELP)
c6, c7, c8, c9, c10 = st.columns(5)
c6.metric(
    "Shipping cost (USD)",
    _usd(cost),
    help="Sum of the chosen services' rates (USD, rate cards) of the live parcels.",
)
c7.metric(
    "Cost per kg (USD)",
    _usd(float(cost) / (totals["billable_g"] / 1000)) if totals["billable_g"] else "–",
    help="Shipping cost over the billable weight (max of actual and dimensional weight) of "
    "the rated live parcels, in kg.",
)
c8.metric(
    "Savings per parcel (USD)",
    _usd(saved / totals["rated"]) if totals["rated"] else "–",
    help=SAVINGS_HELP,
)
c9.metric(
    "Late shipments (open / total)",
    f"{late['open']:,} / {late['delayed']:,}",
    help="Shipments flagged late (not delivered by the promised date + grace days, or "
    "delivered after it), by ship date; open ones are not delivered yet.",
)
c10.metric(
    "No service can carry",
    f"{totals['cannot_carry']:,}",
    help="Live parcels left unlabelled because no carrier service can take them; they are "
    "rated again in the next batch.",
)

st.subheader("Waves")
st.caption(
    "Pick waves released per day (release date, UTC) and warehouse: the shipments (one "
    "order's units from one warehouse) and units released, cancelled ones included. With "
    "channels picked, only those channels' shipments count. Cutoffs met as in the tile: "
    + CUTOFFS_MET_HELP
)
waves = data.query(
    "SELECT release_date, warehouse_id, count(DISTINCT wave_id) AS waves, "
    "count(*) AS shipments, CAST(sum(units) AS BIGINT) AS units, "
    "count(*) FILTER (WHERE is_cutoff_judged) AS cutoff_judged, "
    "count(*) FILTER (WHERE met_cutoff) AS cutoff_met, "
    "count(*) FILTER (WHERE met_cutoff) / nullif(count(*) FILTER (WHERE is_cutoff_judged), 0) "
    "AS cutoffs_met "
    f"FROM ({RELEASED}) GROUP BY ALL ORDER BY release_date DESC, warehouse_id",
    shipments_params,
)
if waves is None or waves.is_empty():
    st.info(
        "No wave was released in this period for these filters — widen the period or clear "
        "the filters (the batch releases waves of allocated orders before each cutoff)."
    )
else:
    chart = (
        alt.Chart(waves.with_columns(pl.col("release_date").dt.strftime("%Y-%m-%d")).to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("release_date:O", title="Release date (UTC)"),
            y=alt.Y("units:Q", title="Units released"),
            color=alt.Color("warehouse_id:N", title="Warehouse"),
            tooltip=[
                alt.Tooltip("release_date:O", title="Released"),
                alt.Tooltip("warehouse_id:N", title="Warehouse"),
                alt.Tooltip("waves:Q", title="Waves"),
                alt.Tooltip("shipments:Q", title="Shipments"),
                alt.Tooltip("units:Q", title="Units"),
                alt.Tooltip("cutoffs_met:Q", title="Cutoffs met", format=".1%"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        waves,
        hide_index=True,
        column_config={
            "release_date": st.column_config.DateColumn("Released (UTC)", format="YYYY-MM-DD"),
            "warehouse_id": "Warehouse",
            "waves": "Waves",
            "shipments": "Shipments",
            "units": "Units",
            "cutoff_judged": "Shipments due at cutoff",
            "cutoff_met": "Left at cutoff",
            "cutoffs_met": st.column_config.NumberColumn("Cutoffs met", format="percent"),
        },
    )
    latest = data.query(
        "SELECT wave_id, warehouse_id, wave_date, cutoff_label, due_at_cutoff, status, "
        "count(*) AS shipments, CAST(sum(units) AS BIGINT) AS units, "
        "count(*) FILTER (WHERE met_cutoff) AS cutoff_met, "
        "count(*) FILTER (WHERE is_cutoff_judged) AS cutoff_judged, released_at, shipped_at "
        f"FROM ({RELEASED}) GROUP BY ALL ORDER BY released_at DESC, wave_id DESC LIMIT ?",
        (*shipments_params, WAVES_LIMIT),
    )
    if latest is not None and latest.height:
        st.markdown("**Latest waves**")
        released = int(waves["waves"].sum())
        if released > latest.height:
            st.caption(f"The latest {latest.height:,} of {released:,} waves in the period.")
        st.dataframe(
            latest,
            hide_index=True,
            column_config={
                "wave_id": "Wave",
                "warehouse_id": "Warehouse",
                "wave_date": st.column_config.DateColumn("Ship date", format="YYYY-MM-DD"),
                "cutoff_label": "Cutoff (local)",
                "due_at_cutoff": "Must leave at cutoff",
                "status": "Status",
                "shipments": "Shipments",
                "units": "Units",
                "cutoff_met": "Left at cutoff",
                "cutoff_judged": "Due at cutoff",
                "released_at": st.column_config.DatetimeColumn("Released (UTC)"),
                "shipped_at": st.column_config.DatetimeColumn("Last shipment left (UTC)"),
            },
        )

st.subheader("Carriers and costs")
st.caption(
    "Live (not cancelled) parcels by the service rate shopping chose, by ship date; costs in "
    "USD from the rate cards, per kg of billable weight."
)
mix = data.query(
    "SELECT carrier, service, count(*) AS parcels, "
    "count(*) FILTER (WHERE is_shipped) AS shipped, "
    "sum(rate) AS cost, round(avg(rate), 2) AS cost_per_parcel, "
    "round(sum(billable_weight_g) / 1000, 1) AS billable_kg, "
    "round(sum(rate) / nullif(sum(billable_weight_g) / 1000, 0), 2) AS cost_per_kg "
    "FROM analytics.fct_parcels WHERE NOT is_cancelled AND carrier IS NOT NULL "
    f"AND {parcels_in} GROUP BY ALL ORDER BY parcels DESC, carrier, service",
    parcels_params,
)
if mix is None or mix.is_empty():
    st.info(NO_PARCELS)
else:
    chart = (
        alt.Chart(
            mix.select(
                "carrier", "service", "parcels", mix["cost"].cast(float).alias("cost")
            ).to_pandas()
        )
        .mark_bar()
        .encode(
            x=alt.X("carrier:N", title="Carrier"),
            xOffset="service:N",
            y=alt.Y("parcels:Q", title="Parcels"),
            color=alt.Color("service:N", title="Service"),
            tooltip=[
                "carrier:N",
                "service:N",
                "parcels:Q",
                alt.Tooltip("cost:Q", title="Cost (USD)", format="$,.2f"),
            ],
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
            "billable_kg": st.column_config.NumberColumn("Billable kg", format="%.1f"),
            "cost_per_kg": st.column_config.NumberColumn("Per kg (USD)", format="%.2f"),
        },
    )

st.subheader("Rate-shopping savings")
st.caption(SAVINGS_HELP + " By ship date, per service chosen.")
if savings.is_empty():
    st.info(NO_PARCELS)
else:
    st.dataframe(
        savings.with_columns(
            (savings["savings"].cast(float) / savings["parcels"]).round(2).alias("per_parcel")
        ),
        hide_index=True,
        column_config={
            "carrier": "Carrier chosen",
            "service": "Service chosen",
            "parcels": "Rated parcels",
            "with_alternative": "With a dearer alternative",
            "savings": st.column_config.NumberColumn("Savings (USD)", format="%.2f"),
            "per_parcel": st.column_config.NumberColumn("Per parcel (USD)", format="%.2f"),
        },
    )

st.subheader("Late shipments (newest first)")
st.caption(
    "Shipments flagged late (not delivered by the promised date + grace days, or delivered "
    "after it), by ship date."
)
delayed = data.query(
    "SELECT s.order_key, s.shipment_id, s.warehouse_id, s.carriers, s.promised_delivery_date, "
    f"s.status, s.delayed_at {LATE} ORDER BY s.delayed_at DESC, s.shipment_id LIMIT ?",
    (*late_params, DELAYED_LIMIT),
)
if delayed is None or delayed.is_empty():
    st.success("No shipment shipping in this period is late.")
else:
    if late["delayed"] > delayed.height:
        st.caption(f"The newest {delayed.height:,} of {late['delayed']:,} late shipments.")
    st.dataframe(
        delayed,
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

st.subheader("Channel feeds")
st.caption(
    "What the marketplaces and shops were told (docs/channel-feeds.md): shipment "
    "confirmations of the units shipped in the period (ship date, UTC) and, now, the shipped "
    "units no confirmation covers yet (an Amazon order without item ids waits until it has "
    "shipped whole); the newest stock feed and what the channel may sell by it. With "
    "channels picked, only those; warehouses do not apply (a stock feed sums the channel's "
    "warehouses)."
)
feed_channels, feed_params = span.where(channel_column="f.channel")
feeds = data.query(
    f"""
    WITH shipped AS (
        SELECT o.channel, sum(a.quantity) AS units
        FROM oms.allocations a JOIN oms.orders o USING (order_key)
        WHERE a.status = 'shipped' GROUP BY ALL
    ),
    confirmed AS (
        SELECT channel, sum(quantity) AS units,
               coalesce(sum(quantity) FILTER (CAST(shipped_at AS DATE) BETWEEN ? AND ?), 0)
                   AS in_period
        FROM oms.channel_confirmations GROUP BY ALL
    ),
    sent AS (
        SELECT channel, count(*) AS feeds,
               max(created_at) FILTER (kind = 'shipment_confirmation') AS last_confirmation,
               max(created_at) FILTER (kind = 'stock') AS last_stock_feed,
               count(*) FILTER (written_at IS NULL) AS unwritten
        FROM oms.channel_feeds GROUP BY ALL
    ),
    offered AS (
        SELECT channel, count(*) FILTER (quantity > 0) AS skus_offered,
               sum(quantity) AS units_offered
        FROM (
            SELECT s.channel, s.sku, arg_max(s.quantity, f.seq) AS quantity
            FROM oms.channel_stock s JOIN oms.channel_feeds f USING (feed_id) GROUP BY ALL
        ) GROUP BY ALL
    )
    SELECT f.channel, f.feeds, f.last_confirmation,
           coalesce(c.in_period, 0)::BIGINT AS units_confirmed,
           (coalesce(sh.units, 0) - coalesce(c.units, 0))::BIGINT AS units_awaiting,
           f.last_stock_feed, coalesce(o.skus_offered, 0) AS skus_offered,
           coalesce(o.units_offered, 0)::BIGINT AS units_offered, f.unwritten
    FROM sent f
    LEFT JOIN confirmed c USING (channel)
    LEFT JOIN shipped sh USING (channel)
    LEFT JOIN offered o USING (channel)
    WHERE {feed_channels}
    ORDER BY f.channel
    """,
    (span.start, span.end, *feed_params),
)
if feeds is None or feeds.is_empty():
    st.info(
        "No feed sent to a channel yet — the batch sends shipment confirmations and stock "
        "levels to Amazon, Shopify and WooCommerce after each manifest close."
    )
else:
    if feeds["unwritten"].sum():
        st.warning(
            f"{feeds['unwritten'].sum():,} feed(s) recorded but not written yet: the next "
            "batch writes them (`oms feeds list`)."
        )
    st.dataframe(
        feeds.drop("unwritten"),
        hide_index=True,
        column_config={
            "channel": "Channel",
            "feeds": "Feeds sent",
            "last_confirmation": "Last confirmation",
            "units_confirmed": "Units confirmed (period)",
            "units_awaiting": "Shipped, not confirmed yet",
            "last_stock_feed": "Last stock feed",
            "skus_offered": "SKUs on sale",
            "units_offered": "Units on sale",
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
    st.warning(f"No parcel has the id or tracking number {plain(repr(wanted))}.")
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
    f"Parcel **{plain(chosen['parcel_id'])}** (tracking "
    f"{plain(chosen['tracking_number'] or '—')}, status {plain(chosen['status'])}): "
    f"**{plain(service)}** — {plain(chosen['rating_reason'] or 'not rated')}."
)
if chosen["rating_warning"]:
    st.warning(plain(chosen["rating_warning"]))
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
