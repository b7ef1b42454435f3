"""Shipping stage: rate shopping and labels, carrier manifests at the cutoff (ship
confirmation), carrier tracking events, delays (logic in lib/shipping.py)."""

import dagster as dg

from pipelines.defs.resources import FoldersResource, WarehouseResource, batch_clock, warn_rejected
from pipelines.lib.shipping import run_shipping_stage

#: Tracking numbers carried by more than one parcel (must be none).
REPEATED_TRACKING_SQL = """
    SELECT count(*) FROM (
        SELECT tracking_number FROM oms.parcels WHERE tracking_number IS NOT NULL
        GROUP BY tracking_number HAVING count(*) > 1)
"""
#: Shipped allocations without exactly one ship movement of their units, or ship movements
#: of allocations that did not ship.
UNSHIPPED_STOCK_SQL = """
    SELECT count(*) FROM oms.allocations a
    FULL JOIN (SELECT * FROM oms.inventory_movements WHERE reason = 'ship') m
        ON m.movement_id = 'ship:' || a.allocation_id
    WHERE (a.status = 'shipped' AND m.movement_id IS NULL)
       OR (m.movement_id IS NOT NULL
           AND (a.status IS DISTINCT FROM 'shipped' OR m.on_hand_delta <> -a.quantity
                OR m.committed_delta <> -a.quantity))
"""


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "rate_quotes",
            deps=["parcels", "shipments"],
            description="oms.rate_quotes: every service considered per parcel and why the "
            "chosen one won; labels (PDF, ZPL) beside each wave's pick list.",
        ),
        dg.AssetSpec(
            "manifests",
            deps=["rate_quotes"],
            description="oms.manifests: carrier manifests closed at the cutoff (CSV, PDF in "
            "data/outbox/<warehouse>/<date>/); closing ships parcels and books ship movements.",
        ),
        dg.AssetSpec(
            "tracking_events",
            deps=["manifests"],
            description="oms.tracking_events: carrier events from the inbox, applied to "
            "parcels, shipments and orders (latest event time wins); delays flagged.",
        ),
        dg.AssetSpec(
            "tracking_quarantine",
            deps=["manifests"],
            description="quality.tracking_quarantine: events of tracking numbers we never "
            "issued, with the reason.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "tracking_numbers_unique",
            asset="rate_quotes",
            description="No two parcels carry the same tracking number.",
        ),
        dg.AssetCheckSpec(
            "shipped_stock_booked",
            asset="manifests",
            description="Every shipped allocation has exactly one ship movement of its units.",
        ),
    ],
    group_name="shipping",
)
def shipping(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, folders: FoldersResource
):
    """Label what is packed, close manifests whose cutoff passed, apply tracking events."""
    now = batch_clock(context)
    with warehouse.connect() as con:
        result = run_shipping_stage(
            con, **folders.for_inbox_stage(), run_id=context.run_id, now=now
        )
        repeated = con.execute(REPEATED_TRACKING_SQL).fetchone()[0]
        unbooked = con.execute(UNSHIPPED_STOCK_SQL).fetchone()[0]
    warn_rejected(context, result.tracking_files)
    yield dg.MaterializeResult(
        asset_key="rate_quotes",
        metadata={
            "parcels_rated": result.rated,
            "labelled": result.labelled,
            "unlabelled": result.unlabelled,
            "missed_promise": result.missed_promise,
            "labels_voided": result.labels_voided,
            "label_files": result.label_files,
            "label_pages": result.label_pages,
        },
    )
    yield dg.MaterializeResult(
        asset_key="manifests",
        metadata={
            "manifests": result.manifests,
            "parcels_shipped": result.parcels_shipped,
            "shipments_shipped": result.shipments_shipped,
            "units_shipped": result.units_shipped,
            "orders_shipped": result.orders_shipped,
            "orders_partially_shipped": result.orders_partially_shipped,
        },
    )
    yield dg.MaterializeResult(
        asset_key="tracking_events",
        metadata={
            "files": len(result.tracking_files),
            "files_rejected": sum(f.status == "rejected" for f in result.tracking_files),
            "events_read": result.events_read,
            "events_new": result.events_new,
            "events_duplicate": result.events_duplicate,
            "parcels_updated": result.parcels_updated,
            "shipments_delivered": result.shipments_delivered,
            "orders_delivered": result.orders_delivered,
            "shipments_delayed": result.shipments_delayed,
            "seconds": dg.MetadataValue.json(result.seconds),
        },
    )
    yield dg.MaterializeResult(
        asset_key="tracking_quarantine",
        metadata={"events_quarantined": result.events_quarantined},
    )
    yield dg.AssetCheckResult(
        asset_key="rate_quotes",
        check_name="tracking_numbers_unique",
        passed=repeated == 0,
        metadata={"repeated_tracking_numbers": repeated},
    )
    yield dg.AssetCheckResult(
        asset_key="manifests",
        check_name="shipped_stock_booked",
        passed=unbooked == 0,
        metadata={"allocations_out_of_step": unbooked},
    )
