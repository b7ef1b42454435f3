{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'fct_inventory_daily'}}}) }}

-- The last day of fct_inventory_daily is the current position of every pair that moved (both
-- are sums of the same ledger; a difference means the positions were not rebuilt after the
-- ledger last changed). A warning: the daily history stays usable either way.
with last_day as (
    select *
    from {{ ref('fct_inventory_daily') }}
    where
        snapshot_date = (
            select max(all_days.snapshot_date)
            from {{ ref('fct_inventory_daily') }} as all_days
        )
)

select
    last_day.warehouse_id,
    last_day.sku,
    last_day.on_hand,
    positions.on_hand as position_on_hand,
    last_day.committed_units,
    positions.committed_units as position_committed_units
from last_day
left join {{ ref('fct_inventory_positions') }} as positions
    on
        last_day.warehouse_id = positions.warehouse_id
        and last_day.sku = positions.sku
where
    positions.sku is null
    or last_day.on_hand != positions.on_hand
    or last_day.committed_units != positions.committed_units
