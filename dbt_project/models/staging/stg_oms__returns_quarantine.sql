with source as (
    select * from {{ source('quality', 'returns_quarantine') }}
)

select
    kind,
    reference,
    order_ref,
    sku,
    record,
    reason,
    quarantined_at,
    source_file,
    source_row,
    run_id
from source
