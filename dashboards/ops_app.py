"""The ops workspace: ``streamlit run dashboards/ops_app.py``.

Upload channel exports, work the exception queue, take phone orders, read the audit trail.
For ops only: served beyond localhost it asks for a sign-in (``dashboards/auth.py``) and lets
in only the ops role. The analyst dashboards are a separate app (``streamlit_app.py``).
"""

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script; make the repository importable (pipelines, dashboards).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards import auth, run_health

st.set_page_config(page_title="OMS ops workspace", layout="wide")
user = auth.current_user("ops", ("ops",))
auth.sign_out_button("ops", user)
run_health.show(caption=False)  # a failed batch, cutoff or refresh, above every page
st.navigation(
    {
        "Operations": [
            st.Page("app_pages/upload.py", title="Upload", default=True),
            st.Page("app_pages/exceptions.py", title="Exception queue"),
            st.Page("app_pages/phone_order.py", title="Phone order"),
            st.Page("app_pages/audit_trail.py", title="Audit trail"),
        ]
    }
).run()
