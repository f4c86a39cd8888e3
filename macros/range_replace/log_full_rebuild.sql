{% macro log_full_rebuild() -%}
    {#- post-hook: a full build replaced every (roaster, day) -#}
    insert into {{ source("control", "mart_rebuilds") }} (model, kind)
    select '{{ this.identifier }}', 'full'
    where current_setting('coffee.full_rebuild', true) = 'on'
{%- endmacro %}
