{#- Warns on every (roaster, day) whose catalog pages lost a key path the roaster's pages
    usually carry, or gained a new top-level key (ops.shape_drift): a shop's format change,
    named. Within the range when one is given. -#}
{{ config(severity="warn") }}
{%- set r = range_vars() %}

with

drift as (
    select * from {{ ref('shape_drift') }}
),

final as (
    select *
    from drift
    {%- if r.start is not none %}
        where {{ vars_range_predicate() }}
    {%- endif %}
)

select * from final
