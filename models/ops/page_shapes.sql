{#- One row per (roaster, day) with catalog pages: the JSON key paths its first catalog
    page of each run carries (macros/shape/json_key_paths.sql), and whether every such
    page was valid. shape_drift compares each day with the roaster's usual paths.
    Incremental: a build recomputes the days that gained artifacts since the previous
    one, and the range it is given. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['roaster_id', 'day'],
        on_schema_change='fail',
    )
}}
{%- set r = range_vars() -%}

with

raw_artifacts as not materialized (
    select * from {{ ref('int_artifacts_parsed') }}
),

artifact_days as not materialized (
    select * from {{ ref('int_artifacts_dated') }}
),

built_artifacts as not materialized (
    -- verdicts as last built; a page not built yet counts as not valid (no baseline)
    select * from {{ ref('scrape_artifacts') }}
),

first_pages as (
    -- each run's first listing page, as its final attempt answered with 200, read from
    -- raw (a page scraped since the last build has a shape already)
    select
        raw_artifacts.artifact_id as id,
        raw_artifacts.roaster_id,
        artifact_days.day,
        coalesce(built_artifacts.validation_status, 'not built') as validation_status,
        raw_artifacts.created_at as artifact_created_at
    from raw_artifacts
    inner join artifact_days on raw_artifacts.artifact_id = artifact_days.artifact_id
    left join built_artifacts on raw_artifacts.artifact_id = built_artifacts.id
    where
        raw_artifacts.resource = 'products' and raw_artifacts.page = 1
        and raw_artifacts.is_final_attempt and raw_artifacts.page_status = 200
),

in_scope as (
    select first_pages.*
    from first_pages
    {% if is_incremental() %}
        -- the days with a page newer than this table's newest, whole (and the range)
        where exists (
                select from first_pages as changed
                where
                    changed.roaster_id = first_pages.roaster_id and changed.day = first_pages.day
                    and (
                        changed.artifact_created_at > (
                            select coalesce(max(shapes.newest_artifact_at), '-infinity') from {{ this }} as shapes
                        )
                        {%- if r.start is not none %}
                        or {{ vars_range_predicate('changed.day', 'changed.roaster_id') }}
                    {%- endif %}
                    )
            )
    {% endif %}
),

page_paths as (
    select
        in_scope.roaster_id,
        in_scope.day,
        in_scope.validation_status,
        in_scope.artifact_created_at,
        paths.path
    from in_scope
    inner join raw_artifacts on in_scope.id = raw_artifacts.artifact_id
    cross join lateral unnest({{ json_key_paths('raw_artifacts.body') }}) as paths (path)
),

pages as (
    select
        in_scope.roaster_id,
        in_scope.day,
        count(*) as pages,
        bool_and(in_scope.validation_status = 'valid') as all_valid,
        max(in_scope.artifact_created_at) as newest_artifact_at
    from in_scope
    group by in_scope.roaster_id, in_scope.day
),

day_paths as (
    select
        roaster_id,
        day,
        array_agg(distinct path order by path) as paths
    from page_paths
    group by roaster_id, day
),

final as (
    select
        pages.roaster_id,
        pages.day,
        pages.pages,
        pages.all_valid,
        coalesce(day_paths.paths, '{}') as paths,
        pages.newest_artifact_at
    from pages
    left join day_paths on pages.roaster_id = day_paths.roaster_id and pages.day = day_paths.day
)

select * from final
