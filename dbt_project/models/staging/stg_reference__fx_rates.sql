{#-
    data/reference/fx_rates.csv (user-maintained), typed: USD for one unit of the currency from
    rate_date on. A table, not a view: the warehouse and the reporting snapshot keep the rates
    the marts were converted with, and nothing in them points at a file path.
-#}
{{ config(materialized='table') }}

with source as (
    select *
    from read_csv(
        {{ reference_csv('fx_rates.csv') }},
        header = true,
        all_varchar = true
    )
)

select
    -- Quoted: date is a type name.
    cast(trim(source."date") as date) as rate_date,  -- noqa: RF06
    cast(trim(source.rate_to_usd) as decimal(20, 10)) as rate_to_usd,
    upper(trim(source.currency)) as currency
from source
