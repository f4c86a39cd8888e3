{#- coverage_daily's scope in an incremental build: the (roaster, day)s whose inputs
    changed since `since` (and the range `r` asked for, always), with their runs, prices
    and rejected items looked up by index. Emits the CTEs changed_runs .. rejected_days;
    coverage_scope_all is the same contract for a full recount. -#}
{% macro coverage_scope_changed(since, r) -%}
changed_runs as (
    -- runs written or finished, artifacts stored or quarantined since the last build
    select run_id from runs
    where created_at > {{ since }}
    union
    select run_id from runs
    where finished_at > {{ since }}
    union
    select run_id from raw_artifacts
    where created_at > {{ since }}
    union
    select run_id from quarantined_artifacts
    where quarantined_at > {{ since }}
),

changed_days as (
    select
        runs.roaster_id,
        {{ run_day('runs', 'bounds.timezone') }} as day
    from runs
    inner join bounds on runs.roaster_id = bounds.roaster_id
    where runs.run_id = any(array(select changed_runs.run_id from changed_runs))
),

covered as (
    -- each roaster's first and last day already in this table (two index probes each)
    select
        bounds.roaster_id,
        (
            select min(checked.day) from {{ this }} as checked
            where checked.roaster_id = bounds.roaster_id
        ) as first_day,
        (
            select max(checked.day) from {{ this }} as checked
            where checked.roaster_id = bounds.roaster_id
        ) as last_day
    from bounds
),

changed_spans as (
    -- (roaster, first day, last day) to recompute; a null roaster means all of them,
    -- a null day no bound on that side
    select roaster_id, start_day, end_day from mart_rebuilds
    where rebuilt_at > {{ since }}
    union all
    select roaster_id, start_day, end_day from acknowledged_gaps
    where acknowledged_at > {{ since }}
    union all
    -- a changed roaster (since, timezone, active...): its whole calendar
    select roaster_id, null, null from roasters
    where updated_at > {{ since }}
    union all
    -- days the calendar gained: before the first day held (a run earlier than any)
    -- and after the last (today moved on); a roaster with no rows gets all its days
    select roaster_id, null, first_day - 1 from covered
    union all
    select roaster_id, last_day + 1, null from covered
    {%- if r.start is not none %}
    union all
    -- the range asked for, always
    select roaster_id, date '{{ r.start }}', date '{{ r.end }}' from bounds
    {%- if r.roasters is not none %}
    where roaster_id in ('{{ r.roasters | join("', '") }}')
    {%- endif %}
    {%- endif %}
),

span_roasters as (
    -- spans for every roaster become one span per roaster
    select
        bounds.roaster_id,
        changed_spans.start_day,
        changed_spans.end_day
    from changed_spans
    cross join bounds
    where changed_spans.roaster_id is null
    union all
    select
        roaster_id,
        start_day,
        end_day
    from changed_spans
    where roaster_id is not null
),

scope as (
    -- the (roaster, day)s this build recomputes, clipped to each calendar
    select
        bounds.roaster_id,
        days.day::date as day
    from span_roasters
    inner join bounds on span_roasters.roaster_id = bounds.roaster_id
    cross join
        lateral generate_series(
            greatest(span_roasters.start_day, bounds.first_day),
            least(span_roasters.end_day, bounds.last_day), interval '1 day'
        ) as days (day)
    union
    select
        changed_days.roaster_id,
        changed_days.day
    from changed_days
    inner join bounds on changed_days.roaster_id = bounds.roaster_id
    where changed_days.day between bounds.first_day and bounds.last_day
),

scope_runs as (
    -- the runs of each (roaster, day) in scope, by index
    select
        scope.roaster_id,
        scope.day,
        day_runs.run_id,
        day_runs.status,
        day_runs.recorded_artifacts
    from scope
    inner join bounds on scope.roaster_id = bounds.roaster_id
    cross join lateral (
        select
            runs.run_id,
            runs.status,
            runs.artifacts as recorded_artifacts
        from runs
        where
            runs.roaster_id = scope.roaster_id
            and (
                -- a run's day is its first capture's (run_day): the day it targeted, unless
                -- the roaster's timezone changed since, which moves it a day or two at most
                (
                    runs.target_day between scope.day - 2 and scope.day + 2
                    and {{ run_day('runs', 'bounds.timezone') }} = scope.day
                )
                or (
                    runs.target_day is null
                    -- any timezone's day lies within two days of the session's
                    and runs.started_at >= scope.day - interval '2 days'
                    and runs.started_at < scope.day + interval '3 days'
                    and {{ run_day('runs', 'bounds.timezone') }} = scope.day
                )
            )
        -- OFFSET 0 keeps the planner from pulling this subquery up into a join over all
        -- runs: per (roaster, day) in scope it stays one index lookup
        offset 0
    ) as day_runs
),

price_days as (
    select
        scope.roaster_id,
        scope.day,
        day_prices.price_rows,
        day_prices.stale_price_rows,
        day_prices.stale_reason
    from scope
    inner join bounds on scope.roaster_id = bounds.roaster_id
    cross join lateral (
        select
            count(*) as price_rows,
            count(judged.stale_reason) as stale_price_rows,
            min(judged.stale_reason) as stale_reason
        from (
            -- each price's stale reason, judged once
            select {{ stale_reason('prices', 'bounds', 'scraped_at', settings=false) }} as stale_reason
            from prices
            where prices.roaster_id = scope.roaster_id and prices.day = scope.day
        ) as judged
    ) as day_prices
),

rejected_days as (
    select
        scope.roaster_id,
        scope.day,
        day_rejected.rejected_items
    from scope
    cross join lateral (
        select count(*) as rejected_items
        from rejected
        where
            rejected.roaster_id = scope.roaster_id and rejected.day = scope.day
            and rejected.reason <> 'variation not returned'
    ) as day_rejected
)
{%- endmacro %}
