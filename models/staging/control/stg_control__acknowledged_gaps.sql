with

source as (
    select * from {{ source('control', 'acknowledged_gaps') }}
),

final as (
    select
        roaster_id,
        start_day,
        end_day,
        reason,
        acknowledged_at,
        acknowledged_by
    from source
)

select * from final
