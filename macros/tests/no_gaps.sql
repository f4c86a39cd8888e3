{#- Fails on every (roaster, day) of the range that is not complete and has not been
    acknowledged as unrecoverable. Warns by default; errors with strict_gaps: true. -#}
{% test no_gaps(model, day_column="day", status_column="status", acknowledged_column="acknowledged") %}
{{ config(severity=("error" if var("strict_gaps", false) in (true, "true", "True", 1) else "warn")) }}
{%- set r = range_vars() %}
select *
from {{ model }}
where
    {{ status_column }} <> 'complete'
    and not {{ acknowledged_column }}
    {%- if r.start is not none %}
    and {{ day_column }} between date '{{ r.start }}' and date '{{ r.end }}'
    {%- endif %}
    {%- if r.roasters is not none %}
    and roaster_id in ('{{ r.roasters | join("', '") }}')
    {%- endif %}
{% endtest %}
