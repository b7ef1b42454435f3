{#-
    One row per order with what every order-level KPI needs (kpi_daily aggregates it): the
    first allocation attempt, units to ship and shipped, its shipments' milestones, whether it
    shipped by ship_by and arrived by its promise, in full, perfect, and its cycle times.
    Definitions in _kpis.yml and docs/analytics.md (KPIs).
-#}
with orders as (
    select * from {{ ref('stg_oms__orders') }}
),

-- The batch's own clock (as fct_backorders): a promise is judged once it has passed.
clock as (
    select coalesce(max(as_of), now()) as as_of
    from {{ ref('stg_oms__inventory_positions') }}
),

lines as (
    select
        order_key,
        coalesce(sum(ordered_quantity) filter (where requires_shipping), 0) as units_to_ship,
        coalesce(sum(shipped_quantity) filter (where requires_shipping), 0) as units_shipped
    from {{ ref('fct_order_lines') }}
    group by order_key
),

-- The first allocation attempt: the batch that first judged the order's stock. Allocation
-- writes the order's allocated / partially_allocated / backordered event and its allocation
-- rows with that batch's one timestamp, so the earliest of those is the first attempt.
attempt_events as (
    select
        order_key,
        min(occurred_at) as first_attempt_at
    from {{ ref('stg_oms__order_events') }}
    where event in ('allocated', 'partially_allocated', 'backordered')
    group by order_key
),

allocation_times as (
    select
        order_key,
        min(allocated_at) as first_allocated_at
    from {{ ref('stg_oms__allocations') }}
    group by order_key
),

first_attempts as (
    select
        coalesce(attempt_events.order_key, allocation_times.order_key) as order_key,
        least(attempt_events.first_attempt_at, allocation_times.first_allocated_at)
            as first_attempt_at
    from attempt_events
    full outer join allocation_times
        on attempt_events.order_key = allocation_times.order_key
),

-- Units allocated in that attempt, whatever became of them later (released, shipped,
-- cancelled or withdrawn).
first_attempt_units as (
    select
        first_attempts.order_key,
        first_attempts.first_attempt_at,
        coalesce(sum(allocations.quantity), 0) as units_allocated_first_attempt
    from first_attempts
    left join {{ ref('stg_oms__allocations') }} as allocations
        on
            first_attempts.order_key = allocations.order_key
            and first_attempts.first_attempt_at = allocations.allocated_at
    group by first_attempts.order_key, first_attempts.first_attempt_at
),

-- Shipments: released (any, cancelled too), and the live (not cancelled) ones' shipping,
-- delivery, promise and cost. The order's promise is that of the shipments that left first.
shipments as (
    select
        order_key,
        min(released_at) as first_released_at,
        min(shipped_at) filter (where not is_cancelled) as first_shipped_at,
        max(shipped_at) filter (where not is_cancelled) as last_shipped_at,
        count(*) filter (where not is_cancelled and shipped_at is not null)
            as shipped_shipments,
        bool_and(delivered_at is not null) filter (where not is_cancelled) as all_delivered,
        max(delivered_at) filter (where not is_cancelled) as last_delivered_at,
        coalesce(sum(shipping_cost) filter (where not is_cancelled), 0) as shipping_cost_usd,
        coalesce(sum(billable_weight_g) filter (where not is_cancelled), 0)
            as billable_weight_g
    from {{ ref('fct_shipments') }}
    group by order_key
),

first_promises as (
    select
        shipped.order_key,
        max(shipped.promised_delivery_date) as promised_delivery_date
    from {{ ref('fct_shipments') }} as shipped
    inner join shipments
        on
            shipped.order_key = shipments.order_key
            and shipped.shipped_at = shipments.first_shipped_at
    where not shipped.is_cancelled
    group by shipped.order_key
),

holds as (
    select
        order_key,
        count(*) as holds
    from {{ ref('stg_oms__order_holds') }}
    where severity = 'hold'
    group by order_key
),

-- Return lines not rejected that make the order imperfect: damaged on the way, or our fault.
bad_returns as (
    select
        order_key,
        bool_or(reason = 'DAMAGED_IN_TRANSIT') as has_damage_return,
        bool_or(reason in ('WRONG_ITEM', 'DEFECTIVE')) as has_fault_return
    from {{ ref('stg_oms__returns') }}
    where status != 'rejected'
    group by order_key
),

joined as (
    select
        orders.order_key,
        orders.channel,
        orders.order_date,
        orders.received_at,
        orders.ship_by,
        cast(orders.ship_by as date) as ship_by_date,
        first_attempt_units.first_attempt_at,
        cast(first_attempt_units.first_attempt_at as date) as first_attempt_date,
        shipments.first_released_at,
        shipments.first_shipped_at,
        cast(shipments.first_shipped_at as date) as first_shipped_date,
        shipments.last_shipped_at,
        first_promises.promised_delivery_date,
        clock.as_of,
        orders.status = 'cancelled' as is_cancelled,
        coalesce(orders.fulfilled_by_channel, false) as is_fulfilled_by_channel,
        coalesce(lines.units_to_ship, 0) as units_to_ship,
        coalesce(lines.units_shipped, 0) as units_shipped,
        coalesce(first_attempt_units.units_allocated_first_attempt, 0)
            as units_allocated_first_attempt,
        coalesce(shipments.shipped_shipments, 0) as shipped_shipments,
        coalesce(shipments.shipping_cost_usd, 0) as shipping_cost_usd,
        coalesce(shipments.billable_weight_g, 0) as billable_weight_g,
        coalesce(holds.holds, 0) > 0 as has_hold,
        coalesce(bad_returns.has_damage_return, false) as has_damage_return,
        coalesce(bad_returns.has_fault_return, false) as has_fault_return,
        case when shipments.all_delivered then shipments.last_delivered_at end
            as all_delivered_at
    from orders
    cross join clock
    left join lines on orders.order_key = lines.order_key
    left join first_attempt_units on orders.order_key = first_attempt_units.order_key
    left join shipments on orders.order_key = shipments.order_key
    left join first_promises on orders.order_key = first_promises.order_key
    left join holds on orders.order_key = holds.order_key
    left join bad_returns on orders.order_key = bad_returns.order_key
),

flags as (
    select
        *,
        units_to_ship > 0 and units_shipped >= units_to_ship as is_shipped_in_full,
        first_attempt_at is not null as is_allocation_attempted,
        first_attempt_at is not null
        and units_allocated_first_attempt < units_to_ship as is_backordered_at_first_attempt,
        -- On-time ship: orders we must ship by ship_by, judged once fully shipped or once
        -- ship_by has passed.
        not is_cancelled
        and not is_fulfilled_by_channel
        and units_to_ship > 0
        and ship_by is not null
        and (
            (units_shipped >= units_to_ship and last_shipped_at is not null)
            or ship_by < as_of
        ) as is_ship_judged,
        -- Delivery: orders with a promise, judged once every live shipment is delivered or
        -- once the promised date has passed.
        not is_cancelled
        and promised_delivery_date is not null
        and (
            all_delivered_at is not null
            or promised_delivery_date < cast(as_of as date)
        ) as is_delivery_judged
    from joined
),

outcomes as (
    select
        *,
        case
            when is_shipped_in_full then last_shipped_at
        end as shipped_in_full_at,
        case
            when is_shipped_in_full then all_delivered_at
        end as delivered_in_full_at,
        case
            when is_ship_judged
                then coalesce(is_shipped_in_full and last_shipped_at <= ship_by, false)
        end as is_shipped_on_time,
        case
            when is_delivery_judged
                then coalesce(cast(all_delivered_at as date) <= promised_delivery_date, false)
        end as is_delivered_on_time
    from flags
),

final as (
    select
        *,
        cast(delivered_in_full_at as date) as delivered_date,
        cast(first_released_at as date) as first_released_date,
        -- The day the on-time ship outcome was settled: shipped in full in time, else ship_by.
        case
            when is_ship_judged
                then cast(least(ship_by, coalesce(shipped_in_full_at, ship_by)) as date)
        end as ship_settled_date,
        case
            when is_delivery_judged then is_delivered_on_time and is_shipped_in_full
        end as is_otif,
        case
            when is_delivery_judged
                then
                    is_delivered_on_time
                    and is_shipped_in_full
                    and not has_damage_return
                    and not has_fault_return
        end as is_perfect_order,
        shipped_shipments > 1 as is_split_shipment,
        date_diff('second', received_at, first_released_at) / 3600.0
            as hours_received_to_released,
        date_diff('second', first_released_at, first_shipped_at) / 3600.0
            as hours_released_to_shipped,
        date_diff('second', first_shipped_at, delivered_in_full_at) / 3600.0
            as hours_shipped_to_delivered,
        date_diff('second', received_at, delivered_in_full_at) / 3600.0
            as hours_received_to_delivered
    from outcomes
)

select
    order_key,
    channel,
    order_date,
    received_at,
    is_cancelled,
    is_fulfilled_by_channel,
    has_hold,
    units_to_ship,
    units_shipped,
    is_allocation_attempted,
    first_attempt_at,
    first_attempt_date,
    units_allocated_first_attempt,
    is_backordered_at_first_attempt,
    ship_by,
    ship_by_date,
    is_ship_judged,
    ship_settled_date,
    is_shipped_on_time,
    first_released_at,
    first_released_date,
    first_shipped_at,
    first_shipped_date,
    last_shipped_at,
    shipped_in_full_at,
    is_shipped_in_full,
    shipped_shipments,
    is_split_shipment,
    shipping_cost_usd,
    billable_weight_g,
    promised_delivery_date,
    all_delivered_at,
    delivered_in_full_at,
    delivered_date,
    is_delivery_judged,
    is_delivered_on_time,
    is_otif,
    has_damage_return,
    has_fault_return,
    is_perfect_order,
    hours_received_to_released,
    hours_released_to_shipped,
    hours_shipped_to_delivered,
    hours_received_to_delivered
from final
