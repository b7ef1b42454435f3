with events as (
    select * from {{ ref('stg_oms__order_events') }}
),

orders as (
    select * from {{ ref('stg_oms__orders') }}
)

select
    events.event_id,
    events.order_key,
    events.event,
    events.occurred_at,
    events.event_date,
    events.detail,
    events.run_id,
    orders.channel,
    orders.order_date,
    orders.ordered_at,
    orders.status as order_status,
    orders.service_level,
    orders.payment_status,
    orders.ship_country,
    orders.currency,
    date_diff('second', orders.ordered_at, events.occurred_at) / 3600.0
        as hours_since_ordered,
    orders.channel = 'exchange' as is_exchange
from events
left join orders on events.order_key = orders.order_key
