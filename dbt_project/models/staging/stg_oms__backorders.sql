with source as (
    select * from {{ source('oms', 'backorders') }}
),

renamed as (
    select
        order_key,
        line_no,
        sku,
        quantity,
        reason,
        detail,
        promised_date,
        promised_warehouse_id,
        status,
        backordered_at,
        updated_at,
        resolved_at,
        run_id,
        status = 'open' as is_open
    from source
)

select * from renamed
