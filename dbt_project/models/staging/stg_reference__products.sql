{#-
    data/reference/products.csv, the catalogue, typed. A table for the same reason as
    stg_reference__fx_rates: the warehouse holds no product table of its own.
-#}
{{ config(materialized='table') }}

with source as (
    select *
    from read_csv(
        {{ reference_csv('products.csv') }},
        header = true,
        all_varchar = true
    )
)

select
    source.name as product_name,
    source.category,
    source.brand,
    cast(source.unit_price as decimal(18, 2)) as list_price_usd,
    cast(source.unit_weight_g as integer) as unit_weight_g,
    cast(source.length_mm as integer) as length_mm,
    cast(source.width_mm as integer) as width_mm,
    cast(source.height_mm as integer) as height_mm,
    cast(source.requires_shipping as boolean) as requires_shipping,
    cast(source.active as boolean) as is_active,
    source.asin,
    trim(source.sku) as sku
from source
