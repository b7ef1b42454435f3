with source as (
    select * from {{ source('oms', 'order_lines') }}
),

renamed as (
    select
        order_key,
        line_no,
        sku,
        product_name,
        quantity,
        unit_price,
        line_discount,
        line_total,
        requires_shipping
    from source
)

select * from renamed
