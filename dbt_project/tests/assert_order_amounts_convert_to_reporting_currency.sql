{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_orders'}}}) }}

-- Orders whose amounts could not be converted into the reporting currency: data/reference/
-- fx_rates.csv has no rate for their currency (or for the reporting currency) on or before
-- the order date. Their *_reporting columns are null. Add the rates to fx_rates.csv (docs/
-- analytics.md); a warning, not an error, so the rest of the reporting still refreshes.
select
    order_key,
    currency,
    order_date,
    reporting_currency,
    order_total
from {{ ref('fct_orders') }}
where fx_rate is null
