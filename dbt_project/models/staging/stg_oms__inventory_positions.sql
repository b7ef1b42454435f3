with source as (
    select * from {{ source('oms', 'inventory_positions') }}
),

renamed as (
    select
        warehouse_id,
        sku,
        on_hand,
        committed as committed_units,
        safety_stock,
        atp,
        reorder_point,
        max_level,
        last_movement_at,
        last_counted_at,
        as_of,
        reorder_point is not null and max_level is not null as has_stock_policy
    from source
)

select * from renamed
