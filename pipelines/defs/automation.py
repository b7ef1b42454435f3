"""Jobs over the stages."""

import dagster as dg

order_batch = dg.define_asset_job(
    "order_batch",
    selection=dg.AssetSelection.groups(
        "intake",
        "returns",
        "quality",
        "inventory",
        "allocation",
        "fulfilment",
        "shipping",
        "communication",
        "analytics",
    ),
    description=(
        "The whole batch: inbox → canonical orders → return requests, inspections, refunds and "
        "exchange orders → validation (ready / on_hold) → "
        "stock ledger → allocation (commit / backorder) → waves, pick lists, cartons, packing "
        "slips → rating, labels, manifests at the carrier cutoff, tracking events → customer "
        "messages → analytics → reporting snapshot."
    ),
    tags={"oms/writer": "true"},
)
