import hashlib
from datetime import UTC, datetime

import polars as pl
import streamlit as st

from dashboards import auth, data
from dashboards.markdown import plain
from pipelines.lib.ops_files import (
    Decision,
    OpsInputError,
    PhoneOrder,
    address_problems,
    catalogue,
    pending_decisions,
    write_decisions,
)
from pipelines.lib.quality.decisions import ORDER_FIELDS
from pipelines.lib.schema import PAYMENT_STATUSES, SERVICE_LEVELS
from pipelines.project import get_settings

ALL_REASONS = "All reasons"
ALL_HOLDS = "All open holds"
#: Age bands of the summary (upper bound in hours, label).
AGE_BANDS = ((4, "< 4 h"), (24, "4-24 h"), (72, "1-3 d"), (None, "> 3 d"))
#: Fields whose correction the page checks as validation will (postal code, email, phone).
CHECKED_FIELDS = ("email", "phone", "ship_country", "ship_region", "ship_postal_code")
#: What "correct" may change, as offered on the page: order fields, then the two line fields.
LINE_SKU, LINE_QUANTITY = "Line SKU (SKU mapping)", "Line quantity"
CHOICES = {"payment_status": PAYMENT_STATUSES, "service_level": SERVICE_LEVELS}
RECENT_DECISIONS = 50

settings = get_settings()
st.title("Exception queue")

holds = data.ops_query(
    "SELECT h.order_key, o.channel, o.order_number, o.status, h.reason, h.rule, h.detail, "
    "h.opened_at, o.ordered_at, o.order_total, o.currency "
    "FROM oms.order_holds h JOIN oms.orders o USING (order_key) "
    "WHERE h.resolved_at IS NULL AND h.severity = 'hold' "
    "ORDER BY h.opened_at, h.order_key, h.reason, h.rule"
)
if holds is None:
    st.info(
        "No snapshot yet — held orders show here after the first batch "
        "(`make run` creates demo data and runs it)."
    )
    st.stop()

snapshot_at = datetime.fromtimestamp(data.ops_path().stat().st_mtime, UTC)
st.caption(
    f"Snapshot of {snapshot_at:%Y-%m-%d %H:%M} UTC. Decisions go to the inbox as a file; "
    "the next batch applies them."
)

flash = st.session_state.pop("flash", None)
if flash:
    st.success(flash)
# After a decision is sent its note starts empty (set before the widget is drawn).
st.session_state.update(st.session_state.pop("reset", {}))

inbox = settings.inbox
pending = pending_decisions(inbox)
waiting = set(pending["order_key"].drop_nulls().to_list())
now = datetime.now(UTC)
holds = holds.with_columns(
    ((pl.lit(now) - pl.col("opened_at")).dt.total_minutes() / 60).round(1).alias("age_hours")
)


def _age_band() -> pl.Expr:
    band = pl.lit(AGE_BANDS[-1][1])
    for upper, label in reversed(AGE_BANDS[:-1]):
        band = pl.when(pl.col("age_hours") < upper).then(pl.lit(label)).otherwise(band)
    return band


def _send(decisions: list[Decision], note_key: str, done: str) -> None:
    """Write the decisions file and start afresh, or say why not (writing nothing)."""
    try:
        path = write_decisions(
            inbox,
            decisions,
            decided_by=st.session_state.get("decided_by", ""),
            note=st.session_state.get(note_key, ""),
        )
    except OpsInputError as exc:
        st.error(f"Not sent: {plain(exc)}")
        return
    for decision in decisions:
        auth.record(
            f"hold_{decision.action}",
            decision.order_key,
            f"{st.session_state.get(note_key, '')} ({path.name})",
        )
    st.session_state["flash"] = f"{done} Sent as {path.name}; the next batch applies it."
    st.session_state["reset"] = {note_key: ""}
    st.rerun()


if holds.is_empty():
    st.success("No order is on hold.")
else:
    # --- holds by reason and age ----------------------------------------------------------
    summary = (
        holds.with_columns(_age_band().alias("band"))
        .group_by("reason")
        .agg(
            pl.len().alias("holds"),
            pl.col("order_key").n_unique().alias("orders"),
            *(
                (pl.col("band") == label).sum().alias(label)
                for _, label in AGE_BANDS  # one column per age band
            ),
            pl.col("age_hours").max().alias("oldest_hours"),
        )
        .sort(["holds", "reason"], descending=[True, False])
    )
    c1, c2, c3 = st.columns(3)
    c1.metric("Orders on hold", f"{holds['order_key'].n_unique():,}")
    c2.metric(
        "Open holds", f"{holds.height:,}", help="One per failed rule; an order can have several."
    )
    c3.metric("Oldest hold (hours)", f"{holds['age_hours'].max():,.1f}")
    st.subheader("Holds by reason and age")
    st.dataframe(
        summary,
        hide_index=True,
        column_config={
            "reason": "Reason",
            "holds": "Holds",
            "orders": "Orders",
            "oldest_hours": "Oldest (hours)",
        },
    )

    # --- filters and the held orders ------------------------------------------------------
    st.subheader("Held orders")
    f1, f2, f3 = st.columns(3)
    reason = f1.selectbox(
        "Reason", [ALL_REASONS, *sorted(holds["reason"].unique())], key="filter_reason"
    )
    channels = f2.multiselect(
        "Channel", sorted(holds["channel"].unique()), key="filter_channel", placeholder="All"
    )
    min_age = f3.number_input(
        "Held at least (hours)", min_value=0.0, value=0.0, step=1.0, key="filter_age"
    )
    matching = holds.filter(
        (pl.col("reason") == reason) if reason != ALL_REASONS else pl.lit(True),
        pl.col("channel").is_in(channels) if channels else pl.lit(True),
        pl.col("age_hours") >= min_age,
    )
    orders = (
        holds.filter(pl.col("order_key").is_in(matching["order_key"].unique().implode()))
        .group_by("order_key")
        .agg(
            pl.col("channel").first(),
            pl.col("status").first(),
            pl.col("reason").unique().sort().str.join(", ").alias("reasons"),
            pl.col("opened_at").min().alias("held_since"),
            pl.col("age_hours").max(),
            pl.col("ordered_at").first(),
            pl.col("order_total").first(),
            pl.col("currency").first(),
        )
        .with_columns(pl.col("order_key").is_in(list(waiting)).alias("decision_waiting"))
        .sort(["held_since", "order_key"])
    )
    st.caption(f"{orders.height:,} orders match, oldest hold first.")
    st.dataframe(
        orders,
        hide_index=True,
        column_config={
            "order_key": "Order",
            "channel": "Channel",
            "status": "Status",
            "reasons": "Reasons",
            "held_since": "Held since",
            "age_hours": "Age (hours)",
            "ordered_at": "Ordered",
            "order_total": "Total",
            "currency": "Currency",
            "decision_waiting": "Decision waiting",
        },
    )

    signed_in = auth.user()
    if signed_in.method != "local":  # the signed-in name, not a typed one
        st.session_state["decided_by"] = signed_in.name
    st.text_input(
        "Your name",
        key="decided_by",
        help="Recorded with every decision you send (and in the audit trail).",
        disabled=signed_in.method != "local",
    )

    # --- one order: why it is held, the data behind it, and a decision --------------------
    if not orders.is_empty():
        st.subheader("Order")
        keys = orders["order_key"].to_list()
        reasons_of = dict(orders.select("order_key", "reasons").iter_rows())
        key = st.selectbox(
            "Order", keys, key="order", format_func=lambda k: f"{k} — {reasons_of.get(k, '')}"
        )
        if key in waiting:
            st.warning("A decision on this order is already waiting in the inbox (below).")
        order = data.ops_query("SELECT * FROM oms.orders WHERE order_key = ?", (key,)).row(
            0, named=True
        )
        lines = data.ops_query(
            "SELECT line_no, sku, product_name, quantity, unit_price, line_discount, "
            "line_total, requires_shipping FROM oms.order_lines WHERE order_key = ? "
            "ORDER BY line_no",
            (key,),
        )
        products = catalogue(settings.reference_dir)
        lines = lines.with_columns(
            pl.col("sku").is_in(products["sku"].implode()).alias("in_catalogue")
        )
        st.dataframe(
            holds.filter(pl.col("order_key") == key).select(
                "reason", "rule", "detail", "opened_at", "age_hours"
            ),
            hide_index=True,
            column_config={
                "reason": "Reason",
                "rule": "Rule",
                "detail": "Why",
                "opened_at": "Opened",
                "age_hours": "Age (hours)",
            },
        )
        a, b, c = st.columns(3)
        street = ", ".join(x for x in (order["ship_address1"], order["ship_address2"]) if x)
        a.markdown(
            "**Ship to**  \n"
            + "  \n".join(
                plain(x)
                for x in (
                    order["ship_name"],
                    order["ship_company"],
                    street or "(no street)",
                    " ".join(
                        x
                        for x in (
                            order["ship_postal_code"],
                            order["ship_city"],
                            order["ship_region"],
                        )
                        if x
                    )
                    or "(no city)",
                    order["ship_country"] or "(no country)",
                )
                if x
            )
        )
        b.markdown(
            f"**Customer**  \n{plain(order['customer_name'] or '–')}  \n"
            f"{plain(order['email'] or '(no email)')}  \n{plain(order['phone'] or '(no phone)')}"
            f"  \nChannel {plain(order['channel'])}, ordered "
            f"{order['ordered_at']:%Y-%m-%d %H:%M} UTC"
        )

        def _money(value) -> str:
            return "–" if value is None else f"{value:,.2f}"

        c.markdown(
            f"**Payment** {plain(order['payment_status'])} "
            f"({plain(order['payment_method'] or 'no method')})"
            f"  \nSubtotal {_money(order['subtotal'])}, shipping "
            f"{_money(order['shipping_amount'])}, tax {_money(order['tax_amount'])}, discount "
            f"{_money(order['discount_amount'])}  \n**Total {_money(order['order_total'])} "
            f"{plain(order['currency'] or '')}**  \nService level {plain(order['service_level'])}"
        )
        st.dataframe(
            lines,
            hide_index=True,
            column_config={
                "line_no": "Line",
                "sku": "SKU",
                "product_name": "Product",
                "quantity": "Qty",
                "unit_price": "Unit price",
                "line_discount": "Discount",
                "line_total": "Line total",
                "requires_shipping": "Ships",
                "in_catalogue": "In catalogue",
            },
        )

        st.markdown("**Decide**")
        action = st.radio("Action", ["Release", "Cancel", "Correct"], horizontal=True, key="action")
        decision = None
        if action == "Release":
            own = sorted(holds.filter(pl.col("order_key") == key)["reason"].unique())
            picked = st.selectbox("Holds to release", [ALL_HOLDS, *own], key="release_reason")
            decision = Decision(key, "release", None if picked == ALL_HOLDS else picked)
        elif action == "Cancel":
            decision = Decision(key, "cancel")
        else:
            field = st.selectbox(
                "Field", [*ORDER_FIELDS, LINE_SKU, LINE_QUANTITY], key="correct_field"
            )
            if field in (LINE_SKU, LINE_QUANTITY):
                line_no = st.selectbox(
                    "Line",
                    lines["line_no"].to_list(),
                    key="correct_line",
                    format_func=lambda n: (
                        f"{n}: " + str(lines.filter(pl.col("line_no") == n)["sku"][0] or "(no SKU)")
                    ),
                )
                if field == LINE_SKU:
                    names = dict(products.select("sku", "name").iter_rows())
                    value = st.selectbox(
                        "New SKU",
                        products.filter(pl.col("active"))["sku"].to_list(),
                        index=None,
                        key="correct_sku",
                        placeholder="Search SKU or name",
                        format_func=lambda s: f"{s} — {names[s]}",
                    )
                    decision = Decision(key, "correct", field="sku", line_no=line_no, value=value)
                else:
                    value = st.number_input(
                        "New quantity", min_value=1, step=1, value=1, key="correct_quantity"
                    )
                    decision = Decision(
                        key, "correct", field="quantity", line_no=line_no, value=str(value)
                    )
            else:
                current = order[field]
                if field in CHOICES:
                    options = list(CHOICES[field])
                    value = st.selectbox(
                        "New value",
                        options,
                        index=options.index(current) if current in options else 0,
                        key=f"correct_value_{key}_{field}",
                    )
                else:
                    value = st.text_input(
                        "New value", value=current or "", key=f"correct_value_{key}_{field}"
                    )
                decision = Decision(key, "correct", field=field, value=value.strip() or None)
                if field in CHECKED_FIELDS:
                    checked = {f: order[f] or "" for f in CHECKED_FIELDS} | {field: value}
                    still = address_problems(PhoneOrder(**checked))
                    if still:
                        st.warning("Validation will still find: " + "; ".join(still.values()))
            if decision.value is None:
                st.caption("Pick or type the new value.")
        st.text_area("Note (required)", key="note", placeholder="Why, in a few words")
        if st.button("Send decision", key="send", type="primary"):
            _send([decision], "note", f"{action} of {key}.")

    # --- bulk -----------------------------------------------------------------------------
    st.subheader("Bulk action")
    targets = orders.filter(~pl.col("decision_waiting"))["order_key"].to_list()
    skipped = orders.height - len(targets)
    bulk_reason = None if reason == ALL_REASONS else reason
    st.caption(
        f"Applies to the {len(targets):,} filtered orders"
        + (f" ({skipped} with a decision already waiting are left out)" if skipped else "")
        + ". Release "
        + (f"closes their {bulk_reason} holds." if bulk_reason else "closes all their holds.")
    )
    bulk_action = st.radio("Bulk action", ["Release", "Cancel"], horizontal=True, key="bulk_action")
    st.text_area("Note (required)", key="bulk_note", placeholder="Why, in a few words")
    # The confirmation holds for exactly this action on these orders: a changed filter asks again.
    signature = hashlib.sha256("|".join([bulk_action, bulk_reason or "", *targets]).encode())
    confirmed = st.checkbox(
        f"Yes, {bulk_action.lower()} {len(targets):,} orders",
        key=f"bulk_confirm_{signature.hexdigest()[:16]}",
    )
    bulk = [
        Decision(k, "release", bulk_reason) if bulk_action == "Release" else Decision(k, "cancel")
        for k in targets
    ]
    if st.button(
        f"{bulk_action} {len(targets):,} orders",
        key="bulk_send",
        disabled=not (confirmed and targets),
    ):
        _send(bulk, "bulk_note", f"{bulk_action} of {len(targets):,} orders.")

# --- decisions waiting and recently applied ---------------------------------------------------
st.subheader("Waiting for the next batch")
if pending.is_empty():
    st.caption("No decision is waiting in the inbox.")
else:
    st.dataframe(
        pending.drop("decision_id"),
        hide_index=True,
        column_config={
            "file": "File",
            "order_key": "Order",
            "action": "Action",
            "decided_by": "By",
            "reason": "Reason",
            "field": "Field",
            "line_no": "Line",
            "value": "Value",
            "note": "Note",
            "decided_at": "Decided at",
        },
    )

st.subheader("Recent decisions")
recent = data.ops_query(
    "SELECT applied_at, order_key, action, reason, field, line_no, value, note, decided_by, "
    "status, outcome FROM oms.hold_decisions ORDER BY applied_at DESC, decided_at DESC "
    f"LIMIT {RECENT_DECISIONS}"
)
if recent is None or recent.is_empty():
    st.caption("No decision has been applied yet.")
else:
    st.dataframe(
        recent,
        hide_index=True,
        column_config={
            "applied_at": "Applied at",
            "order_key": "Order",
            "action": "Action",
            "reason": "Reason",
            "field": "Field",
            "line_no": "Line",
            "value": "Value",
            "note": "Note",
            "decided_by": "By",
            "status": "Status",
            "outcome": "Outcome",
        },
    )
