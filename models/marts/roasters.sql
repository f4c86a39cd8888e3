with

roasters as (
    select * from {{ ref('stg_raw__roasters') }}
),

final as (
    select
        roaster_id as id,
        name,
        platform,
        base_url,
        currency,
        timezone,
        since,
        active,
        archive,
        {{ provenance_columns() }}
    from roasters
)

select * from final
