{#-
    One row per order with the customer it belongs to. Channels give no customer id we can
    trust across channels, so the platform recognises a customer by the normalised email,
    else phone, else name and postal code, and stores only a keyed hash of it (customer_key,
    HMAC-SHA256 with OMS_PII_KEY; pipelines/lib/privacy.py): the marts never see the
    personal fields themselves. Null when the order gives none of the three, or after the
    customer was erased.
-#}
select
    order_key,
    identified_by,
    customer_key
from {{ ref('stg_oms__orders') }}
