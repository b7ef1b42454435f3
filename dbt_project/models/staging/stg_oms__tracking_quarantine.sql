with source as (
    select * from {{ source('quality', 'tracking_quarantine') }}
)

select
    event_key,
    tracking_number,
    carrier,
    status,
    raw_status,
    occurred_at,
    message,
    reason,
    quarantined_at,
    source_file,
    source_row,
    run_id
from source
