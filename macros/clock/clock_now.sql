{#- The current moment as SQL: now(), or the moment $COFFEE_NOW names (runner/clock.py
    is the other reader of that variable). Read at execution only, like COFFEE_DBT_RANGE,
    so a new value never costs dbt a re-parse. The value is checked before it reaches SQL. -#}
{% macro clock_now() -%}
    {%- set value = env_var("COFFEE_NOW", "") if execute else "" -%}
    {%- if value == "" -%}
        now()
    {%- elif modules.re.match("^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([+-][0-9]{2}:?[0-9]{2}|Z)$", value) -%}
        timestamptz '{{ value }}'
    {%- else -%}
        {{ exceptions.raise_compiler_error("COFFEE_NOW must be an ISO 8601 timestamp with an offset (got " ~ (value | tojson) ~ ")") }}
    {%- endif -%}
{%- endmacro %}
