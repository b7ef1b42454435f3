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
    run_id,
    shipped_at,
    promised_delivery_date,
    delivered_at,
    delayed_at,
    status_at,
    delayed_at is not null as is_delayed
from source
