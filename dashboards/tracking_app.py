"""Customer order tracking, served alone: ``streamlit run dashboards/tracking_app.py``.

Only the tracking page: no navigation, nothing of the analyst dashboards is reachable.
"""

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script; make the repository importable (pipelines, dashboards).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

st.set_page_config(page_title="Track your order", layout="centered")
st.navigation(
    [st.Page("app_pages/track_order.py", title="Track your order", default=True)],
    position="hidden",
).run()
