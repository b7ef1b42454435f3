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
    refunds.method = 'store_credit' as is_store_credit
from refunds
left join orders on refunds.order_key = orders.order_key
