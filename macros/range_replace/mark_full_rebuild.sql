{% macro mark_full_rebuild() -%}
    {#- pre-hook of the range_replace marts: is this build a full one (first build or
        --full-refresh)? is_incremental() is only right before the build; the post-hook
        below writes the log row at the end, close to the commit. -#}
    select set_config('coffee.full_rebuild', '{{ "off" if is_incremental() else "on" }}', true)
{%- endmacro %}
