"""Customer communication: order events → the message outbox, delivered by SMTP when it is
switched on (logic in lib/notifications.py)."""

import dagster as dg

from pipelines.defs.resources import FoldersResource, WarehouseResource, batch_clock
from pipelines.lib.notifications import outbox_counts, run_notifications_stage

#: Outbox rows queued, sent or tried that have no message file to show for it.
MISSING_FILES_SQL = """
    SELECT count(*) FROM oms.notifications
    WHERE (status IN ('queued', 'sent') OR attempts > 0) AND file_path IS NULL
"""


@dg.asset(
    deps=["tracking_events", "order_holds", "backorders", "refunds"],
    group_name="communication",
    description="oms.notifications: one message per (order, kind, channel), rendered as .eml "
    "(and SMS text) under data/outbox/mail/, sent by SMTP when notifications.toml says so.",
    check_specs=[
        dg.AssetCheckSpec(
            "every_message_has_its_file",
            asset="notifications",
            description="Every queued, sent or tried message was rendered to a file.",
        )
    ],
)
def notifications(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, folders: FoldersResource
):
    """Render what order events call for, exactly once; deliver what is due."""
    now = batch_clock(context)
    with warehouse.connect() as con:
        result = run_notifications_stage(
            con,
            reference_dir=folders.reference,
            outbox=folders.outbox,
            run_id=context.run_id,
            now=now,
        )
        counts = outbox_counts(con)
        missing = con.execute(MISSING_FILES_SQL).fetchall()[0][0]
    yield dg.MaterializeResult(
        metadata={
            "queued_now": result.queued,
            "skipped_now": result.skipped,
            "emails_written": result.emails_written,
            "sms_written": result.sms_written,
            "sent": result.sent,
            "deferred": result.deferred,
            "failed": result.failed,
            "outbox_queued": counts["queued"],
            "outbox_sent": counts["sent"],
            "outbox_failed": counts["failed"],
            "by_kind": dg.MetadataValue.json(result.by_kind),
            "seconds": dg.MetadataValue.json(result.seconds),
        }
    )
    yield dg.AssetCheckResult(
        check_name="every_message_has_its_file",
        passed=missing == 0,
        metadata={"messages_without_file": missing},
    )
