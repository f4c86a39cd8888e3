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
        rejected_items,
        missing_variations,
        reason,
        acknowledged,
        acknowledged_reason,
        is_open_gap
    from coverage
    where status <> 'complete'
)

select * from final
