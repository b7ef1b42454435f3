{#-
    One row per customer recognised across orders and channels (int_orders__customer_keys: by
    email, else phone, else name and postal code). Contact details are those of the customer's
    latest order. Orders without any of the three belong to no customer.
-#}
with keyed as (
    select
        orders.*,
        customer_keys.customer_key,
        customer_keys.identified_by,
        fx.fx_rate,
        -- An exchange's replacement order is no purchase: it counts apart.
        orders.channel != 'exchange' as is_purchase
    from {{ ref('int_orders__customer_keys') }} as customer_keys
    inner join {{ ref('stg_oms__orders') }} as orders on customer_keys.order_key = orders.order_key
    left join {{ ref('int_orders__reporting_fx') }} as fx on customer_keys.order_key = fx.order_key
    where customer_keys.customer_key is not null
),

customers as (
    select
        customer_key,
        any_value(identified_by) as identified_by,
        arg_max(customer_name, ordered_at) as customer_name,
        arg_max(email, ordered_at) as email,
        arg_max(phone, ordered_at) as phone,
        arg_max(ship_country, ordered_at) as ship_country,
        arg_max(ship_postal_code, ordered_at) as ship_postal_code,
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
