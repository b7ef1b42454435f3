{#-
    One row per calendar day from the earliest to the latest date in the data: orders, order
    events, inventory movements, shipments (shipped, delivered, promised), backorder promises,
    returns and refunds. Dates are UTC dates, as every mart's *_date column.
-#}
with data_dates as (
    select
        min(order_date) as first_date,
        max(order_date) as last_date
    from {{ ref('stg_oms__orders') }}
    union all
    select
        min(event_date) as first_date,
        max(event_date) as last_date
    from {{ ref('stg_oms__order_events') }}
    union all
    select
        min(cast(moved_at as date)) as first_date,
        max(cast(moved_at as date)) as last_date
    from {{ ref('stg_oms__inventory_movements') }}
    union all
    select
        min(cast(shipped_at as date)) as first_date,
        greatest(
            max(cast(shipped_at as date)),
            max(cast(delivered_at as date)),
            max(promised_delivery_date)
        ) as last_date
    from {{ ref('stg_oms__shipments') }}
    union all
    select
        min(promised_date) as first_date,
        max(promised_date) as last_date
    from {{ ref('stg_oms__backorders') }}
    union all
    select
        min(cast(requested_at as date)) as first_date,
        max(cast(requested_at as date)) as last_date
    from {{ ref('stg_oms__returns') }}
    union all
    select
        min(cast(issued_at as date)) as first_date,
        max(cast(issued_at as date)) as last_date
    from {{ ref('stg_oms__refunds') }}
),

calendar as (
    select cast(calendar_days.calendar_day as date) as date_day
    from range(
        (select min(first_date) from data_dates),
        (select max(last_date) from data_dates) + 1,
        interval 1 day
    ) as calendar_days (calendar_day)
)

select
    date_day,
    cast(date_trunc('month', date_day) as date) as month_start,
    cast(date_trunc('quarter', date_day) as date) as quarter_start,
    cast(date_trunc('year', date_day) as date) as year_start,
    cast(date_trunc('week', date_day) as date) as week_start,
    year(date_day) as year_number,
    quarter(date_day) as quarter_number,
    month(date_day) as month_number,
    monthname(date_day) as month_name,
    day(date_day) as day_of_month,
    dayofyear(date_day) as day_of_year,
    isodow(date_day) as iso_day_of_week,
    dayname(date_day) as day_name,
    isoyear(date_day) as iso_year,
    week(date_day) as iso_week,
    isoyear(date_day) || '-W' || lpad(cast(week(date_day) as varchar), 2, '0') as iso_year_week,
    isodow(date_day) < 6 as is_weekday,
    isodow(date_day) >= 6 as is_weekend
from calendar
