"""Intake stage: inbox files → canonical orders and lines (logic in lib/intake.py)."""

import hashlib
import time
from pathlib import Path

import dagster as dg

from pipelines.defs.resources import FoldersResource, WarehouseResource, batch_clock, warn_rejected
from pipelines.lib.erasure import scrub_reexported
from pipelines.lib.intake import inbox_files, ingest_inbox


@dg.multi_asset(
    specs=[
        dg.AssetSpec("inbox_files", description="raw.files: every file received, by hash."),
        dg.AssetSpec("orders", description="oms.orders: canonical orders."),
        dg.AssetSpec("order_lines", description="oms.order_lines: canonical order lines."),
        dg.AssetSpec(
            "order_events",
            description="oms.order_events: each order's history (received, updated, held, "
            "allocated, shipped, ...); intake starts it, every later stage appends to it.",
        ),
    ],
    group_name="intake",
)
def intake(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, folders: FoldersResource
):
    """Read every file waiting in the inbox; archive what was read, reject what can't be."""
    began = time.perf_counter()
    now = batch_clock(context)
    with warehouse.connect() as con:
        result = ingest_inbox(
            con,
            folders.inbox,
            archive_dir=folders.archive,
            rejected_dir=folders.rejected,
            run_id=context.run_id,
            now=now,
        )
        # A channel that exported an erased customer's order again: the archived copy of
        # its file is rewritten like the erasure's (the warehouse kept the fields empty).
        rescrubbed = scrub_reexported(
            con, data_dir=Path(folders.data_dir), run_id=context.run_id, now=now
        )
        for action in rescrubbed:
            context.log.info(
                f"erased customer's data in a re-export: {action.path} {action.action}"
            )
        ((orders_total, lines_total, events_total),) = con.execute(
            "SELECT (SELECT count(*) FROM oms.orders), (SELECT count(*) FROM oms.order_lines), "
            "(SELECT count(*) FROM oms.order_events)"
        ).fetchall()
    warn_rejected(context, result.files)
    seconds = time.perf_counter() - began
    yield dg.MaterializeResult(
        asset_key="inbox_files",
        metadata={
            "processed": result.count("processed"),
            "rejected": result.count("rejected"),
            "duplicates": result.count("duplicate"),
            "seconds": round(seconds, 3),
        },
    )
    yield dg.MaterializeResult(
        asset_key="orders",
        metadata={
            "new": result.new_orders,
            "updated": result.updated_orders,
            "cancelled": result.cancelled_orders,
            "unchanged": result.unchanged_orders,
            "total": dg.MetadataValue.int(orders_total),
        },
    )
    yield dg.MaterializeResult(
        asset_key="order_lines",
        metadata={"written": result.lines, "total": dg.MetadataValue.int(lines_total)},
    )
    yield dg.MaterializeResult(
        asset_key="order_events", metadata={"total": dg.MetadataValue.int(events_total)}
    )


def _file_tokens(files: list) -> set[str]:
    """A short token per waiting file version (name, size, modification time)."""
    tokens = set()
    for path in files:
        stat = path.stat()
        raw = f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}".encode()
        tokens.add(hashlib.sha256(raw).hexdigest()[:16])
    return tokens


@dg.sensor(
    job_name="order_batch",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts order_batch when new files land in the inbox (one run per burst).",
)
def inbox_sensor(context: dg.SensorEvaluationContext, folders: FoldersResource):
    """One run for the files that arrived since the last tick; none when files only leave.

    The cursor holds a token per file seen waiting, so a file a batch leaves in the inbox
    for a later stage, or a batch archiving files, starts nothing.
    """
    current = _file_tokens(inbox_files(folders.inbox))
    seen = set(context.cursor.split(",")) if context.cursor else set()
    context.update_cursor(",".join(sorted(current)))
    arrived = current - seen
    if not arrived:
        return dg.SkipReason("no new files in the inbox")
    key = hashlib.sha256(",".join(sorted(arrived)).encode()).hexdigest()[:32]
    return dg.RunRequest(run_key=f"inbox-{key}", tags={"oms/trigger": "inbox"})
