with

source as (
    select * from {{ source('control', 'mart_rebuilds') }}
),

final as (
    select
        model,
        roaster_id,
        start_day,
        end_day,
        rebuilt_at
    from source
)

select * from final
