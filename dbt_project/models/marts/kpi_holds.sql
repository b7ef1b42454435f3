{#-
    Holds by reason: one row per (order_date, channel, reason) with orders held for that
    reason, their holds and how long they took to resolve. Definitions in _kpis.yml.
-#}
with orders as (
    select
        order_key,
        channel,
        order_date
    from {{ ref('stg_oms__orders') }}
),

placed as (
    select
        order_date,
        channel,
        count(*) as orders
    from orders
    group by order_date, channel
),

holds as (
    select
        orders.order_date,
        orders.channel,
        order_holds.order_key,
        order_holds.reason,
        order_holds.is_open,
        order_holds.resolution,
        order_holds.hours_to_resolve
    from {{ ref('stg_oms__order_holds') }} as order_holds
    inner join orders on order_holds.order_key = orders.order_key
    where order_holds.severity = 'hold'
),

by_reason as (
    select
        order_date,
        channel,
        reason,
        count(distinct order_key) as held_orders,
        count(*) as holds_opened,
        count(*) filter (where is_open) as holds_open,
        count(*) filter (where not is_open) as holds_resolved,
        count(*) filter (where resolution = 'cleared') as holds_cleared,
        count(*) filter (where resolution = 'released') as holds_released,
        count(*) filter (where resolution = 'cancelled') as holds_cancelled,
        coalesce(sum(hours_to_resolve), 0) as hours_to_resolve_total,
        round(median(hours_to_resolve), 2) as hours_to_resolve_p50,
        round(quantile_cont(hours_to_resolve, 0.9), 2) as hours_to_resolve_p90
    from holds
    group by order_date, channel, reason
)

select
    by_reason.order_date,
    by_reason.channel,
    by_reason.reason,
    placed.orders,
    by_reason.held_orders,
    by_reason.holds_opened,
    by_reason.holds_open,
    by_reason.holds_resolved,
    by_reason.holds_cleared,
    by_reason.holds_released,
    by_reason.holds_cancelled,
    by_reason.hours_to_resolve_total,
    by_reason.hours_to_resolve_p50,
    by_reason.hours_to_resolve_p90,
    by_reason.held_orders / nullif(placed.orders, 0) as hold_rate
from by_reason
inner join placed
    on by_reason.order_date = placed.order_date and by_reason.channel = placed.channel
