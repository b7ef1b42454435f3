{{ config(meta={'dagster': {'ref': {'name': 'stg_reference__fx_rates'}}}) }}

-- Every rate in data/reference/fx_rates.csv is positive, and USD is 1 where it is listed.
select
    rate_date,
    currency,
    rate_to_usd
from {{ ref('stg_reference__fx_rates') }}
where rate_to_usd <= 0 or (currency = 'USD' and rate_to_usd != 1)
