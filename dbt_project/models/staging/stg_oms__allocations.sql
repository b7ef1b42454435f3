with source as (
    select * from {{ source('oms', 'allocations') }}
),

renamed as (
    select
        allocation_id,
        order_key,
        line_no,
        sku,
        warehouse_id,
        quantity,
        rule as allocation_rule,
        status,
        allocated_at,
        run_id,
        ended_at,
        ended_reason,
        ended_run_id,
        status in ('committed', 'released') as is_committed
    from source
)

select * from renamed
