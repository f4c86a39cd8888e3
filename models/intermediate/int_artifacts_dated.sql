{#- Each artifact's calendar day in its roaster's timezone: cheap (no JSON is opened),
    used by range predicates and coverage. -#}
with

artifacts as (
    select * from {{ ref('stg_raw__scrape_artifacts') }}
),

roasters as (
    select * from {{ ref('stg_raw__roasters') }}
),

final as (
    select
        artifacts.artifact_id,
        artifacts.run_id,
        artifacts.roaster_id,
        artifacts.captured_at,
        artifacts.created_at,
        {{ local_day('artifacts.captured_at', 'roasters.timezone') }} as day
    from artifacts
    inner join roasters on artifacts.roaster_id = roasters.roaster_id
)

select * from final
