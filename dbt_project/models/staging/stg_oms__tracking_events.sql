with source as (
    select * from {{ source('oms', 'tracking_events') }}
)

select
    event_key,
    tracking_number,
    parcel_id,
    carrier,
    status,
    raw_status,
    status_detail,
    occurred_at,
    location,
    message,
    recorded_at,
    source_file,
    source_row,
    run_id
from source
