from decimal import Decimal

import polars as pl
import streamlit as st

from dashboards import auth, data
from dashboards.markdown import plain
from pipelines.lib.ops_files import (
    PAYMENTS,
    OpsInputError,
    PhoneLine,
    PhoneOrder,
    address_problems,
    catalogue,
    destinations,
    line_problem,
    order_problems,
    pending_phone_orders,
    service_levels,
    write_phone_order,
)
from pipelines.project import get_settings

#: Widget keys of the form, cleared once an order is written.
FORM_KEYS = (
    "customer_name",
    "email",
    "phone",
    "ship_company",
    "ship_address1",
    "ship_address2",
    "ship_city",
    "ship_region",
    "ship_postal_code",
    "ship_country",
    "service_level",
    "payment",
    "shipping_amount",
    "tax_amount",
    "notes",
    "add_product",
    "add_sku",
    "add_quantity",
)
RECENT_ORDERS = 20

settings = get_settings()
products = catalogue(settings.reference_dir)
prices = {sku: Decimal(price) for sku, price in products.select("sku", "unit_price").iter_rows()}
names = dict(products.select("sku", "name").iter_rows())
countries = destinations(settings.reference_dir)
country_names = dict(countries.iter_rows())

st.title("Phone order")
st.caption(
    "The order is written to the inbox as a direct-order file; the next batch reads and "
    "validates it. Prices in USD from the catalogue."
)

flash = st.session_state.pop("phone_flash", None)
if flash:
    st.success(flash)
if st.session_state.pop("reset_form", False):  # an order was just written: a new form
    st.session_state["lines"] = []
    for key in FORM_KEYS:
        st.session_state.pop(key, None)
st.session_state.setdefault("lines", [])


def _cents(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _add_line() -> None:
    """Button callback: add the picked or typed SKU, or say why not."""
    sku = (st.session_state.get("add_sku") or "").strip().upper() or (
        st.session_state.get("add_product") or ""
    )
    quantity = int(st.session_state.get("add_quantity") or 0)
    problem = line_problem(sku, quantity, products)
    if problem:
        st.session_state["line_error"] = problem
        return
    lines = st.session_state["lines"]
    for line in lines:
        if line["sku"] == sku:
            line["quantity"] += quantity
            break
    else:
        lines.append({"sku": sku, "quantity": quantity})
    st.session_state["add_sku"] = ""
    st.session_state["add_product"] = None
    st.session_state["add_quantity"] = 1


def _remove_last_line() -> None:
    if st.session_state["lines"]:
        st.session_state["lines"].pop()


def _create(order: PhoneOrder) -> None:
    """Write the order file, then start a new, empty form; or say why not."""
    try:
        order_id, path = write_phone_order(settings.inbox, order, products)
    except OpsInputError as exc:
        st.error(f"Not written: {plain(exc)}")
        return
    auth.record("phone_order", f"phone:{order_id}", path.name)
    st.session_state["phone_flash"] = (
        f"Order {order_id} written to the inbox as {path.name}; the next batch takes it in."
    )
    st.session_state["reset_form"] = True
    st.rerun()


st.subheader("Customer")
c1, c2, c3 = st.columns(3)
customer_name = c1.text_input("Name", key="customer_name")
email = c2.text_input("Email", key="email")
phone = c3.text_input("Phone", key="phone", placeholder="+1 212 555 0100")

st.subheader("Ship to")
a1, a2 = st.columns(2)
ship_address1 = a1.text_input("Street", key="ship_address1")
ship_address2 = a2.text_input("Street, line 2", key="ship_address2")
b1, b2, b3, b4 = st.columns(4)
ship_country = b1.selectbox(
    "Country",
    countries["country"].to_list(),
    key="ship_country",
    format_func=lambda c: f"{c} — {country_names[c]}",
)
ship_region = b2.text_input("State / region", key="ship_region", placeholder="NY")
ship_postal_code = b3.text_input("Postal code", key="ship_postal_code")
ship_city = b4.text_input("City", key="ship_city")
ship_company = st.text_input("Company (optional)", key="ship_company")
# The checks validation applies later, as the fields are filled in.
checks = address_problems(
    PhoneOrder(
        email=email,
        phone=phone,
        ship_country=ship_country,
        ship_region=ship_region,
        ship_postal_code=ship_postal_code,
    )
)
typed = {"email": email, "phone": phone, "postal_code": ship_postal_code}
for name, problem in checks.items():
    if typed[name].strip():
        st.error(problem)

st.subheader("Lines")
l1, l2, l3 = st.columns([3, 2, 1])
l1.selectbox(
    "Find a product",
    products.filter(pl.col("active"))["sku"].to_list(),
    index=None,
    key="add_product",
    placeholder="Search SKU or name",
    format_func=lambda s: f"{s} — {names[s]} (${prices[s]})",
)
l2.text_input("…or type a SKU", key="add_sku", placeholder="SKU-00017")
l3.number_input("Quantity", min_value=1, step=1, key="add_quantity")
d1, d2, _ = st.columns([1, 1, 4])
d1.button("Add line", key="add_line", on_click=_add_line)
d2.button("Remove last line", key="remove_line", on_click=_remove_last_line)
if line_error := st.session_state.pop("line_error", None):
    st.error(line_error)

lines = [
    PhoneLine(
        line["sku"], line["quantity"], prices.get(line["sku"], Decimal("0")), names.get(line["sku"])
    )
    for line in st.session_state["lines"]
]
if lines:
    st.dataframe(
        pl.DataFrame(
            {
                "line": list(range(1, len(lines) + 1)),
                "sku": [line.sku for line in lines],
                "product": [line.product_name for line in lines],
                "quantity": [line.quantity for line in lines],
                "unit_price": [str(line.unit_price) for line in lines],
                "line_total": [str(line.line_total) for line in lines],
            }
        ),
        hide_index=True,
        column_config={
            "line": "Line",
            "sku": "SKU",
            "product": "Product",
            "quantity": "Qty",
            "unit_price": "Unit price",
            "line_total": "Line total",
        },
    )
else:
    st.caption("No lines yet.")

st.subheader("Delivery and payment")
p1, p2, p3, p4 = st.columns(4)
service_level = p1.selectbox(
    "Service level", service_levels(settings.reference_dir, ship_country), key="service_level"
)
payment = p2.radio("Payment", list(PAYMENTS), key="payment")
shipping_amount = p3.number_input(
    "Shipping", min_value=0.0, value=0.0, step=0.01, format="%.2f", key="shipping_amount"
)
tax_amount = p4.number_input(
    "Tax", min_value=0.0, value=0.0, step=0.01, format="%.2f", key="tax_amount"
)
notes = st.text_area("Notes (optional)", key="notes")

order = PhoneOrder(
    customer_name=customer_name,
    email=email,
    phone=phone,
    ship_company=ship_company,
    ship_address1=ship_address1,
    ship_address2=ship_address2,
    ship_city=ship_city,
    ship_region=ship_region,
    ship_postal_code=ship_postal_code,
    ship_country=ship_country,
    service_level=service_level,
    payment=payment,
    shipping_amount=_cents(shipping_amount),
    tax_amount=_cents(tax_amount),
    notes=notes,
    lines=lines,
)
t1, t2 = st.columns(2)
t1.metric("Subtotal (USD)", f"{order.subtotal:,.2f}")
t2.metric("Order total (USD)", f"{order.order_total:,.2f}")

problems = order_problems(order, products)
if problems:
    st.warning("Before creating the order: " + "; ".join(problems) + ".")
if st.button("Create order", key="create", type="primary", disabled=bool(problems)):
    _create(order)

st.subheader("Phone orders")
waiting = pending_phone_orders(settings.inbox)
st.caption(
    f"Waiting in the inbox for the next batch: {', '.join(waiting)}."
    if waiting
    else "None waiting in the inbox."
)
# From the ops snapshot: the phone orders still open (customer details are kept to the orders
# ops work on; a shipped order's are in neither snapshot).
recent = data.ops_query(
    "SELECT order_number, ordered_at, customer_name, status, order_total, currency "
    f"FROM oms.orders WHERE channel = 'phone' ORDER BY ordered_at DESC LIMIT {RECENT_ORDERS}"
)
if recent is None:
    st.caption("No phone order has been through a batch yet.")
elif recent.is_empty():
    st.caption("No phone order is open: every one has shipped or was cancelled.")
else:
    st.dataframe(
        recent,
        hide_index=True,
        column_config={
            "order_number": "Order",
            "ordered_at": "Ordered",
            "customer_name": "Customer",
            "status": "Status",
            "order_total": "Total",
            "currency": "Currency",
        },
    )
