{{ config(meta={'dagster': {'ref': {'name': 'fct_order_lines'}}}) }}

-- An order's lines add up to the order in fct_orders: units, lines_total (order currency; 0
-- when no line has a total) and the units still committed (allocated_units); and each line's
-- unit counts are all there (none null) and flow in order: no more shipped than released,
-- released than allocated, refunded than returned.
with lines as (
    select
        order_key,
        sum(ordered_quantity) as units,
        sum(line_total) as lines_total,
        sum(committed_quantity) as committed_units,
        count(*) filter (
            where
            shipped_quantity > released_quantity
            or released_quantity > allocated_quantity
            or refunded_quantity > returned_quantity
            or coalesce(
                allocated_quantity + committed_quantity + allocated_warehouses
                + released_quantity + shipped_quantity + backordered_quantity
                + return_requested_quantity + returned_quantity + restocked_quantity
                + refunded_quantity,
                -1
            ) < 0
        ) as lines_out_of_order
    from {{ ref('fct_order_lines') }}
    group by order_key
)

select
    orders.order_key,
    orders.units,
    lines.units as line_units,
    orders.lines_total,
    lines.lines_total as line_totals,
    orders.allocated_units,
    lines.committed_units,
    lines.lines_out_of_order
from {{ ref('fct_orders') }} as orders
inner join lines on orders.order_key = lines.order_key
where
    orders.units != lines.units
    or orders.lines_total != coalesce(lines.lines_total, 0)
    or orders.allocated_units != lines.committed_units
    or lines.lines_out_of_order > 0
