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
        "The analytics are as of the last snapshot published.",
    ),
}


def _when(run: dict | None) -> str:
    if not run:
        return "none yet"
    return f"{run['finished_at']:%Y-%m-%d %H:%M} UTC" if run["finished_at"] else "unknown time"


def _refreshed_since(runs: dict, failure: dict) -> bool:
    """Whether a batch or cutoff (they refresh the analytics too) succeeded after ``failure``
    of the analytics refresh."""
    return any(
        (ok := runs.get(job, {}).get("last_success"))
        and ok["finished_at"]
        and failure["finished_at"]
        and ok["finished_at"] > failure["finished_at"]
        for job in ("order_batch", "carrier_cutoff")
    )


def _failed(run: dict) -> str:
    return f"failed ({_when(run)}) in {plain(run['stage'] or 'the run')}: {plain(run['message'])}"


def show(*, caption: bool) -> None:
    """An error box per writing job whose last run failed with no success since (stage,
    message, last success; a failed analytics refresh is also mended by a later batch or
    cutoff, which refresh the analytics too); with ``caption``, the last successful batch
    when it is fine. A run history that can't be read is a caption: the pages go on."""
    try:
        runs = data.batch_runs()
    except Exception as exc:  # the pages work without it: say so and go on
        st.caption(f"The run history can't be read now: {plain(exc)}")
        return
    batch = runs.get("order_batch", {})
    success, failure = batch.get("last_success"), batch.get("last_failure")
    if failure and not failure["resolved"]:
        st.error(
            f"The last order batch {_failed(failure)} — last successful batch: {_when(success)}. "
            "See the Dagster UI for the run."
        )
    elif caption:
        st.caption(f"Last successful batch: {_when(success)}.")
    for job, (name, meaning) in OTHER_JOBS.items():
        failure = runs.get(job, {}).get("last_failure")
        if not failure or failure["resolved"]:
            continue
        if job == "analytics_refresh" and _refreshed_since(runs, failure):
            continue
        st.error(
            f"The last {name} {_failed(failure)} — last successful {name}: "
            f"{_when(runs[job].get('last_success'))}. {meaning} See the Dagster UI for the run."
        )
