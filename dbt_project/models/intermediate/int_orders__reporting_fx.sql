{#-
    One row per order: the rate that converts its amounts from the order currency into the
    reporting currency (var reporting_currency), at the order date (UTC).

    Rates come from data/reference/fx_rates.csv as USD per unit of a currency (USD is 1 by
    definition, listed or not). For each side the rate used is the latest one on or before the
    order date (the nearest earlier rate, so weekends and holidays take Friday's rate);
    fx_rate = order currency's rate / reporting currency's rate. An order in the reporting
    currency converts at 1 without any rate. When either side has no rate on or before the order
    date (an unknown currency, or a date before its first rate) fx_rate is null, and so are the
    converted amounts (the warn test assert_order_amounts_convert_to_reporting_currency lists
    those orders).
-#}
{%- set reporting_currency = var('reporting_currency') | upper -%}

with orders as (
    select
        order_key,
        order_date,
        upper(trim(currency)) as currency
    from {{ ref('stg_oms__orders') }}
),

rates as (
    select * from {{ ref('stg_reference__fx_rates') }}
),

reporting_rates as (
    select * from rates
    where currency = '{{ reporting_currency }}'
),

-- The order currency in USD: the latest rate on or before the order date.
currency_rates as (
    select
        orders.order_key,
        orders.currency,
        orders.order_date,
        rates.rate_date as currency_rate_date,
        case
            when orders.currency = 'USD' then 1
            else rates.rate_to_usd
        end as currency_rate_to_usd
    from orders
    asof left join rates
        on
            orders.currency = rates.currency
            and orders.order_date >= rates.rate_date
),

-- The reporting currency in USD on the same date, the same way.
both_rates as (
    select
        currency_rates.*,
        reporting_rates.rate_date as reporting_rate_date,
        case
            when '{{ reporting_currency }}' = 'USD' then 1
            else reporting_rates.rate_to_usd
        end as reporting_rate_to_usd
    from currency_rates
    asof left join reporting_rates
        on currency_rates.order_date >= reporting_rates.rate_date
)

select
    order_key,
    currency,
    order_date,
    '{{ reporting_currency }}' as reporting_currency,
    case
        when currency = '{{ reporting_currency }}' then cast(1 as decimal(20, 10))
        when reporting_rate_to_usd > 0
            then cast(
                cast(currency_rate_to_usd as double) / cast(reporting_rate_to_usd as double)
                as decimal(20, 10)
            )
    end as fx_rate,
    case
        when currency != '{{ reporting_currency }}' and currency != 'USD'
            then currency_rate_date
    end as currency_rate_date,
    case
        when currency != '{{ reporting_currency }}' and '{{ reporting_currency }}' != 'USD'
            then reporting_rate_date
    end as reporting_rate_date
from both_rates
