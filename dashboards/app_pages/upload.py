import streamlit as st

from dashboards import auth
from dashboards.markdown import plain as _name
from pipelines.lib import dagster_api, uploads
from pipelines.project import REPO_ROOT, get_settings

TEMPLATE = REPO_ROOT / "data" / "templates" / "direct_orders.csv"

settings = get_settings()
state = st.session_state
state.setdefault("upload_round", 0)  # a new round empties the file picker
state.setdefault("upload_checked", {})  # picker file id -> Preview, or the refusal message
state.setdefault("upload_accepted", [])  # {"name", "original", "sha256"} of accepted files
state.setdefault("upload_runs", [])  # Dagster run ids submitted from this page

st.title("Upload")

try:
    limits = uploads.read_upload_settings(settings.reference_dir)
except ValueError as exc:
    st.error(f"The upload settings are wrong: {_name(exc)}")
    st.stop()

st.caption(
    f"Channel exports (Shopify CSV, WooCommerce JSON, Amazon reports, direct-order CSV/JSON), "
    f"up to {limits.max_megabytes:,} MB each. Each file is checked and previewed; nothing "
    "goes to the inbox until you accept it."
)

st.download_button(
    "Direct-order template (CSV)",
    TEMPLATE.read_bytes(),
    file_name=TEMPLATE.name,
    mime="text/csv",
    help="For phone and email orders: docs/direct-orders.md",
)

if "upload_notice" in state:
    st.success(state.pop("upload_notice"))
if "upload_failure" in state:
    st.error(state.pop("upload_failure"))

picked = st.file_uploader(
    "Channel export files",
    accept_multiple_files=True,
    max_upload_size=limits.max_megabytes,
    key=f"upload_files_{state.upload_round}",
)

ready: list[tuple[object, uploads.Preview]] = []
for upload in picked or []:
    checked = state.upload_checked.get(upload.file_id)
    if checked is None:
        try:
            checked = uploads.preview_upload(
                upload,
                upload.name,
                limits=limits,
                data_dir=settings.data_dir,
                inbox=settings.inbox,
                archive=settings.archive,
                reference_dir=settings.reference_dir,
            )
        except uploads.UploadRefused as exc:
            checked = str(exc)
        state.upload_checked[upload.file_id] = checked
    if isinstance(checked, str):
        st.error(f"**{_name(upload.name)}** refused: {_name(checked)}. Nothing was saved.")
        continue
    ready.append((upload, checked))
    with st.container(border=True):
        st.markdown(
            f"**{_name(checked.name)}** — {checked.format}, "
            + ", ".join(_name(c) for c in checked.channels)
        )
        if checked.name != upload.name:
            st.caption(f"Uploaded as {_name(repr(upload.name))}; saved under a safe name.")
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Orders", f"{checked.orders:,}")
        c2.metric("Lines", f"{checked.lines:,}")
        c3.metric("Cancelled", f"{checked.cancelled:,}")
        totals = "; ".join(f"{currency} {total}" for currency, total in checked.totals)
        if len(checked.totals) == 1:
            c4.metric("Order total", totals)
        else:
            c4.metric("Currencies", f"{len(checked.totals)}")
            st.caption(f"Order totals: {_name(totals)}")
        if checked.order_numbers:
            # The numbers the channel shows: what the Orders page finds an order by.
            more = checked.more_order_numbers
            st.caption(
                "Orders: "
                + ", ".join(_name(n) for n in checked.order_numbers)
                + (f", … and {more:,} more" if more else "")
            )
        if checked.identical:
            st.warning(
                "The same bytes are already here: "
                + ", ".join(_name(n) for n in checked.identical)
                + ". The batch reads identical content once; this copy would add nothing."
            )
        if checked.problems:
            st.warning("Problems found:\n\n" + "\n".join(f"- {_name(p)}" for p in checked.problems))
        else:
            st.caption("No problems found in the dry run.")

if ready:
    label = "Accept the file" if len(ready) == 1 else f"Accept {len(ready)} files"
    if st.button(label, type="primary"):
        saved, failed = [], []
        for upload, preview in ready:
            upload.seek(0)
            try:
                path = uploads.accept_upload(
                    upload, preview.name, settings.inbox, sha256=preview.sha256, limits=limits
                )
            except uploads.UploadRefused as exc:
                failed.append(f"{preview.name}: {exc}")
                continue
            state.upload_accepted.append(
                {"name": path.name, "original": upload.name, "sha256": preview.sha256}
            )
            saved.append(path.name)
            auth.record(
                "upload_accepted",
                path.name,
                f"uploaded as {upload.name!r}; {preview.orders:,} orders; sha256 {preview.sha256}",
            )
        if saved:
            them = "it" if len(saved) == 1 else "them"
            state.upload_notice = (
                f"Saved to the inbox: {', '.join(saved)}. The next batch reads {them}."
            )
        if failed:
            state.upload_failure = "Not saved: " + "; ".join(failed)
        state.upload_round += 1
        state.upload_checked = {}
        st.rerun()

st.subheader("Your uploads")
if not state.upload_accepted:
    st.caption("Files you accept in this session show here with their status.")
else:
    rows = []
    for item in state.upload_accepted:
        status = uploads.upload_status(
            item["name"],
            item["sha256"],
            inbox=settings.inbox,
            archive=settings.archive,
            rejected=settings.rejected,
        )
        rows.append(
            {
                "File": item["name"],
                "Status": status.status,
                "Where": status.where,
                "Reason": status.reason,
            }
        )
    st.table(rows)
    st.button("Refresh status")

st.subheader("Process now")
st.caption(
    "The batch reads the inbox on its own while `make ui` runs (every 15 minutes in "
    "business hours, and when files land). This starts it now through the Dagster webserver."
)
if st.button("Process now"):
    url = dagster_api.webserver_url()
    try:
        run_id = dagster_api.submit_job("order_batch", url=url)
    except dagster_api.DagsterUnavailable as exc:
        st.warning(f"Not started: {_name(exc)}.")
    else:
        state.upload_runs.append(run_id)
        st.success(f"Batch submitted: run {run_id} ({url}/runs/{run_id}).")
for run_id in state.upload_runs:
    try:
        st.caption(f"Run {run_id}: {dagster_api.run_status(run_id)}")
    except dagster_api.DagsterUnavailable as exc:
        st.caption(f"Run {run_id}: {_name(exc)}")

st.subheader("Recent files")
recent = uploads.recent_files(
    inbox=settings.inbox, archive=settings.archive, rejected=settings.rejected
)
if not recent:
    st.info("No files in the inbox, the archive or rejected/ yet.")
else:
    st.dataframe(
        [
            {
                "file": f.name,
                "status": f.status,
                "where": f.where,
                "reason": f.reason,
                "modified": f.at,
            }
            for f in recent
        ],
        hide_index=True,
        column_config={
            "file": "File",
            "status": "Status",
            "where": "Where",
            "reason": "Reason",
            "modified": st.column_config.DatetimeColumn("Modified", format="YYYY-MM-DD HH:mm"),
        },
    )
