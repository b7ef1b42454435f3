with source as (
    select * from {{ source('oms', 'pick_tasks') }}
)

select
    task_id,
    wave_id,
    shipment_id,
    order_key,
    line_no,
    warehouse_id,
    sku,
    bin,
    walk_seq,
    quantity,
    tote,
    status,
    released_at,
    cancelled_at,
    cancel_reason,
    pulled_at,
    run_id
from source
