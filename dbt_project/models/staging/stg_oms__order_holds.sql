with source as (
    select * from {{ source('oms', 'order_holds') }}
),

renamed as (
    select
        hold_id,
        order_key,
        rule,
        reason,
        severity,
        detail,
        opened_at,
        resolved_at,
        resolution,
        resolved_by,
        resolved_at is null as is_open,
        date_diff('second', opened_at, resolved_at) / 3600.0 as hours_to_resolve
    from source
)

select * from renamed
