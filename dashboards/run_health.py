"""Run health for the apps: the writing jobs' unresolved failures (stage and message) from
the Dagster home's run history, shown above the analyst Overview and every ops page."""

from __future__ import annotations

import streamlit as st

from dashboards import data
from dashboards.markdown import plain

#: The writing jobs besides the batch whose unresolved failure the page shows: (their name
#: in a sentence, what the failure means for what ops see).
OTHER_JOBS = {
    "carrier_cutoff": (
        "carrier cutoff",
        "Parcels it did not close into a manifest wait for the next cutoff.",
    ),
    "analytics_refresh": (
        "analytics refresh",
        "What the dashboards show is from the last snapshot published.",
    ),
}


def _when(run: dict | None) -> str:
    return f"{run['finished_at']:%Y-%m-%d %H:%M} UTC" if run else "none yet"


def _failed(run: dict) -> str:
    return f"failed ({_when(run)}) in {plain(run['stage'] or 'the run')}: {plain(run['message'])}"


def show(*, caption: bool) -> None:
    """An error box per writing job whose last run failed with no success since (stage,
    message, last success); with ``caption``, the last successful batch when it is fine."""
    runs = data.batch_runs()
    batch = runs.get("order_batch", {})
    success, failure = batch.get("last_success"), batch.get("last_failure")
    if failure and not failure["resolved"]:
        st.error(
            f"The last order batch {_failed(failure)} — last successful batch: {_when(success)}. "
            "What the pages show is as of that one; see the Dagster UI for the run."
        )
    elif caption:
        st.caption(f"Last successful batch: {_when(success)}.")
    for job, (name, meaning) in OTHER_JOBS.items():
        failure = runs.get(job, {}).get("last_failure")
        if failure and not failure["resolved"]:
            st.error(
                f"The last {name} {_failed(failure)} — last successful {name}: "
                f"{_when(runs[job].get('last_success'))}. {meaning} See the Dagster UI for the run."
            )
