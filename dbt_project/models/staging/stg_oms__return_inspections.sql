with source as (
    select * from {{ source('oms', 'return_inspections') }}
)

select
    inspection_id,
    return_line_id,
    rma_number,
    order_key,
    sku,
    warehouse_id,
    disposition,
    quantity,
    inspected_at,
    inspected_by,
    note,
    source_file,
    source_row,
    run_id
from source
