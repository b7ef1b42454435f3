{#-
    Returns by order date, channel and SKU: units shipped, units asked back and units that
    came back, by return reason. Definitions in _kpis.yml.
-#}
with lines as (
    select
        order_key,
        line_no,
        order_date,
        channel,
        sku,
        shipped_quantity,
        return_requested_quantity,
        returned_quantity
    from {{ ref('fct_order_lines') }}
),

-- Units received back per line and reason (return lines not rejected).
line_reasons as (
    select
        order_key,
        line_no,
        sum(received_quantity) filter (where reason = 'NOT_WANTED') as not_wanted,
        sum(received_quantity) filter (where reason = 'DEFECTIVE') as defective,
        sum(received_quantity) filter (where reason = 'WRONG_ITEM') as wrong_item,
        sum(received_quantity) filter (where reason = 'SIZE_EXCHANGE') as size_exchange,
        sum(received_quantity) filter (where reason = 'DAMAGED_IN_TRANSIT')
            as damaged_in_transit,
        sum(received_quantity) filter (
            where reason is null
            or reason not in (
                'NOT_WANTED', 'DEFECTIVE', 'WRONG_ITEM', 'SIZE_EXCHANGE', 'DAMAGED_IN_TRANSIT'
            )
        ) as other
    from {{ ref('fct_returns') }}
    where status != 'rejected'
    group by order_key, line_no
),

grouped as (
    select
        lines.order_date,
        lines.channel,
        lines.sku,
        sum(lines.shipped_quantity) as shipped_units,
        sum(lines.return_requested_quantity) as return_requested_units,
        sum(lines.returned_quantity) as returned_units,
        coalesce(sum(line_reasons.not_wanted), 0) as returned_units_not_wanted,
        coalesce(sum(line_reasons.defective), 0) as returned_units_defective,
        coalesce(sum(line_reasons.wrong_item), 0) as returned_units_wrong_item,
        coalesce(sum(line_reasons.size_exchange), 0) as returned_units_size_exchange,
        coalesce(sum(line_reasons.damaged_in_transit), 0)
            as returned_units_damaged_in_transit,
        coalesce(sum(line_reasons.other), 0) as returned_units_other
    from lines
    left join line_reasons
        on lines.order_key = line_reasons.order_key and lines.line_no = line_reasons.line_no
    group by lines.order_date, lines.channel, lines.sku
)

select
    *,
    returned_units / nullif(shipped_units, 0) as return_rate
from grouped
where shipped_units > 0 or return_requested_units > 0
