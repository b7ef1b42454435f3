with return_lines as (
    select * from {{ ref('stg_oms__returns') }}
),

orders as (
    select * from {{ ref('stg_oms__orders') }}
),

-- When each order line's return window started, as the returns stage judges it: the delivery
-- of the line's shipped units (once every shipment carrying them is delivered), else when
-- they last shipped.
line_deliveries as (
    select
        pick_tasks.order_key,
        pick_tasks.line_no,
        coalesce(
            case
                when bool_and(shipments.delivered_at is not null)
                    then max(shipments.delivered_at)
            end,
            max(shipments.shipped_at)
        ) as window_started_at
    from {{ ref('stg_oms__pick_tasks') }} as pick_tasks
    inner join {{ ref('stg_oms__shipments') }} as shipments
        on pick_tasks.shipment_id = shipments.shipment_id
    where pick_tasks.status = 'shipped'
    group by pick_tasks.order_key, pick_tasks.line_no
),

-- Units per disposition, pivoted from the inspection records of each return line.
dispositions as (
    select
        return_line_id,
        sum(quantity) filter (where disposition = 'RESTOCK') as restock_units,
        sum(quantity) filter (where disposition = 'REFURBISH') as refurbish_units,
        sum(quantity) filter (where disposition = 'DAMAGED') as damaged_units,
        sum(quantity) filter (where disposition = 'SCRAP') as scrap_units,
        sum(quantity) filter (where disposition = 'MISSING') as missing_units
    from {{ ref('stg_oms__return_inspections') }}
    group by return_line_id
)

select
    return_lines.return_line_id,
    return_lines.return_id,
    return_lines.rma_number,
    return_lines.order_key,
    return_lines.line_no,
    return_lines.sku,
    return_lines.warehouse_id,
    orders.channel,
    orders.order_date,
    return_lines.reason,
    return_lines.resolution,
    return_lines.status,
    return_lines.status_reason,
    return_lines.exchange_sku,
    return_lines.exchange_order_key,
    return_lines.requested_at,
    line_deliveries.window_started_at,
    return_lines.window_ends_at,
    return_lines.authorized_at,
    return_lines.inspected_at,
    return_lines.completed_at,
    return_lines.quantity as requested_quantity,
    coalesce(return_lines.received_quantity, 0) as received_quantity,
    coalesce(return_lines.restocked_quantity, 0) as restocked_quantity,
    coalesce(return_lines.missing_quantity, 0) as missing_quantity,
    coalesce(return_lines.refunded_quantity, 0) as refunded_quantity,
    coalesce(dispositions.restock_units, 0) as restock_units,
    coalesce(dispositions.refurbish_units, 0) as refurbish_units,
    coalesce(dispositions.damaged_units, 0) as damaged_units,
    coalesce(dispositions.scrap_units, 0) as scrap_units,
    coalesce(dispositions.missing_units, 0) as missing_units,
    return_lines.reason in ('DEFECTIVE', 'WRONG_ITEM', 'DAMAGED_IN_TRANSIT') as is_merchant_fault,
    date_diff('second', line_deliveries.window_started_at, return_lines.requested_at)
    / 86400.0 as days_delivery_to_request,
    date_diff('second', return_lines.authorized_at, return_lines.inspected_at)
    / 86400.0 as days_authorization_to_inspection
from return_lines
left join orders on return_lines.order_key = orders.order_key
left join line_deliveries
    on
        return_lines.order_key = line_deliveries.order_key
        and return_lines.line_no = line_deliveries.line_no
left join dispositions on return_lines.return_line_id = dispositions.return_line_id
