{#-
    One row per order line (order_key, line_no) with how far its units got through our
    warehouses: allocated, released into pick waves, shipped, backordered, and back through
    returns. Every count is 0 rather than null when nothing happened. Units the channel
    fulfilled itself (fulfilled_by_channel orders) never pass through here.
-#}
with lines as (
    select
        order_key,
        line_no
    from {{ ref('stg_oms__order_lines') }}
),

-- Allocations that hold or held stock for the line: committed, released or shipped. Cancelled
-- and withdrawn ones gave their stock back.
allocations as (
    select
        order_key,
        line_no,
        sum(quantity) as allocated_quantity,
        sum(quantity) filter (where is_committed) as committed_quantity,
        count(distinct warehouse_id) as allocated_warehouses,
        min(allocated_at) as first_allocated_at
    from {{ ref('stg_oms__allocations') }}
    where status in ('committed', 'released', 'shipped')
    group by order_key, line_no
),

-- Pick tasks that are not cancelled put the units in a wave; shipped tasks left on a manifest.
picks as (
    select
        pick_tasks.order_key,
        pick_tasks.line_no,
        sum(pick_tasks.quantity) filter (where pick_tasks.status != 'cancelled')
            as released_quantity,
        sum(pick_tasks.quantity) filter (where pick_tasks.status = 'shipped')
            as shipped_quantity,
        min(shipments.shipped_at) filter (where pick_tasks.status = 'shipped')
            as first_shipped_at,
        max(shipments.shipped_at) filter (where pick_tasks.status = 'shipped')
            as last_shipped_at
    from {{ ref('stg_oms__pick_tasks') }} as pick_tasks
    left join {{ ref('stg_oms__shipments') }} as shipments
        on pick_tasks.shipment_id = shipments.shipment_id
    group by pick_tasks.order_key, pick_tasks.line_no
),

backorders as (
    select
        order_key,
        line_no,
        sum(quantity) as backordered_quantity
    from {{ ref('stg_oms__backorders') }}
    where is_open
    group by order_key, line_no
),

-- Return lines that were not rejected: what the customer asked to send back and what became
-- of it.
returns as (
    select
        order_key,
        line_no,
        sum(quantity) as return_requested_quantity,
        sum(coalesce(received_quantity, 0)) as returned_quantity,
        sum(coalesce(restocked_quantity, 0)) as restocked_quantity,
        sum(coalesce(refunded_quantity, 0)) as refunded_quantity
    from {{ ref('stg_oms__returns') }}
    where status != 'rejected'
    group by order_key, line_no
)

select
    lines.order_key,
    lines.line_no,
    allocations.first_allocated_at,
    picks.first_shipped_at,
    picks.last_shipped_at,
    coalesce(allocations.allocated_quantity, 0) as allocated_quantity,
    coalesce(allocations.committed_quantity, 0) as committed_quantity,
    coalesce(allocations.allocated_warehouses, 0) as allocated_warehouses,
    coalesce(picks.released_quantity, 0) as released_quantity,
    coalesce(picks.shipped_quantity, 0) as shipped_quantity,
    coalesce(backorders.backordered_quantity, 0) as backordered_quantity,
    coalesce(returns.return_requested_quantity, 0) as return_requested_quantity,
    coalesce(returns.returned_quantity, 0) as returned_quantity,
    coalesce(returns.restocked_quantity, 0) as restocked_quantity,
    coalesce(returns.refunded_quantity, 0) as refunded_quantity
from lines
left join allocations
    on lines.order_key = allocations.order_key and lines.line_no = allocations.line_no
left join picks
    on lines.order_key = picks.order_key and lines.line_no = picks.line_no
left join backorders
    on lines.order_key = backorders.order_key and lines.line_no = backorders.line_no
left join returns
    on lines.order_key = returns.order_key and lines.line_no = returns.line_no
