{{ config(meta={'dagster': {'ref': {'name': 'kpi_daily'}}}) }}

-- Every KPI numerator counts a subset of its denominator, so no rate exceeds 1.
select
    date_day,
    channel
from {{ ref('kpi_daily') }}
where
    cancelled_orders > orders
    or held_orders > orders
    or fill_units_allocated > fill_units_ordered
    or backordered_orders > allocation_attempted_orders
    or shipped_on_time_orders > ship_due_orders
    or delivered_on_time_orders > delivery_due_orders
    or otif_orders > delivered_on_time_orders
    or perfect_orders > otif_orders
    or split_shipment_orders > shipped_orders
