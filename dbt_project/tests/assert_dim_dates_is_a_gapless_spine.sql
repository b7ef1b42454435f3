{{ config(meta={'dagster': {'ref': {'name': 'dim_dates'}}}) }}

-- One row per day between the first and the last, none missing.
select
    min(date_day) as first_day,
    max(date_day) as last_day,
    count(*) as day_count
from {{ ref('dim_dates') }}
having count(*) > 0 and count(*) != max(date_day) - min(date_day) + 1
