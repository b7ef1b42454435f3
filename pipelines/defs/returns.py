"""Returns stage: return requests → RMAs, warehouse inspections → restock and the returns
area, refunds, store credits and exchange orders (logic in lib/returns.py)."""

import dagster as dg

from pipelines.defs.resources import FoldersResource, WarehouseResource, batch_clock, warn_rejected
from pipelines.lib.returns import run_returns_stage

#: Orders refunded (by us, and by the channel itself) more than they paid (must be none).
OVER_REFUNDED_SQL = """
    SELECT count(*) FROM (
        SELECT f.order_key FROM oms.refunds f JOIN oms.orders o USING (order_key)
        GROUP BY f.order_key, o.order_total, o.channel_refunded
        HAVING sum(f.amount) + coalesce(o.channel_refunded, 0) > o.order_total)
"""
#: RESTOCK units of an inspection record (one per file row; a row may be split over return
#: lines) not booked as exactly one return_restock movement, or such movements of no record.
UNBOOKED_RESTOCK_SQL = """
    SELECT count(*) FROM (
        SELECT split_part(inspection_id, ':', 1) || ':' || split_part(inspection_id, ':', 2)
                   AS record, sum(quantity) AS quantity
        FROM oms.return_inspections WHERE disposition = 'RESTOCK' GROUP BY 1) i
    FULL JOIN (SELECT * FROM oms.inventory_movements WHERE reason = 'return_restock') m
        ON m.movement_id = 'return:' || i.record
    WHERE i.record IS NULL OR m.movement_id IS NULL
       OR m.on_hand_delta <> i.quantity OR m.committed_delta <> 0
"""


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "returns",
            deps=["orders", "order_lines"],
            description="oms.returns: return requests from the inbox, authorized (RMA number, "
            "label in data/outbox/returns/labels/) or rejected with the reason.",
        ),
        dg.AssetSpec(
            "return_inspections",
            deps=["returns"],
            description="oms.return_inspections: what the warehouse found per unit group; "
            "RESTOCK goes back on hand, REFURBISH/DAMAGED/SCRAP stay in the returns area.",
        ),
        dg.AssetSpec(
            "refunds",
            deps=["return_inspections"],
            description="oms.refunds: refunds and store credits of inspected returns, each "
            "exported once to data/outbox/refunds/<date>/ per payment method; exchange orders.",
        ),
        dg.AssetSpec(
            "returns_quarantine",
            deps=["orders"],
            description="quality.returns_quarantine: request and inspection records that fit "
            "no order, line or RMA, with the reason.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "never_refunded_more_than_paid",
            asset="refunds",
            description="No order's refunds (with the channel's own) add up to more than its "
            "total.",
        ),
        dg.AssetCheckSpec(
            "restock_booked",
            asset="return_inspections",
            description="Every RESTOCK record has exactly one return_restock movement of its "
            "units, and no other return_restock movement exists.",
        ),
    ],
    group_name="returns",
)
def returns(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, folders: FoldersResource
):
    """Authorize return requests, book inspections, settle what is inspected."""
    now = batch_clock(context)
    with warehouse.connect() as con:
        result = run_returns_stage(con, **folders.for_inbox_stage(), run_id=context.run_id, now=now)
        over = con.execute(OVER_REFUNDED_SQL).fetchone()[0]
        unbooked = con.execute(UNBOOKED_RESTOCK_SQL).fetchone()[0]
    warn_rejected(context, result.files)
    yield dg.MaterializeResult(
        asset_key="returns",
        metadata={
            "files": len(result.files),
            "files_rejected": sum(f.status == "rejected" for f in result.files),
            "requests_read": result.requests_read,
            "rmas_issued": result.rmas_issued,
            "lines_authorized": result.authorized_lines,
            "units_authorized": result.authorized_units,
            "lines_rejected": result.rejected_lines,
            "repeated": result.repeated,
            "labels_written": result.labels_written,
            "seconds": dg.MetadataValue.json(result.seconds),
        },
    )
    yield dg.MaterializeResult(
        asset_key="return_inspections",
        metadata={
            "records_read": result.inspections_read,
            "units_received": result.units_received,
            "units_restocked": result.units_restocked,
            "units_missing": result.units_missing,
            "orders_returned": result.orders_returned,
            "orders_partially_returned": result.orders_partially_returned,
        },
    )
    yield dg.MaterializeResult(
        asset_key="refunds",
        metadata={
            "refunds": result.refunds,
            "store_credits": result.store_credits,
            "refunded": dg.MetadataValue.json({c: str(a) for c, a in result.refunded.items()}),
            "held_for_review": result.refunds_held,
            "exchange_orders": result.exchange_orders,
            "export_files": result.export_files,
        },
    )
    yield dg.MaterializeResult(
        asset_key="returns_quarantine", metadata={"quarantined": result.quarantined}
    )
    yield dg.AssetCheckResult(
        asset_key="refunds",
        check_name="never_refunded_more_than_paid",
        passed=over == 0,
        metadata={"orders_over_refunded": over},
    )
    yield dg.AssetCheckResult(
        asset_key="return_inspections",
        check_name="restock_booked",
        passed=unbooked == 0,
        metadata={"records_out_of_step": unbooked},
    )
