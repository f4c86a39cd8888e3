with

source as (
    select * from {{ source('control', 'mart_rebuilds') }}
),

final as (
    select
        model,
        kind,
        roaster_id,
        start_day,
        end_day,
        started_at,
        rebuilt_at
    from source
)

select * from final
