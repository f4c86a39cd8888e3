{% macro provenance_columns() -%}
    {#- The last columns of every mart row: the version of the code that derived it
        (code_version) and the dbt invocation that wrote it. -#}
    '{{ code_version() }}'::text as code_version,
    '{{ invocation_id }}'::text as invocation_id
{%- endmacro %}
