"""Audit trail: every ops decision and sign-in, newest first, with who, when and from which
app (``pipelines/lib/audit.py``); and whether the chain of records is intact."""

from __future__ import annotations

import polars as pl
import streamlit as st

from pipelines.lib import audit
from pipelines.project import get_settings

LIMIT = 2000

st.title("Audit trail")
data_dir = get_settings().data_dir
st.caption(
    f"Append-only: {audit.audit_path(data_dir)}. Each record carries the hash of the one "
    "before, so a changed or removed record shows below."
)
records = audit.read(data_dir)
if not records:
    st.info("Nothing recorded yet: sign-ins and ops decisions appear here as they happen.")
    st.stop()
problems = audit.verify(data_dir)
if problems:
    st.error(
        "The audit trail was changed after it was written, or a write was torn: "
        + "; ".join(problems[:5])
    )
else:
    st.success(f"{len(records):,} records, chain intact.")
COLUMNS = {
    "seq": pl.Int64,
    **{c: pl.String for c in ("at", "who", "role", "app", "action", "target", "detail")},
}
frame = pl.DataFrame(
    [{c: r.get(c) for c in COLUMNS} for r in records[:LIMIT]], schema=COLUMNS, orient="row"
)
left, right = st.columns(2)
actions = left.multiselect("Actions", sorted(frame["action"].unique()), key="audit_actions")
who = right.text_input("Who (contains)", key="audit_who").strip()
if actions:
    frame = frame.filter(pl.col("action").is_in(actions))
if who:
    frame = frame.filter(pl.col("who").str.to_lowercase().str.contains(who.lower(), literal=True))
if len(records) > LIMIT:
    st.caption(f"The newest {LIMIT:,} of {len(records):,} records.")
st.dataframe(
    frame,
    hide_index=True,
    column_config={
        "seq": "#",
        "at": "When (UTC)",
        "who": "Who",
        "role": "Role",
        "app": "App",
        "action": "Action",
        "target": "On",
        "detail": "Detail",
    },
)
