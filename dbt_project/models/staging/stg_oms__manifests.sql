with source as (
    select * from {{ source('oms', 'manifests') }}
)

select
    manifest_id,
    carrier,
    warehouse_id,
    manifest_date,
    cutoff_at,
    parcels,
    weight_g,
    billable_weight_g,
    total_cost,
    closed_at,
    csv_path,
    pdf_path,
    files_written_at,
    run_id
from source
