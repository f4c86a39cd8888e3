{#- One row per (active roaster, day) from the roaster's `since` (else its first run)
    to the end of the range (end_date, else today in the roaster's timezone, and never
    past that today), with the
    day's status:
      complete     a run whose artifacts cover the whole catalog, all valid, and the
                   marts hold its prices
      unprocessed  raw is complete but the marts lack its rows
      partial      some pages missing or invalid
      invalid      fetched, but nothing valid
      failed       runs exist, all failed
      missing      no run at all -#}
{%- set r = range_vars() -%}
{%- set verdict_columns = "run_id, is_catalog_page, is_final_attempt, http_status, validation_status, item_count" -%}
with

roasters as (
    select * from {{ ref('stg_raw__roasters') }}
    where active
),

runs as (
    select * from {{ ref('stg_raw__scrape_runs') }}
),

raw_artifacts as (
    -- counted per run only: the staging view, no day computed, no join
    select * from {{ ref('stg_raw__scrape_artifacts') }}
),

quarantined_artifacts as (
    select * from {{ ref('stg_quarantine__scrape_artifacts') }}
),

built_artifacts as (
    select * from {{ ref('scrape_artifacts') }}
),

{% if r.start is not none -%}
validated_now as (
    -- Raw re-validated as it is now: in the range, verdicts come from here, so raw
    -- that changed in place (corruption) shows before the marts are rebuilt.
    select * from {{ ref('int_artifacts__validated') }}
),
{%- else -%}
-- depends_on: {{ ref('int_artifacts__validated') }}
{%- endif %}

mart_artifacts as (
    {%- if r.start is not none %}
        select {{ verdict_columns }}
        from built_artifacts
        where not {{ vars_range_predicate() }}
        union all
        select {{ verdict_columns }}
        from validated_now
        where {{ captured_window('captured_at') }} and {{ vars_range_predicate() }}
    {%- else %}
        select {{ verdict_columns }}
        from built_artifacts
    {%- endif %}
),

prices as (
    select * from {{ ref('prices') }}
),

acknowledged_gaps as (
    select * from {{ ref('stg_control__acknowledged_gaps') }}
),

run_days as (
    select
        runs.run_id,
        runs.roaster_id,
        runs.status,
        runs.artifacts as recorded_artifacts,
        coalesce(runs.target_day, {{ local_day('runs.started_at', 'roasters.timezone') }}) as day
    from runs
    inner join roasters on runs.roaster_id = roasters.roaster_id
),

raw_counts as (
    -- a run's artifacts still in raw, plus those cleanup moved to quarantine on purpose
    select
        run_id,
        count(*) as raw_artifacts
    from (
        select run_id from raw_artifacts
        union all
        select run_id from quarantined_artifacts
    ) as kept
    group by run_id
),

mart_counts as (
    select
        run_id,
        count(*) as mart_artifacts,
        -- pages that carry items: an empty end-of-listing page proves nothing
        count(*) filter (
            where is_catalog_page and is_final_attempt and http_status = 200 and validation_status = 'valid'
            and item_count > 0
        ) as valid_pages,
        count(*) filter (
            where is_catalog_page and is_final_attempt and http_status = 200 and validation_status = 'invalid'
        ) as invalid_pages
    from mart_artifacts
    group by run_id
),

quarantine_counts as (
    select
        run_id,
        count(*) as quarantined
    from quarantined_artifacts
    group by run_id
),

run_facts as (
    select
        run_days.*,
        coalesce(mart_counts.valid_pages, 0) as valid_pages,
        coalesce(mart_counts.invalid_pages, 0) as invalid_pages,
        run_days.status = 'ok'
        -- raw still holds every artifact the run stored, and the marts have seen them all
        and coalesce(raw_counts.raw_artifacts, 0) = run_days.recorded_artifacts
        and coalesce(mart_counts.mart_artifacts, 0) + coalesce(quarantine_counts.quarantined, 0)
        = coalesce(raw_counts.raw_artifacts, 0)
        and coalesce(mart_counts.invalid_pages, 0) = 0
        and coalesce(mart_counts.valid_pages, 0) > 0 as is_complete_raw,
        -- raw rows the marts have not seen (derived data lost, or not built yet)
        run_days.status = 'ok'
        and coalesce(raw_counts.raw_artifacts, 0) = run_days.recorded_artifacts
        and coalesce(mart_counts.mart_artifacts, 0) + coalesce(quarantine_counts.quarantined, 0)
        < coalesce(raw_counts.raw_artifacts, 0) as is_unvalidated,
        run_days.status = 'ok'
        and coalesce(raw_counts.raw_artifacts, 0) < run_days.recorded_artifacts as has_lost_raw
    from run_days
    left join raw_counts on run_days.run_id = raw_counts.run_id
    left join mart_counts on run_days.run_id = mart_counts.run_id
    left join quarantine_counts on run_days.run_id = quarantine_counts.run_id
),

day_facts as (
    select
        roaster_id,
        day,
        count(*) as runs,
        bool_or(is_complete_raw) as has_complete_run,
        bool_or(is_unvalidated) as has_unvalidated_run,
        bool_or(status = 'partial' or has_lost_raw) as has_partial_run,
        sum(valid_pages) as valid_pages,
        sum(valid_pages + invalid_pages) as fetched_pages
    from run_facts
    group by roaster_id, day
),

price_days as (
    select
        roaster_id,
        day,
        count(*) as price_rows
    from prices
    group by roaster_id, day
),

bounds as (
    select
        roasters.roaster_id,
        coalesce(roasters.since, min(run_days.day)) as first_day,
        -- never past the roaster's today: a future day is not a gap
        {% if r.end is not none -%}
            least(date '{{ r.end }}', (now() at time zone roasters.timezone)::date)
        {%- else -%}
            (now() at time zone roasters.timezone)::date
        {%- endif %} as last_day
    from roasters
    left join run_days on roasters.roaster_id = run_days.roaster_id
    group by roasters.roaster_id, roasters.since, roasters.timezone
),

calendar as (
    select
        bounds.roaster_id,
        days.day::date as day
    from bounds
    cross join lateral generate_series(
        coalesce(bounds.first_day, bounds.last_day), bounds.last_day, interval '1 day'
    ) as days (day)
),

acknowledged_days as (
    -- each acknowledged (roaster, day) once, clipped to the calendar: a hash join below,
    -- not a lookup per calendar row (a million lookups at 1,000 roasters x 3 years)
    select
        acknowledged_gaps.roaster_id,
        days.day::date as day,
        min(acknowledged_gaps.reason) as reason
    from acknowledged_gaps
    inner join bounds on acknowledged_gaps.roaster_id = bounds.roaster_id
    cross join
        lateral generate_series(
            greatest(acknowledged_gaps.start_day, coalesce(bounds.first_day, bounds.last_day)),
            least(acknowledged_gaps.end_day, bounds.last_day), interval '1 day'
        ) as days (day)
    group by acknowledged_gaps.roaster_id, days.day
),

final as (
    select
        calendar.roaster_id,
        calendar.day,
        case
            when day_facts.has_complete_run and price_days.price_rows > 0 then 'complete'
            when day_facts.has_complete_run or day_facts.has_unvalidated_run then 'unprocessed'
            when day_facts.valid_pages > 0 or day_facts.has_partial_run then 'partial'
            when day_facts.fetched_pages > 0 then 'invalid'
            when day_facts.runs > 0 then 'failed'
            else 'missing'
        end as status,
        coalesce(day_facts.runs, 0) as runs,
        coalesce(day_facts.valid_pages, 0) as valid_artifacts,
        coalesce(price_days.price_rows, 0) as price_rows,
        acknowledged.reason is not null as acknowledged,
        acknowledged.reason as acknowledged_reason
    from calendar
    left join day_facts on calendar.roaster_id = day_facts.roaster_id and calendar.day = day_facts.day
    left join price_days on calendar.roaster_id = price_days.roaster_id and calendar.day = price_days.day
    left join acknowledged_days as acknowledged
        on calendar.roaster_id = acknowledged.roaster_id and calendar.day = acknowledged.day
)

select * from final
