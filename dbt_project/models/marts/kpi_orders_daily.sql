select
    order_date,
    channel,
    currency,
    count(*) as orders,
    count(*) filter (where is_cancelled) as cancelled_orders,
    sum(units) as units,
    sum(order_total) filter (where not is_cancelled) as revenue,
    -- One currency and date per row, so one rate: null when that rate is unknown.
    '{{ var("reporting_currency") | upper }}' as reporting_currency,
    sum(order_total_reporting) filter (where not is_cancelled) as revenue_reporting
from {{ ref('fct_orders') }}
group by order_date, channel, currency
