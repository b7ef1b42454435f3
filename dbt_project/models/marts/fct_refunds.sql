with refunds as (
    select * from {{ ref('stg_oms__refunds') }}
),

orders as (
    select * from {{ ref('stg_oms__orders') }}
)

select
    refunds.refund_id,
    refunds.order_key,
    refunds.rma_number,
    orders.channel,
    orders.order_date,
    refunds.method,
    refunds.payment_method,
    refunds.currency,
    refunds.units,
    refunds.merchandise,
    refunds.discount_share,
    refunds.tax_share,
    refunds.shipping,
    refunds.restocking_fee,
    refunds.cap_adjustment,
    refunds.amount,
    refunds.issued_at,
    cast(refunds.issued_at as date) as issued_date,
    refunds.export_file,
    refunds.method = 'store_credit' as is_store_credit,
    -- The refund in the reporting currency, at the order date's rate like the order itself.
    fx.reporting_currency,
    fx.fx_rate,
    {{ to_reporting_currency('refunds.amount', 'fx.fx_rate') }} as amount_reporting
from refunds
left join orders on refunds.order_key = orders.order_key
left join {{ ref('int_orders__reporting_fx') }} as fx on refunds.order_key = fx.order_key
