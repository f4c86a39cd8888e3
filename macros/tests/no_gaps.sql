{#- Fails on every open gap of the range (coverage_daily.is_open_gap: not complete, not
    acknowledged as unrecoverable). Warns by default; errors with strict_gaps: true. -#}
{% test no_gaps(model, day_column="day", open_gap_column="is_open_gap") %}
{{ config(severity=("error" if var("strict_gaps", false) in (true, "true", "True", 1) else "warn")) }}
{%- set r = range_vars() %}
select *
from {{ model }}
where
    {{ open_gap_column }}
    {%- if r.start is not none %}
    and {{ day_column }} between date '{{ r.start }}' and date '{{ r.end }}'
    {%- endif %}
    {%- if r.roasters is not none %}
    and roaster_id in ('{{ r.roasters | join("', '") }}')
    {%- endif %}
{% endtest %}
