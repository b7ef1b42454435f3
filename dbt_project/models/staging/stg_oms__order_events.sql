with source as (
    select * from {{ source('oms', 'order_events') }}
),

renamed as (
    select
        event_id,
        order_key,
        event,
        -- Quoted: unquoted, DuckDB parses AT as a keyword (AT TIME ZONE).
        "at" as occurred_at,  -- noqa: RF06
        cast("at" as date) as event_date,  -- noqa: RF06
        detail,
        run_id
    from source
)

select * from renamed
