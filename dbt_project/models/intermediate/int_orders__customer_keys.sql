{#-
    One row per order with the customer it belongs to. Channels give no customer id we can
    trust across channels, so a customer is recognised by, in order of preference:
      1. email: trimmed and lower-cased (a syntactically plausible address with an @);
      2. else phone: digits only, with a leading 1 dropped from 11-digit numbers (the North
         American +1 country code, so "+1 555-123-4567" and "(555) 123-4567" match);
         at least 7 digits;
      3. else name + postal code: the buyer's (else the recipient's) name, lower-cased with
         whitespace collapsed, and the ship-to postal code upper-cased without spaces.
    customer_key is the md5 of "<method>:<normalised value>" (stable, no personal data in the
    key); null when the order gives none of the three.
    A table, not a view: the regular expressions run once per build rather than once per
    model and test that reads it.
-#}
{{ config(materialized='table') }}

with orders as (
    select * from {{ ref('stg_oms__orders') }}
),

normalised as (
    select
        order_key,
        case
            when lower(trim(email)) like '_%@_%' then lower(trim(email))
        end as email_norm,
        regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g') as phone_digits,
        nullif(
            lower(trim(regexp_replace(coalesce(customer_name, ship_name, ''), '\s+', ' ', 'g'))),
            ''
        ) as name_norm,
        nullif(upper(regexp_replace(coalesce(ship_postal_code, ''), '\s', '', 'g')), '')
            as postal_code_norm
    from orders
),

phones as (
    select
        *,
        case
            when length(phone_digits) = 11 and phone_digits like '1%' then phone_digits[2:]
            when length(phone_digits) >= 7 then phone_digits
        end as phone_norm
    from normalised
),

identified as (
    select
        order_key,
        case
            when email_norm is not null then 'email'
            when phone_norm is not null then 'phone'
            when name_norm is not null and postal_code_norm is not null then 'name_postal_code'
        end as identified_by,
        case
            when email_norm is not null then email_norm
            when phone_norm is not null then phone_norm
            when name_norm is not null and postal_code_norm is not null
                then name_norm || '|' || postal_code_norm
        end as identity_value
    from phones
)

select
    order_key,
    identified_by,
    case when identity_value is not null then md5(identified_by || ':' || identity_value) end
        as customer_key
from identified
