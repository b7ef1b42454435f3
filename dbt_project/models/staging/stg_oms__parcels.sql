with source as (
    select * from {{ source('oms', 'parcels') }}
)

select
    parcel_id,
    shipment_id,
    parcel_no,
    box_id,
    ship_alone,
    units,
    items_weight_g,
    weight_g,
    length_mm,
    width_mm,
    height_mm,
    contents,
    status,
    run_id
from source
