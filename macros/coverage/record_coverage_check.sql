{% macro record_coverage_check() -%}
    {#- post-hook, inside the model's transaction: now() is the moment the build began -#}
    {%- set r = range_vars() -%}
    insert into {{ source("control", "coverage_checks") }} (checked_at, start_day, end_day, code_version)
    values (
        now(),
        {{ "date '" ~ r.start ~ "'" if r.start is not none else "null" }},
        {{ "date '" ~ r.end ~ "'" if r.end is not none else "null" }},
        '{{ code_version() }}'
    )
{%- endmacro %}
