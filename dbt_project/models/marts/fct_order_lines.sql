with lines as (
    select * from {{ ref('stg_oms__order_lines') }}
),

orders as (
    select * from {{ ref('stg_oms__orders') }}
),

fulfilment as (
    select * from {{ ref('int_order_lines__fulfilment') }}
),

fx as (
    select * from {{ ref('int_orders__reporting_fx') }}
)

select
    lines.order_key,
    lines.line_no,
    lines.sku,
    lines.product_name,
    lines.requires_shipping,
    orders.channel,
    orders.order_date,
    orders.ordered_at,
    orders.status as order_status,
    orders.service_level,
    orders.ship_country,
    lines.quantity as ordered_quantity,
    fulfilment.allocated_quantity,
    fulfilment.committed_quantity,
    fulfilment.allocated_warehouses,
    fulfilment.released_quantity,
    fulfilment.shipped_quantity,
    fulfilment.backordered_quantity,
    fulfilment.return_requested_quantity,
    fulfilment.returned_quantity,
    fulfilment.restocked_quantity,
    fulfilment.refunded_quantity,
    fulfilment.first_allocated_at,
    fulfilment.first_shipped_at,
    fulfilment.last_shipped_at,
    orders.currency,
    lines.unit_price,
    lines.line_discount,
    lines.line_total,
    fx.reporting_currency,
    fx.fx_rate,
    {{ to_reporting_currency('lines.unit_price', 'fx.fx_rate') }} as unit_price_reporting,
    {{ to_reporting_currency('lines.line_discount', 'fx.fx_rate') }} as line_discount_reporting,
    {{ to_reporting_currency('lines.line_total', 'fx.fx_rate') }} as line_total_reporting,
    orders.status = 'cancelled' as is_cancelled,
    coalesce(orders.fulfilled_by_channel, false) as is_fulfilled_by_channel,
    lines.requires_shipping
    and lines.quantity > 0
    and fulfilment.shipped_quantity >= lines.quantity as is_fully_shipped
from lines
inner join orders on lines.order_key = orders.order_key
inner join fulfilment
    on lines.order_key = fulfilment.order_key and lines.line_no = fulfilment.line_no
left join fx on lines.order_key = fx.order_key
