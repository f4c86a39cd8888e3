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
        started_at,
        finished_at,
        pages,
        artifacts,
        error,
        created_at
    from source
)

select * from final
