{#-
    End-of-day stock per (snapshot_date, warehouse_id, sku), rolled up from the movements
    ledger by the UTC date of each movement's `at` (when the stock moved, not when the batch
    booked it). Bounded: only pairs that ever moved, each from the day of its first movement to
    the latest movement day in the whole ledger; days without a movement carry the previous
    end of day forward. on_hand and committed_units are running sums of the deltas, so the last
    day equals the positions (fct_inventory_positions). ATP uses today's safety stock (the
    ledger has no history of the stock policy).
-#}
with movements as (
    select
        warehouse_id,
        sku,
        cast(moved_at as date) as movement_date,
        on_hand_delta,
        committed_delta,
        reason,
        is_count
    from {{ ref('stg_oms__inventory_movements') }}
),

daily as (
    select
        warehouse_id,
        sku,
        movement_date,
        count(*) as movements,
        sum(on_hand_delta) as on_hand_change,
        sum(committed_delta) as committed_change,
        coalesce(sum(on_hand_delta) filter (where reason = 'receipt'), 0) as received_units,
        coalesce(-sum(on_hand_delta) filter (where reason = 'ship'), 0) as shipped_units,
        bool_or(is_count) as is_counted
    from movements
    group by warehouse_id, sku, movement_date
),

pairs as (
    select
        warehouse_id,
        sku,
        min(movement_date) as first_movement_date
    from daily
    group by warehouse_id, sku
),

calendar as (
    select cast(calendar_days.calendar_day as date) as snapshot_date
    from range(
        (select min(movement_date) from daily),
        (select max(movement_date) from daily) + 1,
        interval 1 day
    ) as calendar_days (calendar_day)
),

spine as (
    select
        pairs.warehouse_id,
        pairs.sku,
        calendar.snapshot_date
    from pairs
    inner join calendar on pairs.first_movement_date <= calendar.snapshot_date
),

rolled as (
    select
        spine.snapshot_date,
        spine.warehouse_id,
        spine.sku,
        coalesce(daily.movements, 0) as movements,
        coalesce(daily.on_hand_change, 0) as on_hand_change,
        coalesce(daily.committed_change, 0) as committed_change,
        coalesce(daily.received_units, 0) as received_units,
        coalesce(daily.shipped_units, 0) as shipped_units,
        coalesce(daily.is_counted, false) as is_counted,
        sum(coalesce(daily.on_hand_change, 0)) over pair_to_date as on_hand,
        sum(coalesce(daily.committed_change, 0)) over pair_to_date as committed_units
    from spine
    left join daily
        on
            spine.warehouse_id = daily.warehouse_id
            and spine.sku = daily.sku
            and spine.snapshot_date = daily.movement_date
    window pair_to_date as (
        partition by spine.warehouse_id, spine.sku
        order by spine.snapshot_date
        rows between unbounded preceding and current row
    )
),

with_atp as (
    select
        rolled.*,
        positions.safety_stock,
        greatest(
            rolled.on_hand - rolled.committed_units - coalesce(positions.safety_stock, 0), 0
        ) as atp
    from rolled
    left join {{ ref('stg_oms__inventory_positions') }} as positions
        on
            rolled.warehouse_id = positions.warehouse_id
            and rolled.sku = positions.sku
),

-- Runs of stocked-out days: every in-stock day starts a new group, so within a group the
-- stocked-out days follow it (or open the history when the pair starts stocked out).
flagged as (
    select
        *,
        atp = 0 as is_stocked_out,
        count(*) filter (where atp > 0) over (
            partition by warehouse_id, sku
            order by snapshot_date
            rows between unbounded preceding and current row
        ) as in_stock_days_to_date
    from with_atp
)

select
    snapshot_date,
    warehouse_id,
    sku,
    movements,
    on_hand_change,
    committed_change,
    received_units,
    shipped_units,
    is_counted,
    on_hand,
    committed_units,
    safety_stock,
    atp,
    is_stocked_out,
    case
        when is_stocked_out
            then
                row_number()
                    over (
                        partition by warehouse_id, sku, in_stock_days_to_date
                        order by snapshot_date
                    )
                - case when in_stock_days_to_date > 0 then 1 else 0 end
        else 0
    end as consecutive_days_stocked_out
from flagged
