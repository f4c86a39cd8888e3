{% macro vars_range_predicate(day_column="day", roaster_column="roaster_id") -%}
    {#- The vars' range (and roasters) as a predicate; only call it with a range. -#}
    {{ range_predicate(range_vars(), day_column, roaster_column) }}
{%- endmacro %}
