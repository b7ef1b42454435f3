with source as (
    select * from {{ source('quality', 'expectation_results') }}
)

select
    run_id,
    validated_at,
    suite,
    rule,
    expectation,
    severity,
    success,
    element_count,
    unexpected_count,
    orders_affected
from source
