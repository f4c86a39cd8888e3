{% macro coverage_needs_recount(since) -%}
    {#- A full build of a mart since then replaced every day, or the code changed since
        the last check (any day may be stale; a roaster whose settings changed has its
        calendar recomputed by coverage_scope_changed): recount everything
        with hash joins rather than look up a million days one by one. -#}
    {%- set query -%}
        select exists (
            select from {{ source("control", "mart_rebuilds") }}
            where rebuilt_at > {{ since }} and kind = 'full'
        ) or (
            select code_version is distinct from '{{ code_version() }}'
            from {{ source("control", "coverage_checks") }}
            order by checked_at desc
            limit 1
        )
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{%- endmacro %}
