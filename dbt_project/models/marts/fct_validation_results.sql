{#-
    Validation results over time: one row per run, suite, rule and expectation, with the rows
    evaluated and failed. Definitions in _validation_results.yml.
-#}
with results as (
    select * from {{ ref('stg_quality__expectation_results') }}
)

select
    run_id,
    validated_at,
    suite,
    rule,
    expectation,
    severity,
    success,
    element_count as rows_evaluated,
    unexpected_count as rows_failed,
    orders_affected,
    cast(validated_at as date) as validated_date,
    md5(run_id || '|' || suite || '|' || rule || '|' || expectation) as validation_result_id,
    unexpected_count / nullif(element_count, 0) as failure_rate
from results
