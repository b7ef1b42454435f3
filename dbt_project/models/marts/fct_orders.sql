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

-- When the order's live (not cancelled) shipments left and arrived, and whether any is late.
-- delivered_at only when every live shipment is delivered.
shipments as (
    select
        order_key,
        min(shipped_at) as first_shipped_at,
        max(shipped_at) as last_shipped_at,
        case
            when bool_and(delivered_at is not null) then max(delivered_at)
        end as delivered_at,
        bool_or(is_delayed) as is_delayed
    from {{ ref('stg_oms__shipments') }}
    where status != 'cancelled'
    group by order_key
),

-- What the carriers charge for the order: rates of its live (not cancelled) parcels.
shipping_costs as (
    select
        shipments.order_key,
        sum(parcels.rate) as shipping_cost
    from {{ ref('stg_oms__parcels') }} as parcels
    inner join {{ ref('stg_oms__shipments') }} as shipments
        on parcels.shipment_id = shipments.shipment_id
    where not parcels.is_cancelled
    group by shipments.order_key
),

-- Units that came back (any disposition but MISSING) over the order's return lines.
return_units as (
    select
        order_key,
        sum(received_quantity) as returned_units
    from {{ ref('stg_oms__returns') }}
    group by order_key
),

-- Money given back: refunds to the original payment and store credit alike.
order_refunds as (
    select
        order_key,
        sum(amount) as refunded_amount
    from {{ ref('stg_oms__refunds') }}
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
),

-- The stock columns, unchanged after the columns above.
order_stock as (
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
),

-- Shipping columns after the stock columns.
order_shipping as (
    select
        order_stock.*,
        shipments.first_shipped_at,
        shipments.last_shipped_at,
        case
            when order_stock.status in ('delivered', 'partially_returned', 'returned')
                then shipments.delivered_at
        end as delivered_at,
        coalesce(shipping_costs.shipping_cost, 0) as shipping_cost,
        coalesce(shipments.is_delayed, false) as is_delayed
    from order_stock
    left join shipments on order_stock.order_key = shipments.order_key
    left join shipping_costs on order_stock.order_key = shipping_costs.order_key
),

-- Returns columns after the shipping columns.
order_returns as (
    select
        order_shipping.*,
        orders.original_order_key,
        order_shipping.channel = 'exchange' as is_exchange,
        coalesce(return_units.returned_units, 0) as returned_units,
        coalesce(order_refunds.refunded_amount, 0) as refunded_amount
    from order_shipping
    inner join orders on order_shipping.order_key = orders.order_key
    left join return_units on order_shipping.order_key = return_units.order_key
    left join order_refunds on order_shipping.order_key = order_refunds.order_key
)

-- The customer, the order's other amounts, and every amount in the reporting currency last
-- (int_orders__reporting_fx: the order date's rate; null when no rate is known).
select
    order_returns.*,
    customers.customer_key,
    orders.subtotal,
    orders.shipping_amount,
    orders.tax_amount,
    orders.discount_amount,
    fx.reporting_currency,
    fx.fx_rate,
    {{ to_reporting_currency('order_returns.order_total', 'fx.fx_rate') }}
        as order_total_reporting,
    {{ to_reporting_currency('orders.subtotal', 'fx.fx_rate') }} as subtotal_reporting,
    {{ to_reporting_currency('orders.shipping_amount', 'fx.fx_rate') }}
        as shipping_amount_reporting,
    {{ to_reporting_currency('orders.tax_amount', 'fx.fx_rate') }} as tax_amount_reporting,
    {{ to_reporting_currency('orders.discount_amount', 'fx.fx_rate') }}
        as discount_amount_reporting,
    {{ to_reporting_currency('order_returns.lines_total', 'fx.fx_rate') }}
        as lines_total_reporting,
    {{ to_reporting_currency('order_returns.refunded_amount', 'fx.fx_rate') }}
        as refunded_amount_reporting
from order_returns
inner join orders on order_returns.order_key = orders.order_key
left join {{ ref('int_orders__reporting_fx') }} as fx on order_returns.order_key = fx.order_key
left join {{ ref('int_orders__customer_keys') }} as customers
    on order_returns.order_key = customers.order_key
