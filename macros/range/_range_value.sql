{#- Date-range rebuilds.

    dbt build --vars '{start_date: "2024-01-01", end_date: "2024-01-31", roasters: [a, b]}'
    rebuilds every derived row whose day (in its roaster's timezone) is in the range.
    The vars are checked once, in on-run-start, before any model runs, and again where
    a model uses them; anything that is not a plain date or slug stops dbt with a
    compilation error, so no value ever reaches SQL unchecked.

    The runner passes the same three values as JSON in the environment variable
    COFFEE_DBT_RANGE instead: dbt throws away its partial parse whenever --vars change,
    which costs a full re-parse (2-3 s) per range. --vars win when both are given. -#}

{% macro _range_value(name) -%}
    {#- Read the environment only at execution: an env_var() seen while parsing would be
        recorded, and a new value would force the re-parse this channel exists to avoid.
        Nothing at parse time depends on the range (coverage_daily declares its extra
        ref with depends_on), so parsing without it is safe. -#}
    {%- set value = var(name, none) -%}
    {%- if value is none and execute -%}
        {%- set doc = fromjson(env_var("COFFEE_DBT_RANGE", "{}")) -%}
        {%- if doc is not mapping -%}
            {{ exceptions.raise_compiler_error("COFFEE_DBT_RANGE must be a JSON object") }}
        {%- endif -%}
        {%- set value = doc.get(name) -%}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}
