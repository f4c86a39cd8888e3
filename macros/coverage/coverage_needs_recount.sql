{% macro coverage_needs_recount(since) -%}
    {#- A full build of a mart since then replaced every day: recount everything with
        hash joins rather than look up a million days one by one. -#}
    {%- set query -%}
        select exists (
            select from {{ source("control", "mart_rebuilds") }}
            where rebuilt_at > {{ since }} and kind = 'full'
        )
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{%- endmacro %}
