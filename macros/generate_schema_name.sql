{#- Models land in their folder's schema as named (staging, marts, ops), not in
    "<target schema>_<name>": the runbook's search_path names these schemas. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ (custom_schema_name or target.schema) | trim }}
{%- endmacro %}
