{#- coverage_daily's scope in a full recount (first build, --full-refresh, after a full
    rebuild of a mart): every day of every calendar, with runs, prices and rejected
    items counted in one pass each. Emits the CTEs scope .. rejected_days, like
    coverage_scope_changed. -#}
{% macro coverage_scope_all() -%}
scope as (
    -- every day of every calendar
    select
        bounds.roaster_id,
        days.day::date as day
    from bounds
    cross join lateral generate_series(bounds.first_day, bounds.last_day, interval '1 day') as days (day)
),

scope_runs as (
    select
        runs.roaster_id,
        {{ run_day('runs', 'bounds.timezone') }} as day,
        runs.run_id,
        runs.status,
        runs.artifacts as recorded_artifacts
    from runs
    inner join bounds on runs.roaster_id = bounds.roaster_id
),

judged_prices as (
    -- each price's stale reason, judged once (a million prices at 1,000 roasters x 3 years)
    select
        prices.roaster_id,
        prices.day,
        {{ stale_reason('prices', 'bounds', 'scraped_at', settings=false) }} as stale_reason
    from prices
    inner join bounds on prices.roaster_id = bounds.roaster_id
),

price_days as (
    select
        roaster_id,
        day,
        count(*) as price_rows,
        count(stale_reason) as stale_price_rows,
        min(stale_reason) as stale_reason
    from judged_prices
    group by roaster_id, day
),

rejected_days as (
    select
        roaster_id,
        day,
        count(*) as rejected_items
    from rejected
    where reason <> 'variation not returned'
    group by roaster_id, day
)
{%- endmacro %}
