with

prices as (
    select * from {{ ref('prices') }}
),

latest as (
    select distinct on (product_id)
        product_id,
        roaster_id,
        product_title,
        product_type
    from prices
    order by product_id asc, scraped_at desc, artifact_id desc
),

seen as (
    select
        product_id,
        min(scraped_at) as first_seen_at,
        max(scraped_at) as last_seen_at,
        count(distinct variant_id) as variants_seen
    from prices
    group by product_id
),

final as (
    select
        latest.product_id as id,
        latest.roaster_id,
        latest.product_title as title,
        latest.product_type,
        seen.first_seen_at,
        seen.last_seen_at,
        seen.variants_seen,
        {{ provenance_columns() }}
    from latest
    inner join seen on latest.product_id = seen.product_id
)

select * from final
