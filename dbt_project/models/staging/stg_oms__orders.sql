with source as (
    select * from {{ source('oms', 'orders') }}
),

renamed as (
    select
        order_key,
        channel,
        source_format,
        external_order_id,
        order_number,
        ordered_at,
        cast(ordered_at as date) as order_date,
        status,
        channel_status,
        payment_status,
        service_level,
        ship_country,
        ship_region,
        currency,
        subtotal,
        shipping_amount,
        tax_amount,
        discount_amount,
        order_total,
        channel_refunded,
        ship_complete,
        cancelled_at,
        original_order_key,
        received_at,
        updated_at,
        validated_at,
        -- Added for dim_customers and slicing; appended so earlier columns keep their places.
        customer_name,
        email,
        phone,
        ship_name,
        ship_city,
        ship_postal_code,
        payment_method,
        ship_by,
        fulfilled_by_channel,
        prices_include_tax
    from source
)

select * from renamed
