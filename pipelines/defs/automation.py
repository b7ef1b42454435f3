"""Jobs over the stages."""

import dagster as dg

order_batch = dg.define_asset_job(
    "order_batch",
    selection=dg.AssetSelection.groups("intake", "analytics"),
    description="The whole batch: inbox → canonical orders → analytics → reporting snapshot.",
    tags={"oms/writer": "true"},
)
