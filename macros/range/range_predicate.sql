{% macro range_predicate(r, day_column="day", roaster_column="roaster_id") -%}
    {#- The rows of a range r (range_vars() or replaced_range()) as a predicate: days,
        roasters if listed, (roaster, day) pairs if listed; false when r.start is none.
        All literals, so PostgreSQL pushes it down to the day filter before any body is
        opened; a subquery here would stop at the views. -#}
    {%- if r.start is none -%}
        false
    {%- else -%}
        ({{ day_column }} between date '{{ r.start }}' and date '{{ r.end }}'
        {%- if r.roasters is not none %}
        and {{ roaster_column }} in ('{{ r.roasters | join("', '") }}')
        {%- endif %}
        {%- if r.get("listed") is not none %}
        and ({{ roaster_column }}, {{ day_column }}) in (
            {%- for key in r.listed %}('{{ key[0] }}', date '{{ key[1] }}'){{ ", " if not loop.last }}{% endfor -%}
        )
        {%- endif -%})
    {%- endif -%}
{%- endmacro %}
