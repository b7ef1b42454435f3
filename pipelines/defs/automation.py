"""Jobs over the stages."""

import dagster as dg

order_batch = dg.define_asset_job(
    "order_batch",
    selection=dg.AssetSelection.groups("intake", "quality", "analytics"),
    description=(
        "The whole batch: inbox → canonical orders → validation (ready / on_hold) → "
        "analytics → reporting snapshot."
    ),
    tags={"oms/writer": "true"},
)
