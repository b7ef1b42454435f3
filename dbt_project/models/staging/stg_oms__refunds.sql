with source as (
    select * from {{ source('oms', 'refunds') }}
)

select
    refund_id,
    order_key,
    rma_number,
    method,
    payment_method,
    currency,
    amount,
    merchandise,
    discount_share,
    tax_share,
    shipping,
    restocking_fee,
    cap_adjustment,
    units,
    explanation,
    issued_at,
    export_file,
    exported_at,
    run_id
from source
