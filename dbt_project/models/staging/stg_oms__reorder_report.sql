with source as (
    select * from {{ source('oms', 'reorder_report') }}
),

renamed as (
    select
        warehouse_id,
        sku,
        product_name,
        on_hand,
        committed as committed_units,
        backordered as backordered_units,
        available_position,
        reorder_point,
        max_level,
        suggested_quantity,
        lead_days,
        as_of,
        run_id
    from source
)

select * from renamed
