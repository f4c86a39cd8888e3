{% macro replaced_range() -%}
    {#- What an incremental build of a range_replace mart replaces, as {start, end,
        roasters, listed, kind}: with vars, their range (kind 'range'); without, the raw
        written since this model's last build without a range (new_artifact_range, kind
        'new'); start is none when there is nothing to replace. Computed once by the model
        and once by the strategy, and handed to range_predicate, captured_window and the
        rebuild log, so each part of a build sees the same days. -#}
    {%- set r = range_vars() -%}
    {%- if r.start is not none -%}
        {{ return({"start": r.start, "end": r.end, "roasters": r.roasters, "listed": none, "kind": "range"}) }}
    {%- endif -%}
    {%- set new = new_artifact_range() -%}
    {%- do new.update({"kind": "new"}) -%}
    {{ return(new) }}
{%- endmacro %}
