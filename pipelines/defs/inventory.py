"""Inventory and allocation stages: stock files → ledger; open lines → allocations
(logic in lib/inventory.py and lib/brokering.py)."""

import time

import dagster as dg

from pipelines.defs.resources import FoldersResource, WarehouseResource, batch_clock, warn_rejected
from pipelines.lib.brokering import run_allocation_stage
from pipelines.lib.inventory import ingest_stock_files, write_reorder_csv


@dg.asset(
    name="inventory_movements",
    deps=["return_inspections"],
    group_name="inventory",
    description="oms.inventory_movements: the append-only ledger; stock counts, receipts "
    "and adjustments from the inbox.",
)
def inventory_movements(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, folders: FoldersResource
) -> dg.MaterializeResult:
    """Book the stock files waiting in the inbox; a file with a bad row is rejected whole."""
    began = time.perf_counter()
    now = batch_clock(context)
    with warehouse.connect() as con:
        result = ingest_stock_files(
            con,
            folders.inbox,
            reference_dir=folders.reference,
            archive_dir=folders.archive,
            rejected_dir=folders.rejected,
            run_id=context.run_id,
            now=now,
        )
        total = con.execute("SELECT count(*) FROM oms.inventory_movements").fetchone()[0]
    warn_rejected(context, result.files)
    return dg.MaterializeResult(
        metadata={
            "files": len(result.files),
            "rejected": sum(1 for f in result.files if f.status == "rejected"),
            "movements_by_reason": dg.MetadataValue.json(result.movements),
            "units_by_reason": dg.MetadataValue.json(result.units),
            "superseded_counts": result.superseded_counts,
            "ledger_rows": dg.MetadataValue.int(total),
            "seconds": round(time.perf_counter() - began, 3),
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "allocations",
            deps=["order_holds", "inventory_movements"],
            description="oms.allocations: stock committed to order lines (single / split).",
        ),
        dg.AssetSpec(
            "backorders",
            deps=["order_holds", "inventory_movements"],
            description="oms.backorders: lines waiting for stock, with reason and promise.",
        ),
        dg.AssetSpec(
            "inventory_positions",
            deps=["inventory_movements"],
            description="oms.inventory_positions: on hand, committed, safety stock, ATP.",
        ),
        dg.AssetSpec(
            "reorder_report",
            deps=["inventory_movements"],
            description="oms.reorder_report and data/outbox/inventory/reorder_<date>.csv.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "committed_within_on_hand",
            asset="inventory_positions",
            description="No position commits more units than it has on hand.",
        ),
        dg.AssetCheckSpec(
            "every_unit_accounted",
            asset="allocations",
            description="Every open unit of an allocatable order is allocated or backordered.",
        ),
    ],
    group_name="allocation",
)
def allocation(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, folders: FoldersResource
):
    """Release stock that no longer belongs, allocate open lines, commit, re-promise."""
    now = batch_clock(context)
    with warehouse.connect() as con:
        result = run_allocation_stage(
            con, reference_dir=folders.reference, run_id=context.run_id, now=now
        )
        over = con.execute(
            "SELECT count(*) FROM oms.inventory_positions WHERE committed > on_hand"
        ).fetchone()[0]
        unaccounted = con.execute(UNACCOUNTED_SQL).fetchone()[0]
        positions = con.execute(POSITION_FIGURES_SQL).fetchone()
    reorder_csv = write_reorder_csv(result.reorder, folders.outbox, now)
    yield dg.MaterializeResult(
        asset_key="allocations",
        metadata={
            "open_lines": result.open_lines,
            "units_demanded": result.units_demanded,
            "units_allocated": result.units_allocated,
            "orders_by_rule": dg.MetadataValue.json(result.orders_by_rule),
            "released_by_reason": dg.MetadataValue.json(result.released),
            "status_changes": dg.MetadataValue.json(result.status_changes),
            "fulfilled_by_channel": result.fulfilled_by_channel,
            "seconds": dg.MetadataValue.json(result.seconds),
        },
    )
    yield dg.MaterializeResult(
        asset_key="backorders",
        metadata={
            "units_backordered": result.units_backordered,
            "open": result.backorders_open,
            "filled": result.backorders_filled,
            "repromised": result.repromised,
        },
    )
    yield dg.MaterializeResult(
        asset_key="inventory_positions",
        metadata={
            "dagster/row_count": positions[0],
            "units_on_hand": positions[1],
            "units_committed": positions[2],
            "units_available": positions[3],
            "nothing_to_promise": positions[4],
        },
    )
    yield dg.MaterializeResult(
        asset_key="reorder_report",
        metadata={"rows": result.reorder_rows, "csv": dg.MetadataValue.path(str(reorder_csv))},
    )
    yield dg.AssetCheckResult(
        asset_key="inventory_positions",
        check_name="committed_within_on_hand",
        passed=over == 0,
        metadata={"positions_over": over},
    )
    yield dg.AssetCheckResult(
        asset_key="allocations",
        check_name="every_unit_accounted",
        passed=unaccounted == 0,
        metadata={"lines_unaccounted": unaccounted},
    )


#: Lines of allocatable orders whose units are not all either committed or backordered.
UNACCOUNTED_SQL = """
    SELECT count(*)
    FROM oms.order_lines l JOIN oms.orders o USING (order_key)
    LEFT JOIN (SELECT order_key, line_no, sum(quantity) AS units FROM oms.allocations
               WHERE status IN ('committed', 'released', 'shipped') GROUP BY ALL) a
              USING (order_key, line_no)
    LEFT JOIN (SELECT order_key, line_no, quantity AS units FROM oms.backorders
               WHERE status = 'open') b USING (order_key, line_no)
    WHERE o.status IN ('allocated', 'partially_allocated', 'backordered', 'released',
                       'partially_shipped')
      AND l.requires_shipping AND l.quantity > 0
      AND coalesce(a.units, 0) + coalesce(b.units, 0) <> l.quantity
"""

#: The positions' figures for the asset's metadata: positions, units on hand, committed and
#: available to promise, and positions with nothing to promise.
POSITION_FIGURES_SQL = """
    SELECT count(*), coalesce(sum(on_hand), 0), coalesce(sum(committed), 0),
           coalesce(sum(atp), 0), count(*) FILTER (WHERE atp = 0)
    FROM oms.inventory_positions
"""
