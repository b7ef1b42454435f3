"""Analyst dashboards and the ops pages: ``streamlit run dashboards/streamlit_app.py``."""

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script; make the repository importable (pipelines, dashboards).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards import filters

st.set_page_config(page_title="OMS dashboards", layout="wide")
pages = {
    "Analytics": [
        st.Page("app_pages/overview.py", title="Overview", default=True),
        st.Page("app_pages/orders.py", title="Orders"),
        st.Page("app_pages/inventory.py", title="Inventory"),
        st.Page("app_pages/shipping.py", title="Fulfilment & shipping"),
        st.Page("app_pages/returns.py", title="Returns"),
        st.Page("app_pages/data_quality.py", title="Data quality"),
        st.Page("app_pages/track_order.py", title="Track an order"),
    ],
    "Operations": [
        st.Page("app_pages/upload.py", title="Upload"),
        st.Page("app_pages/exceptions.py", title="Exception queue"),
        st.Page("app_pages/phone_order.py", title="Phone order"),
    ],
}
filters.keep()
st.navigation(pages).run()
