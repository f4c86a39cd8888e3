{% macro captured_window(column="captured_at", r=none) -%}
    {#- A cheap index-friendly pre-filter on a range r (default: the vars' range): any
        timezone's day lies within a day of UTC's. No range: no filter. -#}
    {%- set r = range_vars() if r is none else r -%}
    {%- if r.start is not none -%}
        {{ column }} >= date '{{ r.start }}' - interval '1 day'
        and {{ column }} < date '{{ r.end }}' + interval '2 days'
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
