select
    order_date,
    channel,
    currency,
    count(*) as orders,
    count(*) filter (where is_cancelled) as cancelled_orders,
    sum(units) as units,
    sum(order_total) filter (where not is_cancelled) as revenue
from {{ ref('fct_orders') }}
group by order_date, channel, currency
