{#-
    One row per warehouse: data/reference/warehouses.csv (through stg_reference__warehouses)
    plus any warehouse id the stock ledger or positions mention that the file lacks (flagged
    is_in_reference = false), with how much stock each holds now.
-#}
with reference as (
    select * from {{ ref('stg_reference__warehouses') }}
),

positions as (
    select
        warehouse_id,
        count(*) filter (where on_hand != 0) as skus_on_hand,
        sum(on_hand) as units_on_hand,
        sum(committed_units) as units_committed
    from {{ ref('stg_oms__inventory_positions') }}
    group by warehouse_id
),

seen as (
    select warehouse_id from {{ ref('stg_oms__inventory_movements') }}
    union
    select warehouse_id from positions
),

warehouses as (
    select warehouse_id from reference
    union
    select warehouse_id from seen
    where warehouse_id is not null
)

select
    warehouses.warehouse_id,
    reference.warehouse_name,
    reference.address1,
    reference.city,
    reference.region,
    reference.postal_code,
    reference.country,
    reference.lat,
    reference.lon,
    reference.carrier_cutoff,
    reference.time_zone,
    reference.replenishment_lead_days,
    reference.warehouse_id is not null as is_in_reference,
    coalesce(positions.skus_on_hand, 0) as skus_on_hand,
    coalesce(positions.units_on_hand, 0) as units_on_hand,
    coalesce(positions.units_committed, 0) as units_committed
from warehouses
left join reference on warehouses.warehouse_id = reference.warehouse_id
left join positions on warehouses.warehouse_id = positions.warehouse_id
