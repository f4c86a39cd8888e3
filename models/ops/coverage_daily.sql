{#- One row per (active roaster, day) from the roaster's `since` (else its first run) to
    today in the roaster's timezone, with the day's status:
      complete     a run whose artifacts cover the whole catalog, all valid, and the
                   marts hold its prices
      stale        complete, but its mart rows were derived by another code version, or
                   under roaster settings that have changed since (macros/provenance/
                   stale_reason.sql); also a day no run belongs to that still holds
                   rows a timezone change moved away
      unprocessed  raw is complete but the marts lack its rows
      partial      some pages missing or invalid
      invalid      fetched, but nothing valid
      failed       runs exist, all failed
      missing      no run at all

    Incremental: a build recomputes only the (roaster, day)s whose inputs changed since
    the previous build, with their runs, counts and prices looked up by index (the
    scope's CTEs: macros/coverage/coverage_scope_changed.sql). The first build,
    --full-refresh, and a build after a full rebuild of a mart recount everything
    (macros/coverage/coverage_scope_all.sql). Both emit the same CTEs (scope,
    scope_runs, price_days, rejected_days); everything after them is shared. With a range (vars or
    COFFEE_DBT_RANGE) the range is always recomputed, its raw re-validated and its raw
    artifacts re-counted, whatever the bookkeeping says. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='coverage_replace',
        on_schema_change='fail',
        post_hook="{{ record_coverage_check() }}",
    )
}}
{%- set r = range_vars() -%}
{%- set since = coverage_since() if is_incremental() else none -%}
{%- set scoped = since is not none and not coverage_needs_recount(since) -%}
{%- set verdict_columns = "run_id, is_catalog_page, is_final_attempt, page_status, validation_status, item_count" -%}
{#- scoped: only the scope's runs, by index (an array parameter makes the planner use it) -#}
{%- set in_scope = "run_id = any(array(select scope_runs.run_id from scope_runs))" if scoped else "true" -%}
with

-- The imports are NOT MATERIALIZED: several are read more than once, and PostgreSQL
-- would otherwise copy the whole view once instead of using its indexes in each place.
roasters as not materialized (
    select * from {{ ref('stg_raw__roasters') }}
),

runs as not materialized (
    select * from {{ ref('stg_raw__scrape_runs') }}
),

raw_artifacts as not materialized (
    -- counted per run only: the staging view, no day computed, no join
    select * from {{ ref('stg_raw__scrape_artifacts') }}
),

quarantined_artifacts as not materialized (
    select * from {{ ref('stg_quarantine__scrape_artifacts') }}
),

built_artifacts as not materialized (
    select * from {{ ref('scrape_artifacts') }}
),

{% if r.start is not none -%}
validated_now as not materialized (
    -- Raw re-validated as it is now: in the range, verdicts come from here, so raw
    -- that changed in place (corruption) shows before the marts are rebuilt.
    select * from {{ ref('int_artifacts_validated') }}
),
{%- else -%}
-- depends_on: {{ ref('int_artifacts_validated') }}
{%- endif %}

prices as not materialized (
    select * from {{ ref('prices') }}
),

rejected as not materialized (
    select * from {{ ref('rejected_items') }}
),

acknowledged_gaps as not materialized (
    select * from {{ ref('stg_control__acknowledged_gaps') }}
),

{% if scoped -%}
mart_rebuilds as not materialized (
    select * from {{ ref('stg_control__mart_rebuilds') }}
),
{%- else -%}
-- depends_on: {{ ref('stg_control__mart_rebuilds') }}
{%- endif %}

mart_artifacts as not materialized (
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

bounds as (
    -- each active roaster's calendar: its first day (since, else its first run's day,
    -- both runs' indexes) to today, never past: a future day is not a gap
    select
        roasters.roaster_id,
        roasters.timezone,
        coalesce(
            roasters.since,
            least(dated.first_target_day, undated.first_started_day),
            ({{ clock_now() }} at time zone roasters.timezone)::date
        ) as first_day,
        ({{ clock_now() }} at time zone roasters.timezone)::date as last_day
    from roasters
    cross join
        lateral (
            select min(runs.target_day) as first_target_day
            from runs
            where runs.roaster_id = roasters.roaster_id
        ) as dated
    cross join
        lateral (
            select {{ local_day('min(runs.started_at)', 'roasters.timezone') }} as first_started_day
            from runs
            where runs.roaster_id = roasters.roaster_id and runs.target_day is null
        ) as undated
    where roasters.active
),

{{ coverage_scope_changed(since, r) if scoped else coverage_scope_all() }},

raw_counts as (
    -- a run's artifacts still in raw, plus those cleanup moved to quarantine on purpose
    select
        run_id,
        count(*) as raw_artifacts
    from (
        select run_id from raw_artifacts
        where {{ in_scope }}
        union all
        select run_id from quarantined_artifacts
        where {{ in_scope }}
    ) as kept
    group by run_id
),

mart_counts as (
    select
        run_id,
        count(*) as mart_artifacts,
        -- pages that carry items: an empty end-of-listing page proves nothing
        count(*) filter (
            where is_catalog_page and is_final_attempt and page_status = 200 and validation_status = 'valid'
            and item_count > 0
        ) as valid_pages,
        count(*) filter (
            where is_catalog_page and is_final_attempt and page_status = 200 and validation_status = 'invalid'
        ) as invalid_pages
    from mart_artifacts
    where {{ in_scope }}
    group by run_id
),

missing_counts as (
    -- variations their parents list that no variation page of the run returned
    select
        run_id,
        count(*) as missing_variations
    from rejected
    where reason = 'variation not returned' and {{ in_scope }}
    group by run_id
),

stale_artifacts as (
    -- mart artifacts another code version built, or built under roaster settings that
    -- have changed since (read from the marts as built, also in a ranged build)
    select
        built_artifacts.run_id,
        {{ stale_reason('built_artifacts', 'roasters', 'captured_at') }} as stale_reason
    from built_artifacts
    inner join roasters on built_artifacts.roaster_id = roasters.roaster_id
    where {{ in_scope | replace('run_id', 'built_artifacts.run_id', 1) }}
),

stale_runs as (
    select
        run_id,
        min(stale_reason) as stale_reason
    from stale_artifacts
    where stale_reason is not null
    group by run_id
),

quarantine_counts as (
    select
        run_id,
        count(*) as quarantined,
        -- pages `cleanup --apply` moved because they were invalid (runner/maintenance.py
        -- INVALID_PAGE): the run lacks them, as it would lack a page it never fetched
        count(*) filter (where starts_with(reason, 'invalid page')) as invalid_pages_moved
    from quarantined_artifacts
    where {{ in_scope }}
    group by run_id
),

run_facts as (
    select
        scope_runs.*,
        coalesce(mart_counts.valid_pages, 0) as valid_pages,
        coalesce(mart_counts.invalid_pages, 0) + coalesce(quarantine_counts.invalid_pages_moved, 0) as invalid_pages,
        coalesce(missing_counts.missing_variations, 0) as missing_variations,
        stale_runs.stale_reason,
        scope_runs.status = 'ok'
        -- raw still holds every artifact the run stored, and the marts have seen them all
        and coalesce(raw_counts.raw_artifacts, 0) = scope_runs.recorded_artifacts
        and coalesce(mart_counts.mart_artifacts, 0) + coalesce(quarantine_counts.quarantined, 0)
        = coalesce(raw_counts.raw_artifacts, 0)
        and coalesce(mart_counts.invalid_pages, 0) + coalesce(quarantine_counts.invalid_pages_moved, 0) = 0
        and coalesce(missing_counts.missing_variations, 0) = 0
        and coalesce(mart_counts.valid_pages, 0) > 0 as is_complete_raw,
        -- raw rows the marts have not seen (derived data lost, or not built yet)
        scope_runs.status = 'ok'
        and coalesce(raw_counts.raw_artifacts, 0) = scope_runs.recorded_artifacts
        and coalesce(mart_counts.mart_artifacts, 0) + coalesce(quarantine_counts.quarantined, 0)
        < coalesce(raw_counts.raw_artifacts, 0) as is_unvalidated,
        scope_runs.status = 'ok'
        and coalesce(raw_counts.raw_artifacts, 0) < scope_runs.recorded_artifacts as has_lost_raw
    from scope_runs
    left join raw_counts on scope_runs.run_id = raw_counts.run_id
    left join mart_counts on scope_runs.run_id = mart_counts.run_id
    left join quarantine_counts on scope_runs.run_id = quarantine_counts.run_id
    left join missing_counts on scope_runs.run_id = missing_counts.run_id
    left join stale_runs on scope_runs.run_id = stale_runs.run_id
),

day_facts as (
    select
        roaster_id,
        day,
        count(*) as runs,
        bool_or(is_complete_raw) as has_complete_run,
        bool_or(is_unvalidated) as has_unvalidated_run,
        bool_or(status = 'partial' or has_lost_raw or missing_variations > 0) as has_partial_run,
        -- the fewest variations any run of the day missed (0 when one returned them all)
        min(missing_variations) as missing_variations,
        sum(valid_pages) as valid_pages,
        sum(valid_pages + invalid_pages) as fetched_pages,
        min(stale_reason) as stale_reason
    from run_facts
    group by roaster_id, day
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
            greatest(acknowledged_gaps.start_day, bounds.first_day),
            least(acknowledged_gaps.end_day, bounds.last_day), interval '1 day'
        ) as days (day)
    group by acknowledged_gaps.roaster_id, days.day
),

classified as (
    select
        scope.roaster_id,
        scope.day,
        case
            when
                day_facts.has_complete_run and price_days.price_rows > 0
                and coalesce(day_facts.stale_reason, price_days.stale_reason) is not null
                then 'stale'
            when day_facts.has_complete_run and price_days.price_rows > 0 then 'complete'
            when day_facts.has_complete_run or day_facts.has_unvalidated_run then 'unprocessed'
            -- rows left on a day no run belongs to any more (its timezone changed)
            when day_facts.runs is null and price_days.stale_price_rows > 0 then 'stale'
            when day_facts.valid_pages > 0 or day_facts.has_partial_run then 'partial'
            when day_facts.fetched_pages > 0 then 'invalid'
            when day_facts.runs > 0 then 'failed'
            else 'missing'
        end as status,
        coalesce(day_facts.runs, 0) as runs,
        coalesce(day_facts.valid_pages, 0)::bigint as valid_artifacts,
        coalesce(price_days.price_rows, 0) as price_rows,
        coalesce(rejected_days.rejected_items, 0) as rejected_items,
        coalesce(day_facts.missing_variations, 0) as missing_variations,
        case
            when day_facts.has_complete_run and price_days.price_rows > 0
                then coalesce(day_facts.stale_reason, price_days.stale_reason)
            when day_facts.has_complete_run or day_facts.has_unvalidated_run then 'marts lack the day''s rows'
            when day_facts.runs is null and price_days.stale_price_rows > 0 then price_days.stale_reason
            when day_facts.missing_variations > 0
                then day_facts.missing_variations || ' variations listed by their parents were not returned'
            when day_facts.has_partial_run then 'a run ended partial or lost raw artifacts'
            when day_facts.valid_pages > 0 then 'some catalog pages are invalid'
            when day_facts.fetched_pages > 0 then 'every catalog page is invalid'
            when day_facts.runs > 0 then 'every run failed'
            else 'no run'
        end as reason,
        acknowledged.reason is not null as acknowledged,
        acknowledged.reason as acknowledged_reason
    from scope
    left join day_facts on scope.roaster_id = day_facts.roaster_id and scope.day = day_facts.day
    left join price_days on scope.roaster_id = price_days.roaster_id and scope.day = price_days.day
    left join rejected_days on scope.roaster_id = rejected_days.roaster_id and scope.day = rejected_days.day
    left join acknowledged_days as acknowledged
        on scope.roaster_id = acknowledged.roaster_id and scope.day = acknowledged.day
),

final as (
    select
        classified.*,
        -- the one definition of an open gap: what plan, gaps, verify, health, the
        -- backfill and the no_gaps test count
        classified.status <> 'complete' and not classified.acknowledged as is_open_gap
    from classified
)

select * from final
