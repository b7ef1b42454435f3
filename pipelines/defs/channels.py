"""Channel feedback: shipment confirmations and available-stock feeds in each channel's own
import format, after the manifests close (logic in lib/channel_feeds.py)."""

import dagster as dg

from pipelines.defs.resources import FoldersResource, WarehouseResource, batch_clock
from pipelines.lib.channel_feeds import run_channel_feeds_stage

#: Order lines confirmed to their channel beyond the units that shipped (must be none: an
#: item is never confirmed twice).
OVER_CONFIRMED_SQL = """
    WITH confirmed AS (
        SELECT order_key, line_no, sum(quantity) AS units
        FROM oms.channel_confirmations GROUP BY ALL
    ),
    shipped AS (
        SELECT order_key, line_no, sum(quantity) AS units
        FROM oms.allocations WHERE status = 'shipped' GROUP BY ALL
    )
    SELECT count(*) FROM confirmed c LEFT JOIN shipped s USING (order_key, line_no)
    WHERE c.units > coalesce(s.units, 0)
"""


@dg.asset(
    deps=["manifests", "inventory_positions"],
    group_name="channels",
    description="oms.channel_feeds, oms.channel_confirmations, oms.channel_stock: shipment "
    "confirmations and available-stock feeds per channel in its own import format, under "
    "data/outbox/channels/<channel>/<timestamp>/ (manifest.json last).",
    check_specs=[
        dg.AssetCheckSpec(
            "never_confirmed_beyond_shipped",
            asset="channel_feeds",
            description="No order line is confirmed to its channel for more units than shipped.",
        )
    ],
)
def channel_feeds(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, folders: FoldersResource
):
    """Confirm what shipped since the last feed; offer the SKUs whose sellable stock changed."""
    now = batch_clock(context)
    with warehouse.connect() as con:
        result = run_channel_feeds_stage(
            con,
            reference_dir=folders.reference,
            outbox=folders.outbox,
            run_id=context.run_id,
            now=now,
        )
        over = con.execute(OVER_CONFIRMED_SQL).fetchall()[0][0]
    yield dg.MaterializeResult(
        metadata={
            "feeds": len(result.feeds),
            "folders_written": result.folders_written,
            "items_confirmed": result.items_confirmed,
            "units_confirmed": result.units_confirmed,
            "orders_confirmed": result.orders_confirmed,
            "items_waiting": result.items_waiting,
            "skus_sent": result.skus_sent,
            "by_feed": dg.MetadataValue.json(
                [
                    {k: f[k] for k in ("feed_id", "channel", "kind", "records", "units")}
                    for f in result.feeds
                ]
            ),
            "seconds": dg.MetadataValue.json(result.seconds),
        }
    )
    yield dg.AssetCheckResult(
        check_name="never_confirmed_beyond_shipped",
        passed=over == 0,
        metadata={"order_lines_over_confirmed": over},
    )
