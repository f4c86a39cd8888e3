{% macro log_full_rebuild() -%}
    {#- post-hook: a full build replaced every (roaster, day) -#}
    insert into {{ source("control", "mart_rebuilds") }} (model, kind, code_version, invocation_id)
    select '{{ this.identifier }}', 'full', '{{ code_version() }}', '{{ invocation_id }}'
    where current_setting('coffee.full_rebuild', true) = 'on'
{%- endmacro %}
