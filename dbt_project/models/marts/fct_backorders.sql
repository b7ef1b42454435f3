with backorders as (
    select * from {{ ref('stg_oms__backorders') }}
),

orders as (
    select * from {{ ref('stg_oms__orders') }}
),

-- Ages run to the batch's own clock (when allocation last looked at the stock, which is when
-- backorders were judged), so a replayed or simulated day reads right; now() without one.
clock as (
    select coalesce(max(as_of), now()) as as_of
    from {{ ref('stg_oms__inventory_positions') }}
)

select
    backorders.order_key,
    backorders.line_no,
    backorders.sku,
    backorders.quantity,
    backorders.reason,
    backorders.detail,
    backorders.promised_date,
    backorders.promised_warehouse_id,
    backorders.status,
    backorders.is_open,
    backorders.backordered_at,
    backorders.resolved_at,
    orders.channel,
    orders.service_level,
    orders.status as order_status,
    orders.ordered_at,
    date_diff(
        'second',
        backorders.backordered_at,
        case when backorders.is_open then clock.as_of else backorders.resolved_at end
    ) / 86400.0 as age_days
from backorders
left join orders on backorders.order_key = orders.order_key
cross join clock
