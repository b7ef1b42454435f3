"""Fulfilment stage: committed allocations → waves, pick lists, cartons, packing slips
(logic in lib/fulfilment.py)."""

import dagster as dg

from pipelines.defs.resources import FoldersResource, WarehouseResource, batch_clock
from pipelines.lib.fulfilment import run_fulfilment_stage

#: Pick tasks that are not in exactly one live shipment of their wave, or whose units differ
#: from their allocation's.
ORPHAN_TASKS_SQL = """
    SELECT count(*) FROM oms.pick_tasks t
    LEFT JOIN oms.shipments s USING (shipment_id)
    LEFT JOIN oms.allocations a ON a.allocation_id = t.task_id
    WHERE t.status <> 'cancelled'
      AND (s.shipment_id IS NULL OR s.wave_id <> t.wave_id OR s.order_key <> t.order_key
           OR a.quantity <> t.quantity
           OR a.status <> CASE t.status WHEN 'shipped' THEN 'shipped' ELSE 'released' END)
"""


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "waves",
            deps=["allocations"],
            description="oms.waves: pick waves per warehouse and cutoff; pick lists in "
            "data/outbox/<warehouse>/<date>/.",
        ),
        dg.AssetSpec("shipments", deps=["allocations"], description="oms.shipments."),
        dg.AssetSpec("pick_tasks", deps=["allocations"], description="oms.pick_tasks."),
        dg.AssetSpec("parcels", deps=["allocations"], description="oms.parcels: cartons."),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "tasks_match_allocations",
            asset="pick_tasks",
            description="Every live task is in its wave's shipment and picks its allocation.",
        )
    ],
    group_name="fulfilment",
)
def fulfilment(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, folders: FoldersResource
):
    """Cancel what was cancelled after release, release new waves, write the floor's paper."""
    now = batch_clock(context)
    with warehouse.connect() as con:
        result = run_fulfilment_stage(
            con,
            reference_dir=folders.reference,
            outbox=folders.outbox,
            run_id=context.run_id,
            now=now,
        )
        orphans = con.execute(ORPHAN_TASKS_SQL).fetchone()[0]
    yield dg.MaterializeResult(
        asset_key="waves",
        metadata={
            "waves": result.waves,
            "pick_lists": result.pick_lists,
            "pull_lists": result.pull_lists,
            "pages": result.pages,
            "seconds": dg.MetadataValue.json(result.seconds),
        },
    )
    yield dg.MaterializeResult(
        asset_key="shipments",
        metadata={
            "shipments": result.shipments,
            "orders_released": result.orders_released,
            "packing_slips": result.packing_slips,
        },
    )
    yield dg.MaterializeResult(
        asset_key="pick_tasks",
        metadata={
            "tasks": result.tasks,
            "units": result.units,
            "cancelled": result.tasks_cancelled,
        },
    )
    yield dg.MaterializeResult(
        asset_key="parcels",
        metadata={"parcels": result.parcels, "ship_alone": result.ship_alone},
    )
    yield dg.AssetCheckResult(
        asset_key="pick_tasks",
        check_name="tasks_match_allocations",
        passed=orphans == 0,
        metadata={"tasks_out_of_place": orphans},
    )
