with source as (
    select * from {{ source('oms', 'inventory_movements') }}
),

renamed as (
    select
        movement_id,
        -- Quoted: unquoted, DuckDB parses AT as a keyword (AT TIME ZONE).
        "at" as moved_at,  -- noqa: RF06
        warehouse_id,
        sku,
        on_hand_delta,
        committed_delta,
        reason,
        reference,
        note,
        recorded_at,
        source_file,
        source_row,
        run_id,
        reason in ('snapshot', 'count') as is_count
    from source
)

select * from renamed
