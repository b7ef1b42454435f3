import altair as alt
import streamlit as st

from dashboards import data

st.title("Overview")

batch = data.batch_runs().get("order_batch", {})
success, failure = batch.get("last_success"), batch.get("last_failure")
last_ok = f"{success['finished_at']:%Y-%m-%d %H:%M} UTC" if success else "none yet"
if failure and not failure["resolved"]:
    st.error(
        f"The last order batch failed ({failure['finished_at']:%Y-%m-%d %H:%M} UTC) in "
        f"{failure['stage'] or 'the run'}: {failure['message']} — last successful batch: "
        f"{last_ok}. The figures below are from that one; see the Dagster UI for the run."
    )
else:
    st.caption(f"Last successful batch: {last_ok}.")

daily = data.daily_orders()
if daily is None or daily.is_empty():
    st.info(
        "No orders yet — drop channel exports in data/inbox and run the batch "
        "(`make run` creates demo data and runs it)."
    )
    st.stop()

totals = daily.select("orders", "units", "cancelled_orders").sum().row(0, named=True)
c1, c2, c3 = st.columns(3)
c1.metric("Orders", f"{totals['orders']:,}")
c2.metric("Units", f"{totals['units']:,}")
c3.metric("Cancelled", f"{totals['cancelled_orders']:,}")

st.subheader("Orders per day by channel")
chart = (
    alt.Chart(daily.to_pandas())
    .mark_bar()
    .encode(
        x=alt.X("order_date:T", title="Order date"),
        y=alt.Y("sum(orders):Q", title="Orders"),
        color=alt.Color("channel:N", title="Channel"),
        tooltip=["order_date:T", "channel:N", "sum(orders):Q"],
    )
)
st.altair_chart(chart, width="stretch")

st.subheader("Orders by status")
st.dataframe(data.orders_by_status(), hide_index=True)

st.subheader("Revenue per day (order currency, cancelled orders excluded)")
st.dataframe(daily, hide_index=True)
