{#- Warns on every (roaster, day) whose share of rejected offers (rejected_items over
    rejected plus priced) is far above that roaster's usual share (its median over the
    days held): a parser break or a change of the shop's format shows here instead of
    as silently thinner data. "Far above" is more than twice the usual share plus ten
    points, over at least five offers. Within the range when one is given. -#}
{{ config(severity="warn") }}
{%- set r = range_vars() %}

with

coverage as (
    select * from {{ ref('coverage_daily') }}
),

shares as (
    select
        roaster_id,
        day,
        rejected_items,
        price_rows,
        rejected_items::numeric / nullif(rejected_items + price_rows, 0) as rejected_share
    from coverage
    where rejected_items + price_rows >= 5
),

usual as (
    select
        roaster_id,
        percentile_cont(0.5) within group (order by rejected_share) as usual_share
    from shares
    group by roaster_id
),

final as (
    select
        shares.*,
        usual.usual_share
    from shares
    inner join usual on shares.roaster_id = usual.roaster_id
    where
        shares.rejected_share > 2 * usual.usual_share + 0.1
    {%- if r.start is not none %}
        and shares.day between date '{{ r.start }}' and date '{{ r.end }}'
        {%- endif %}
    {%- if r.roasters is not none %}
        and shares.roaster_id in ('{{ r.roasters | join("', '") }}')
        {%- endif %}
)

select * from final
