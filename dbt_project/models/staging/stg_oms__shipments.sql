with source as (
    select * from {{ source('oms', 'shipments') }}
)

select
    shipment_id,
    wave_id,
    order_key,
    warehouse_id,
    tote,
    status,
    lines,
    units,
    parcels,
    weight_g,
    released_at,
    cancelled_at,
    run_id
from source
