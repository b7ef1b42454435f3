with positions as (
    select * from {{ ref('stg_oms__inventory_positions') }}
),

-- Open backorders count against the warehouse whose lead time set their promise.
backordered as (
    select
        promised_warehouse_id as warehouse_id,
        sku,
        sum(quantity) as backordered_units
    from {{ ref('stg_oms__backorders') }}
    where is_open and promised_warehouse_id is not null
    group by promised_warehouse_id, sku
),

reorder as (
    select * from {{ ref('stg_oms__reorder_report') }}
),

-- The catalogue name travels only on the reorder report; one name per SKU.
product_names as (
    select
        sku,
        min(product_name) as product_name
    from reorder
    where product_name is not null
    group by sku
),

joined as (
    select
        positions.warehouse_id,
        positions.sku,
        product_names.product_name,
        positions.on_hand,
        positions.committed_units,
        positions.safety_stock,
        positions.atp,
        positions.reorder_point,
        positions.max_level,
        reorder.suggested_quantity,
        positions.has_stock_policy,
        positions.last_movement_at,
        positions.last_counted_at,
        positions.as_of,
        coalesce(backordered.backordered_units, 0) as backordered_units,
        positions.on_hand
        - positions.committed_units
        - coalesce(backordered.backordered_units, 0) as available_position
    from positions
    left join backordered
        on
            positions.warehouse_id = backordered.warehouse_id
            and positions.sku = backordered.sku
    left join reorder
        on
            positions.warehouse_id = reorder.warehouse_id
            and positions.sku = reorder.sku
    left join product_names on positions.sku = product_names.sku
)

select
    *,
    coalesce(available_position <= reorder_point, false) as below_reorder_point,
    atp = 0 as is_stocked_out
from joined
