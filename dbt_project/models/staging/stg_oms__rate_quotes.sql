with source as (
    select * from {{ source('oms', 'rate_quotes') }}
)

select
    parcel_id,
    carrier,
    service,
    zone,
    billable_weight_g,
    price,
    transit_days,
    meets_sla,
    eligible as is_eligible,
    -- Renamed: rank is a window function's name.
    "rank" as quote_rank,  -- noqa: RF06
    why_not,
    rated_at,
    run_id,
    coalesce("rank" = 1, false) as is_chosen  -- noqa: RF06
from source
