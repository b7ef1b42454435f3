with source as (
    select * from {{ source('oms', 'returns') }}
)

select
    return_line_id,
    return_id,
    rma_number,
    order_key,
    line_no,
    sku,
    quantity,
    reason,
    resolution,
    exchange_sku,
    requested_at,
    note,
    status,
    status_reason,
    window_ends_at,
    authorized_at,
    warehouse_id,
    label_path,
    received_quantity,
    restocked_quantity,
    missing_quantity,
    inspected_at,
    refunded_quantity,
    exchange_order_key,
    completed_at,
    updated_at,
    source_file,
    source_row,
    run_id
from source
