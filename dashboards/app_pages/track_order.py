"""Track your order: a customer finds one order by its number plus the email or postal code.

Safe to serve to customers on its own (``dashboards/tracking_app.py``): it never lists or
suggests orders, every failure gives the same message, and what it shows comes from
:func:`pipelines.lib.order_lookup.find_order`, which holds only that order's data.
"""

import duckdb
import polars as pl
import streamlit as st

from dashboards import data
from dashboards.markdown import plain as _md
from pipelines.lib.order_lookup import OrderView, find_order
from pipelines.lib.privacy import pii_key
from pipelines.project import get_settings

NOT_FOUND = (
    "We couldn't find an order with those details. Check the order number and the email or "
    "postal code you used."
)
BOTH_REQUIRED = "Enter both the order number and the email or postal code used on the order."
TOO_MANY = "Too many attempts, try again later."
UNAVAILABLE = "Tracking is not available right now. Please try again later."
#: Failed lookups a session may make; the next ones are refused without looking up.
MAX_FAILURES = 5
FAILURES_KEY = "track_order_failures"


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _day(value) -> str:
    return value.isoformat() if value else "—"


class _Unavailable(Exception):
    """The snapshot cannot be read (missing, replaced mid-way, or without the order tables)."""


def _lookup(number: str, secret: str) -> OrderView | None:
    """The order, or None when not found; raises _Unavailable when there is nothing to read."""
    try:
        con = data.cursor()
    except duckdb.Error as exc:
        raise _Unavailable from exc
    if con is None:
        raise _Unavailable
    try:
        return find_order(con, number, secret, pii_key(get_settings().data_dir))
    except duckdb.Error as exc:  # no oms tables yet, or an older snapshot
        raise _Unavailable from exc
    finally:
        con.close()


def _show(order: OrderView) -> None:
    st.subheader(f"Order {_md(order.number)}")
    st.markdown(f"**Status:** {_md(order.status)}")
    if order.status_note:
        st.warning(order.status_note)
    place = ", ".join(_md(p) for p in (order.ship_region, order.ship_country) if p)
    st.caption(f"Ordered {_when(order.ordered_at)}" + (f" · shipping to {place}" if place else ""))

    st.markdown("#### Timeline")
    st.dataframe(
        pl.DataFrame(
            {
                "When": [_when(e.at) for e in order.timeline],
                "What": [e.text for e in order.timeline],
            },
            schema={"When": pl.String, "What": pl.String},
        ),
        hide_index=True,
        key="track_order_timeline",
    )

    st.markdown("#### Parcels")
    if not order.parcels:
        st.caption("No parcel has been labelled yet.")
    for parcel in order.parcels:
        carrier = " · ".join(_md(p) for p in (parcel.carrier, parcel.service) if p)
        number = _md(parcel.tracking_number)
        link = f"[{number}]({parcel.tracking_url})" if parcel.tracking_url else number
        facts = [f"shipped {_when(parcel.shipped_at)}"] if parcel.shipped_at else []
        if parcel.promised_delivery_date:
            facts.append(f"promised by {_day(parcel.promised_delivery_date)}")
        if parcel.delivered_at:
            facts.append(f"delivered {_when(parcel.delivered_at)}")
        st.markdown(
            f"- **{carrier or 'Carrier'}**: tracking {link} — {_md(parcel.status)}"
            + (f" ({_md('; '.join(facts))})" if facts else "")
        )

    if order.backordered:
        st.markdown("#### Waiting for stock")
        st.dataframe(
            pl.DataFrame(
                {
                    "Item": [b.name for b in order.backordered],
                    "Quantity": [b.quantity for b in order.backordered],
                    "Expected to ship by": [_day(b.promised_date) for b in order.backordered],
                },
                schema={"Item": pl.String, "Quantity": pl.Int64, "Expected to ship by": pl.String},
            ),
            hide_index=True,
            key="track_order_backordered",
        )

    st.markdown("#### Items")
    st.dataframe(
        pl.DataFrame(
            {
                "Item": [line.name for line in order.lines],
                "Quantity": [line.quantity for line in order.lines],
            },
            schema={"Item": pl.String, "Quantity": pl.Int64},
        ),
        hide_index=True,
        key="track_order_lines",
    )


st.title("Track your order")

if not data.has_snapshot():
    st.info(UNAVAILABLE)
    st.stop()

with st.form("track_order"):
    number = st.text_input("Order number", key="track_order_number", autocomplete="off")
    secret = st.text_input(
        "Email or postal code",
        key="track_order_secret",
        autocomplete="off",
        help="The email address or the shipping postal code used on the order.",
    )
    submitted = st.form_submit_button("Track order")

if submitted:
    failures = st.session_state.get(FAILURES_KEY, 0)
    if failures >= MAX_FAILURES:
        st.error(TOO_MANY)
    elif not (number or "").strip() or not (secret or "").strip():
        st.warning(BOTH_REQUIRED)
    else:
        try:
            found = _lookup(number, secret)
        except _Unavailable:
            st.info(UNAVAILABLE)
        else:
            if found is None:
                st.session_state[FAILURES_KEY] = failures + 1
                st.error(NOT_FOUND)
            else:
                _show(found)
