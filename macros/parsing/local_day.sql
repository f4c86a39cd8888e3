{% macro local_day(ts_expr, tz_expr) -%}
    ({{ ts_expr }} at time zone {{ tz_expr }})::date
{%- endmacro %}
