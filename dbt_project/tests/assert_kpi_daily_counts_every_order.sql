{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'kpi_daily'}}}) }}

-- The day x channel spine (dim_dates x dim_channels) loses no order: kpi_daily's orders,
-- units and the denominators of fill, on-time ship and delivery KPIs add up to the orders.
-- A warning: a KPI date outside dim_dates' range would drop orders, never stop the batch.
with mart as (
    select
        sum(orders) as orders,
        sum(units) as units,
        sum(allocation_attempted_orders) as attempted,
        sum(ship_due_orders) as ship_due,
        sum(delivery_due_orders) as delivery_due
    from {{ ref('kpi_daily') }}
),

order_kpis as (
    select
        count(*) filter (where is_allocation_attempted) as attempted,
        count(*) filter (where is_ship_judged) as ship_due,
        count(*) filter (where is_delivery_judged) as delivery_due
    from {{ ref('fct_order_kpis') }}
),

orders as (
    select
        count(*) as orders,
        coalesce(sum(units), 0) as units
    from {{ ref('fct_orders') }}
)

select
    mart.orders as mart_orders,
    orders.orders as source_orders,
    mart.units as mart_units,
    orders.units as source_units,
    mart.attempted as mart_attempted,
    order_kpis.attempted as source_attempted,
    mart.ship_due as mart_ship_due,
    order_kpis.ship_due as source_ship_due,
    mart.delivery_due as mart_delivery_due,
    order_kpis.delivery_due as source_delivery_due
from mart
cross join order_kpis
cross join orders
where
    mart.orders != orders.orders
    or mart.units != orders.units
    or mart.attempted != order_kpis.attempted
    or mart.ship_due != order_kpis.ship_due
    or mart.delivery_due != order_kpis.delivery_due
