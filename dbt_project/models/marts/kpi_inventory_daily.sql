{#-
    Stock KPIs per day and warehouse from fct_inventory_daily: stockout days and what
    inventory turns need (units shipped, units on hand). Definitions in _kpis.yml.
-#}
select
    snapshot_date as date_day,
    warehouse_id,
    count(*) as positions,
    count(*) filter (where is_stocked_out) as stocked_out_positions,
    sum(shipped_units) as units_shipped,
    sum(on_hand) as on_hand_units,
    count(*) filter (where is_stocked_out) / count(*) as stockout_rate
from {{ ref('fct_inventory_daily') }}
group by snapshot_date, warehouse_id
