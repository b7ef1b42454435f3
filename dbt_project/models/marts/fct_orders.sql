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
),

allocations as (
    select
        order_key,
        sum(quantity) as allocated_units,
        count(distinct warehouse_id) as warehouse_count,
        case
            when bool_or(allocation_rule = 'split') then 'split'
            when bool_or(allocation_rule = 'single') then 'single'
        end as allocation_rule
    from {{ ref('stg_oms__allocations') }}
    where is_committed
    group by order_key
),

backorders as (
    select
        order_key,
        sum(quantity) as backordered_units,
        max(promised_date) as promised_date
    from {{ ref('stg_oms__backorders') }}
    where is_open
    group by order_key
),

-- The columns fct_orders always had, first and unchanged.
order_facts as (
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
)

select
    order_facts.*,
    backorders.promised_date,
    allocations.allocation_rule,
    coalesce(allocations.allocated_units, 0) as allocated_units,
    coalesce(backorders.backordered_units, 0) as backordered_units,
    coalesce(allocations.warehouse_count, 0) as warehouses,  -- noqa: RF04
    coalesce(allocations.warehouse_count, 0) > 1 as is_split
from order_facts
left join allocations on order_facts.order_key = allocations.order_key
left join backorders on order_facts.order_key = backorders.order_key
