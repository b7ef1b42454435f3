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
        -- The customer as a keyed hash and the postal prefix (pipelines/lib/privacy.py): the
        -- marts carry no name, email, phone or street.
        customer_key,
        identified_by,
        ship_postal_prefix,
        payment_method,
        ship_by,
        fulfilled_by_channel,
        prices_include_tax
    from source
)

select * from renamed
