with

source as (
    select * from {{ source('raw', 'scrape_runs') }}
),

final as (
    select
        id as run_id,
        roaster_id,
        kind,
        status,
        target_day,
        -- the run's first capture (its artifacts by index), whose local day is the run's
        -- day (macros/parsing/run_day.sql); computed only where a query reads it
        (
            select min(artifacts.captured_at) from {{ source('raw', 'scrape_artifacts') }} as artifacts
            where artifacts.run_id = source.id
        ) as first_captured_at,
        started_at,
        finished_at,
        pages,
        artifacts,
        error,
        created_at
    from source
)

select * from final
