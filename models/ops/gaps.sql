with

coverage as (
    select * from {{ ref('coverage_daily') }}
),

final as (
    select
        roaster_id,
        day,
        status,
        runs,
        valid_artifacts,
        price_rows,
        acknowledged,
        acknowledged_reason
    from coverage
    where status <> 'complete'
)

select * from final
