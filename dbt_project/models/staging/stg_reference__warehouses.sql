{#-
    data/reference/warehouses.csv, the fulfilment centres, typed. A table for the same reason
    as stg_reference__fx_rates: the warehouse holds no warehouse table of its own.
-#}
{{ config(materialized='table') }}

with source as (
    select *
    from read_csv(
        {{ reference_csv('warehouses.csv') }},
        header = true,
        all_varchar = true
    )
)

select
    source.name as warehouse_name,
    source.address1,
    source.city,
    source.region,
    source.postal_code,
    source.country,
    cast(source.lat as double) as lat,
    cast(source.lon as double) as lon,
    source.carrier_cutoff,
    source.time_zone,
    cast(source.replenishment_lead_days as integer) as replenishment_lead_days,
    trim(source.warehouse_id) as warehouse_id
from source
