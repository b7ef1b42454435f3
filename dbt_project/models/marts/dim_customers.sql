{#-
    One row per customer recognised across orders and channels (customer_key, which the
    platform sets: a keyed hash of the email, else phone, else name and postal code). No
    contact details: the geography is the latest order's country, region and postal prefix.
    Orders without any of the three (or whose customer was erased) belong to no customer.
-#}
with keyed as (
    select
        orders.*,
        fx.fx_rate,
        -- An exchange's replacement order is no purchase: it counts apart.
        orders.channel != 'exchange' as is_purchase
    from {{ ref('stg_oms__orders') }} as orders
    left join {{ ref('int_orders__reporting_fx') }} as fx on orders.order_key = fx.order_key
    where orders.customer_key is not null
),

customers as (
    select
        customer_key,
        any_value(identified_by) as identified_by,
        arg_max(ship_country, ordered_at) as ship_country,
        arg_max(ship_region, ordered_at) as ship_region,
        arg_max(ship_postal_prefix, ordered_at) as ship_postal_prefix,
        arg_min(channel, ordered_at) filter (where is_purchase) as first_channel,
        min(ordered_at) filter (where is_purchase) as first_ordered_at,
        max(ordered_at) filter (where is_purchase) as last_ordered_at,
        min(order_date) filter (where is_purchase) as first_order_date,
        max(order_date) filter (where is_purchase) as last_order_date,
        count(*) filter (where is_purchase) as orders,
        count(*) filter (where not is_purchase) as exchange_orders,
        count(*) filter (where status = 'cancelled' and is_purchase) as cancelled_orders,
        count(distinct channel) filter (where is_purchase) as channel_count,
        string_agg(distinct channel, ', ' order by channel) filter (where is_purchase)
            as channels,
        sum({{ to_reporting_currency('order_total', 'fx_rate') }})
        filter (where status != 'cancelled') as revenue_reporting,
        count(*) filter (where status != 'cancelled' and fx_rate is null)
            as unconverted_orders
    from keyed
    group by customer_key
)

select
    *,
    '{{ var("reporting_currency") | upper }}' as reporting_currency,
    orders - cancelled_orders > 1 as is_repeat_customer
from customers
