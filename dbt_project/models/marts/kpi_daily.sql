{#-
    The KPI mart: one row per (date_day, channel), every day of dim_dates for every channel of
    dim_channels. Each KPI keeps its numerator and denominator so a roll-up (a week, all
    channels) sums both and divides; each *_rate is numerator / denominator, null when the
    denominator is 0. Which date a KPI counts on is part of its definition (_kpis.yml).
-#}
with spine as (
    select
        dates.date_day,
        channels.channel
    from {{ ref('dim_dates') }} as dates
    cross join {{ ref('dim_channels') }} as channels
),

order_kpis as (
    select * from {{ ref('fct_order_kpis') }}
),

-- By order date: orders placed, their units, revenue in the reporting currency, holds.
placed as (
    select
        orders.order_date as date_day,
        orders.channel,
        count(*) as orders,
        count(*) filter (where orders.is_cancelled) as cancelled_orders,
        sum(orders.units) as units,
        coalesce(sum(orders.order_total_reporting) filter (where not orders.is_cancelled), 0)
            as revenue_reporting,
        -- No rate for the order's currency and date (an order without a total, held for it,
        -- is left out of revenue too, but a rate would not help it).
        count(*) filter (
            where not orders.is_cancelled and orders.fx_rate is null
        ) as unconverted_orders,
        count(*) filter (where order_kpis.has_hold) as held_orders
    from {{ ref('fct_orders') }} as orders
    inner join order_kpis on orders.order_key = order_kpis.order_key
    group by orders.order_date, orders.channel
),

-- By the date of the order's first allocation attempt.
attempted as (
    select
        first_attempt_date as date_day,
        channel,
        count(*) as allocation_attempted_orders,
        sum(units_to_ship) as fill_units_ordered,
        sum(least(units_allocated_first_attempt, units_to_ship)) as fill_units_allocated,
        count(*) filter (where is_backordered_at_first_attempt) as backordered_orders
    from order_kpis
    where is_allocation_attempted
    group by first_attempt_date, channel
),

-- By the day the on-time ship outcome was settled.
ship_due as (
    select
        ship_settled_date as date_day,
        channel,
        count(*) as ship_due_orders,
        count(*) filter (where is_shipped_on_time) as shipped_on_time_orders
    from order_kpis
    where is_ship_judged
    group by ship_settled_date, channel
),

-- By the promised delivery date.
delivery_due as (
    select
        promised_delivery_date as date_day,
        channel,
        count(*) as delivery_due_orders,
        count(*) filter (where is_delivered_on_time) as delivered_on_time_orders,
        count(*) filter (where is_otif) as otif_orders,
        count(*) filter (where is_perfect_order) as perfect_orders
    from order_kpis
    where is_delivery_judged
    group by promised_delivery_date, channel
),

-- By the UTC date the order's first shipment left.
shipped as (
    select
        first_shipped_date as date_day,
        channel,
        count(*) as shipped_orders,
        count(*) filter (where is_split_shipment) as split_shipment_orders,
        sum(shipping_cost_usd) as shipping_cost_usd,
        sum(billable_weight_g) / 1000.0 as shipped_billable_kg,
        count(hours_released_to_shipped) as released_to_shipped_orders,
        round(median(hours_released_to_shipped), 2) as released_to_shipped_hours_p50,
        round(quantile_cont(hours_released_to_shipped, 0.9), 2) as released_to_shipped_hours_p90
    from order_kpis
    where first_shipped_at is not null and not is_cancelled
    group by first_shipped_date, channel
),

-- By the UTC date the order was first released to a wave.
released as (
    select
        first_released_date as date_day,
        channel,
        count(hours_received_to_released) as received_to_released_orders,
        round(median(hours_received_to_released), 2) as received_to_released_hours_p50,
        round(quantile_cont(hours_received_to_released, 0.9), 2) as received_to_released_hours_p90
    from order_kpis
    where first_released_at is not null and not is_cancelled
    group by first_released_date, channel
),

-- By the UTC date the order's last unit was delivered.
delivered as (
    select
        delivered_date as date_day,
        channel,
        count(*) as delivered_orders,
        round(median(hours_shipped_to_delivered), 2) as shipped_to_delivered_hours_p50,
        round(quantile_cont(hours_shipped_to_delivered, 0.9), 2) as shipped_to_delivered_hours_p90,
        round(median(hours_received_to_delivered), 2) as received_to_delivered_hours_p50,
        round(quantile_cont(hours_received_to_delivered, 0.9), 2) as received_to_delivered_hours_p90
    from order_kpis
    where delivered_in_full_at is not null and not is_cancelled
    group by delivered_date, channel
),

-- By the UTC date the refund was issued.
refunded as (
    select
        issued_date as date_day,
        channel,
        count(*) as refunds,
        sum(amount_reporting) as refunded_reporting,
        count(*) filter (where amount_reporting is null) as unconverted_refunds
    from {{ ref('fct_refunds') }}
    group by issued_date, channel
),

-- By the UTC date a backorder line was filled.
backorders_filled as (
    select
        cast(resolved_at as date) as date_day,
        channel,
        count(*) as backorder_lines_filled,
        sum(age_days) as backorder_days_to_fill
    from {{ ref('fct_backorders') }}
    where status = 'filled'
    group by cast(resolved_at as date), channel
),

joined as (
    select
        spine.date_day,
        spine.channel,
        '{{ var("reporting_currency") | upper }}' as reporting_currency,
        coalesce(placed.orders, 0) as orders,
        coalesce(placed.cancelled_orders, 0) as cancelled_orders,
        coalesce(placed.units, 0) as units,
        coalesce(placed.revenue_reporting, 0) as revenue_reporting,
        coalesce(placed.unconverted_orders, 0) as unconverted_orders,
        coalesce(placed.held_orders, 0) as held_orders,
        coalesce(attempted.allocation_attempted_orders, 0) as allocation_attempted_orders,
        coalesce(attempted.fill_units_ordered, 0) as fill_units_ordered,
        coalesce(attempted.fill_units_allocated, 0) as fill_units_allocated,
        coalesce(attempted.backordered_orders, 0) as backordered_orders,
        coalesce(backorders_filled.backorder_lines_filled, 0) as backorder_lines_filled,
        coalesce(backorders_filled.backorder_days_to_fill, 0) as backorder_days_to_fill,
        coalesce(ship_due.ship_due_orders, 0) as ship_due_orders,
        coalesce(ship_due.shipped_on_time_orders, 0) as shipped_on_time_orders,
        coalesce(delivery_due.delivery_due_orders, 0) as delivery_due_orders,
        coalesce(delivery_due.delivered_on_time_orders, 0) as delivered_on_time_orders,
        coalesce(delivery_due.otif_orders, 0) as otif_orders,
        coalesce(delivery_due.perfect_orders, 0) as perfect_orders,
        coalesce(shipped.shipped_orders, 0) as shipped_orders,
        coalesce(shipped.split_shipment_orders, 0) as split_shipment_orders,
        coalesce(shipped.shipping_cost_usd, 0) as shipping_cost_usd,
        coalesce(shipped.shipped_billable_kg, 0) as shipped_billable_kg,
        coalesce(released.received_to_released_orders, 0) as received_to_released_orders,
        released.received_to_released_hours_p50,
        released.received_to_released_hours_p90,
        coalesce(shipped.released_to_shipped_orders, 0) as released_to_shipped_orders,
        shipped.released_to_shipped_hours_p50,
        shipped.released_to_shipped_hours_p90,
        coalesce(delivered.delivered_orders, 0) as delivered_orders,
        delivered.shipped_to_delivered_hours_p50,
        delivered.shipped_to_delivered_hours_p90,
        delivered.received_to_delivered_hours_p50,
        delivered.received_to_delivered_hours_p90,
        coalesce(refunded.refunds, 0) as refunds,
        coalesce(refunded.refunded_reporting, 0) as refunded_reporting,
        coalesce(refunded.unconverted_refunds, 0) as unconverted_refunds
    from spine
    left join placed
        on spine.date_day = placed.date_day and spine.channel = placed.channel
    left join attempted
        on spine.date_day = attempted.date_day and spine.channel = attempted.channel
    left join ship_due
        on spine.date_day = ship_due.date_day and spine.channel = ship_due.channel
    left join delivery_due
        on spine.date_day = delivery_due.date_day and spine.channel = delivery_due.channel
    left join shipped
        on spine.date_day = shipped.date_day and spine.channel = shipped.channel
    left join released
        on spine.date_day = released.date_day and spine.channel = released.channel
    left join delivered
        on spine.date_day = delivered.date_day and spine.channel = delivered.channel
    left join refunded
        on spine.date_day = refunded.date_day and spine.channel = refunded.channel
    left join backorders_filled
        on
            spine.date_day = backorders_filled.date_day
            and spine.channel = backorders_filled.channel
)

select
    *,
    fill_units_allocated / nullif(fill_units_ordered, 0) as fill_rate,
    backordered_orders / nullif(allocation_attempted_orders, 0) as backorder_rate,
    backorder_days_to_fill / nullif(backorder_lines_filled, 0) as backorder_avg_days_to_fill,
    shipped_on_time_orders / nullif(ship_due_orders, 0) as on_time_ship_rate,
    delivered_on_time_orders / nullif(delivery_due_orders, 0) as on_time_delivery_rate,
    otif_orders / nullif(delivery_due_orders, 0) as otif_rate,
    perfect_orders / nullif(delivery_due_orders, 0) as perfect_order_rate,
    split_shipment_orders / nullif(shipped_orders, 0) as split_shipment_rate,
    shipping_cost_usd / nullif(shipped_orders, 0) as shipping_cost_usd_per_order,
    shipping_cost_usd / nullif(shipped_billable_kg, 0) as shipping_cost_usd_per_kg,
    held_orders / nullif(orders, 0) as hold_rate
from joined
