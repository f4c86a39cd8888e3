with

prices as (
    select * from {{ ref('prices') }}
),

latest as (
    select distinct on (variant_id)
        variant_id,
        product_id,
        roaster_id,
        variant_title,
        grind,
        weight_g,
        price,
        currency,
        in_stock
    from prices
    order by variant_id asc, scraped_at desc, artifact_id desc
),

seen as (
    select
        variant_id,
        min(scraped_at) as first_seen_at,
        max(scraped_at) as last_seen_at,
        count(*) as observations
    from prices
    group by variant_id
),

final as (
    select
        latest.variant_id as id,
        latest.product_id,
        latest.roaster_id,
        latest.variant_title as title,
        latest.grind,
        latest.weight_g,
        latest.price as latest_price,
        latest.currency,
        latest.in_stock,
        seen.first_seen_at,
        seen.last_seen_at,
        seen.observations
    from latest
    inner join seen on latest.variant_id = seen.variant_id
)

select * from final
