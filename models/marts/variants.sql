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
        listing_type,
        grind,
        brew_methods,
        weight_g,
        pack_count,
        price,
        currency,
        in_stock,
        is_on_backorder
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
        latest.listing_type,
        latest.grind,
        latest.brew_methods,
        latest.weight_g,
        latest.pack_count,
        latest.price as latest_price,
        latest.currency,
        latest.in_stock,
        latest.is_on_backorder,
        seen.first_seen_at,
        seen.last_seen_at,
        seen.observations,
        {{ provenance_columns() }}
    from latest
    inner join seen on latest.variant_id = seen.variant_id
)

select * from final
