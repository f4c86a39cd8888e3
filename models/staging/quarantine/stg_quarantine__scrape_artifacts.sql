with

source as (
    select * from {{ source('quarantine', 'scrape_artifacts') }}
),

final as (
    select
        id as artifact_id,
        run_id,
        roaster_id,
        batch_id,
        reason,
        quarantined_at
    from source
)

select * from final
