{#-
    An amount in its order currency converted with a rate (reporting-currency units per unit of
    the order currency, e.g. int_orders__reporting_fx.fx_rate): exact decimal product, rounded
    half away from zero to the cent. Null when the rate is null (no rate known).
    The rate is widened to DECIMAL(20,10) so the product is DECIMAL(38,12) and cannot overflow.
-#}
{% macro to_reporting_currency(amount, fx_rate) -%}
    cast(round(cast({{ amount }} as decimal(18, 2)) * cast({{ fx_rate }} as decimal(20, 10)), 2)
        as decimal(18, 2))
{%- endmacro %}
