with shipments as (
    select * from {{ ref('stg_oms__shipments') }}
),

-- Rates, weights and carriers of each shipment's live (not cancelled) parcels.
parcels as (
    select
        shipment_id,
        count(*) as live_parcels,
        count(tracking_number) as labelled_parcels,
        sum(billable_weight_g) as billable_weight_g,
        sum(rate) as shipping_cost,
        string_agg(distinct carrier, ', ' order by carrier) as carriers
    from {{ ref('stg_oms__parcels') }}
    where not is_cancelled
    group by shipment_id
)

select
    shipments.shipment_id,
    shipments.order_key,
    shipments.warehouse_id,
    shipments.wave_id,
    shipments.tote,
    shipments.status,
    shipments.lines,
    shipments.units,
    shipments.parcels,
    shipments.weight_g,
    parcels.billable_weight_g,
    parcels.carriers,
    shipments.released_at,
    shipments.cancelled_at,
    shipments.shipped_at,
    shipments.delivered_at,
    shipments.promised_delivery_date,
    shipments.delayed_at,
    shipments.is_delayed,
    coalesce(parcels.live_parcels, 0) as live_parcels,
    coalesce(parcels.labelled_parcels, 0) as labelled_parcels,
    coalesce(parcels.shipping_cost, 0) as shipping_cost,
    shipments.status = 'cancelled' as is_cancelled,
    shipments.shipped_at is not null as is_shipped,
    shipments.delivered_at is not null as is_delivered
from shipments
left join parcels on shipments.shipment_id = parcels.shipment_id
