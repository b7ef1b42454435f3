{#-
    One row per SKU: the catalogue (data/reference/products.csv through stg_reference__products)
    plus every SKU the operational tables mention that the catalogue lacks (order lines with an
    unknown SKU, stock of a retired one), flagged is_in_catalogue = false with the name the
    channel sent. So every fact's sku finds its row.
-#}
with catalogue as (
    select * from {{ ref('stg_reference__products') }}
),

seen as (
    select
        sku,
        min(product_name) as product_name
    from {{ ref('stg_oms__order_lines') }}
    where sku is not null
    group by sku
    union all
    select distinct
        sku,
        null as product_name
    from {{ ref('stg_oms__inventory_movements') }}
    union all
    select distinct
        sku,
        null as product_name
    from {{ ref('stg_oms__inventory_positions') }}
),

uncatalogued as (
    select
        seen.sku,
        min(seen.product_name) as product_name
    from seen
    anti join catalogue on seen.sku = catalogue.sku
    group by seen.sku
)

select
    sku,
    product_name,
    category,
    brand,
    list_price_usd,
    unit_weight_g,
    length_mm,
    width_mm,
    height_mm,
    requires_shipping,
    is_active,
    asin,
    true as is_in_catalogue
from catalogue
union all
select
    sku,
    product_name,
    null as category,
    null as brand,
    null as list_price_usd,
    null as unit_weight_g,
    null as length_mm,
    null as width_mm,
    null as height_mm,
    null as requires_shipping,
    null as is_active,
    null as asin,
    false as is_in_catalogue
from uncatalogued
