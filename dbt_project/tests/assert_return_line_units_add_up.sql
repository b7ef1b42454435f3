{{ config(meta={'dagster': {'ref': {'name': 'fct_returns'}}}) }}

-- Every return line's units add up: no more arrive or go missing than were asked for, no
-- more are refunded than arrived, and the pivoted inspection records agree with the line's
-- own counters (RESTOCK = restocked, MISSING = missing, all but MISSING = received).
select
    return_line_id,
    requested_quantity,
    received_quantity,
    restocked_quantity,
    missing_quantity,
    refunded_quantity
from {{ ref('fct_returns') }}
where
    received_quantity + missing_quantity > requested_quantity
    or refunded_quantity > received_quantity
    or restock_units != restocked_quantity
    or missing_units != missing_quantity
    or restock_units + refurbish_units + damaged_units + scrap_units != received_quantity
