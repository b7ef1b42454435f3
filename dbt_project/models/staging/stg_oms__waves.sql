with source as (
    select * from {{ source('oms', 'waves') }}
)

select
    wave_id,
    warehouse_id,
    wave_date,
    cutoff_at,
    cutoff_label,
    due_at_cutoff,
    status,
    shipments,
    lines,
    units,
    released_at,
    files_written_at,
    run_id,
    shipped_at
from source
