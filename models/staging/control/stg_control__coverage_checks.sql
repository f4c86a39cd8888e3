with

source as (
    select * from {{ source('control', 'coverage_checks') }}
),

final as (
    select
        checked_at,
        start_day,
        end_day
    from source
)

select * from final
