with

source as (
    select * from {{ source('raw', 'roasters') }}
),

final as (
    select
        id as roaster_id,
        name,
        platform,
        base_url,
        currency,
        timezone,
        since,
        active,
        archive,
        rate_limit_rps,
        created_at,
        updated_at
    from source
)

select * from final
