{% macro validate_range_vars() -%}
    {#- on-run-start: fail before any model runs. Unknown roasters need the database. -#}
    {%- set r = range_vars() -%}
    {%- if execute and r.roasters is not none -%}
        {%- set known = run_query("select id from " ~ source("raw", "roasters")).columns[0].values() -%}
        {%- for id in r.roasters if id not in known -%}
            {{ exceptions.raise_compiler_error("var roasters: unknown roaster " ~ (id | tojson)) }}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
