{{ config(meta={'dagster': {'ref': {'name': 'fct_inventory_positions'}}}) }}

-- Every row of the reorder report is a position the mart flags below its reorder point.
select
    reorder.warehouse_id,
    reorder.sku
from {{ ref('stg_oms__reorder_report') }} as reorder
left join {{ ref('fct_inventory_positions') }} as positions
    on
        reorder.warehouse_id = positions.warehouse_id
        and reorder.sku = positions.sku
where not coalesce(positions.below_reorder_point, false)
