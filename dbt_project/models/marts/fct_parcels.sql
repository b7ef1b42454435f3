with parcels as (
    select * from {{ ref('stg_oms__parcels') }}
),

shipments as (
    select * from {{ ref('stg_oms__shipments') }}
),

-- Business days (Mon-Fri) over the dates parcels travel: business_day_index counts the
-- weekdays up to and including each date, so the difference of two indexes is the number of
-- business days after the first date up to and including the second.
calendar as (
    select
        cast(calendar_days.calendar_day as date) as calendar_date,
        count(*) filter (where isodow(calendar_days.calendar_day) < 6)
            over (order by calendar_days.calendar_day)
            as business_day_index
    from range(
        (select min(ship_date) from parcels),
        (select max(cast(delivered_at as date)) from parcels) + 1,
        interval 1 day
    ) as calendar_days (calendar_day)
),

joined as (
    select
        parcels.parcel_id,
        parcels.shipment_id,
        parcels.parcel_no,
        shipments.order_key,
        shipments.warehouse_id,
        shipments.wave_id,
        parcels.carrier,
        parcels.service,
        parcels.service_code,
        parcels.zone,
        parcels.units,
        parcels.weight_g,
        parcels.billable_weight_g,
        parcels.rate,
        parcels.transit_days,
        parcels.promised_days,
        parcels.meets_sla,
        parcels.rating_reason,
        parcels.rating_warning,
        parcels.tracking_number,
        parcels.labelled_at,
        parcels.voided_at,
        parcels.manifest_id,
        parcels.ship_date,
        parcels.shipped_at,
        parcels.delivered_at,
        parcels.status,
        parcels.status_at,
        parcels.status_detail,
        parcels.promised_delivery_date,
        parcels.is_cancelled,
        cast(parcels.delivered_at as date) as delivered_date,
        parcels.tracking_number is not null
        and parcels.voided_at is null as is_labelled,
        parcels.shipped_at is not null as is_shipped,
        parcels.delivered_at is not null as is_delivered
    from parcels
    left join shipments on parcels.shipment_id = shipments.shipment_id
)

select
    joined.*,
    delivered_day.business_day_index - shipped_day.business_day_index as days_in_transit,
    case
        when joined.delivered_at is not null and joined.promised_delivery_date is not null
            then joined.delivered_date <= joined.promised_delivery_date
    end as delivered_on_time
from joined
left join calendar as shipped_day on joined.ship_date = shipped_day.calendar_date
left join calendar as delivered_day
    on
        joined.delivered_date = delivered_day.calendar_date
        and joined.delivered_at is not null
