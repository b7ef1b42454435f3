with orders as (
    select * from {{ ref('stg_oms__orders') }}
),

lines as (
    select
        order_key,
        count(*) as line_count,
        sum(quantity) as units,
        sum(line_total) as lines_total
    from {{ ref('stg_oms__order_lines') }}
    group by order_key
),

holds as (
    select
        order_key,
        count(*) as holds,
        count(*) filter (where is_open) as open_holds
    from {{ ref('stg_oms__order_holds') }}
    where severity = 'hold'
    group by order_key
)

select
    orders.order_key,
    orders.channel,
    orders.source_format,
    orders.order_number,
    orders.ordered_at,
    orders.order_date,
    orders.status,
    orders.payment_status,
    orders.service_level,
    orders.ship_country,
    orders.currency,
    orders.order_total,
    orders.received_at,
    coalesce(lines.line_count, 0) as line_count,
    coalesce(lines.units, 0) as units,
    coalesce(lines.lines_total, 0) as lines_total,
    coalesce(holds.holds, 0) as holds,
    coalesce(holds.open_holds, 0) as open_holds,
    orders.status = 'cancelled' as is_cancelled
from orders
left join lines on orders.order_key = lines.order_key
left join holds on orders.order_key = holds.order_key
