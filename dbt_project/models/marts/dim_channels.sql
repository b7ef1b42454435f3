{#-
    One row per sales channel: every channel the platform knows (pipelines/lib/schema.py
    CHANNELS) plus any other found on orders, with its kind and order counts.
-#}
with known as (
    select
        known_channels.channel,
        known_channels.channel_name,
        known_channels.channel_type,
        known_channels.is_sales_channel
    from (
        values
        ('shopify', 'Shopify', 'web_store', true),
        ('woocommerce', 'WooCommerce', 'web_store', true),
        ('amazon', 'Amazon', 'marketplace', true),
        ('phone', 'Phone', 'direct', true),
        ('email', 'Email', 'direct', true),
        ('exchange', 'Exchange', 'returns', false)
    ) as known_channels (channel, channel_name, channel_type, is_sales_channel)
),

orders as (
    select
        channel,
        count(*) as orders,
        string_agg(distinct source_format, ', ' order by source_format) as source_formats,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from {{ ref('stg_oms__orders') }}
    group by channel
),

channels as (
    select channel from known
    union
    select channel from orders
)

select
    channels.channel,
    orders.source_formats,
    orders.first_order_date,
    orders.last_order_date,
    coalesce(known.channel_name, channels.channel) as channel_name,
    coalesce(known.channel_type, 'other') as channel_type,
    coalesce(known.is_sales_channel, true) as is_sales_channel,
    known.channel is not null as is_known,
    coalesce(orders.orders, 0) as orders
from channels
left join known on channels.channel = known.channel
left join orders on channels.channel = orders.channel
