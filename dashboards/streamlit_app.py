"""The analyst dashboards: ``streamlit run dashboards/streamlit_app.py``.

One of three apps for three audiences: this one (analysts and ops), the ops workspace
(``ops_app.py``: upload, exception queue, phone orders, audit trail; ops only) and the
customers' tracking page (``tracking_app.py``, served alone). Served beyond localhost, each
of the first two asks for a sign-in (``dashboards/auth.py``).
"""

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script; make the repository importable (pipelines, dashboards).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards import auth, filters

st.set_page_config(page_title="OMS dashboards", layout="wide")
user = auth.current_user("analytics", ("analyst", "ops"))
auth.sign_out_button("analytics", user)
pages = [
    st.Page("app_pages/overview.py", title="Overview", default=True),
    st.Page("app_pages/orders.py", title="Orders"),
    st.Page("app_pages/inventory.py", title="Inventory"),
    st.Page("app_pages/shipping.py", title="Fulfilment & shipping"),
    st.Page("app_pages/returns.py", title="Returns"),
    st.Page("app_pages/data_quality.py", title="Data quality"),
    st.Page("app_pages/track_order.py", title="Track an order"),
]
filters.keep()
st.navigation({"Analytics": pages}).run()
