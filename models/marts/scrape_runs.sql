with

runs as (
    select * from {{ ref('stg_raw__scrape_runs') }}
),

roasters as (
    select * from {{ ref('stg_raw__roasters') }}
),

final as (
    select
        runs.run_id as id,
        runs.roaster_id,
        runs.kind,
        runs.status,
        {{ run_day('runs', 'roasters.timezone') }} as day,
        runs.target_day,
        runs.started_at,
        runs.finished_at,
        runs.pages,
        runs.artifacts,
        runs.error,
        runs.created_at,
        {{ provenance_columns() }}
    from runs
    inner join roasters on runs.roaster_id = roasters.roaster_id
)

select * from final
