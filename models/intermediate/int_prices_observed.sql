{#- One row per offer (a variant, a simple or external product, a variation) on a
    readable, first-of-its-kind catalog page, and one per variation that a parent lists
    but the run never returned: both platforms in one shape, money in major units, grind,
    options kept for option_facts (grind, brew methods, weight and pack count are read in
    the marts, once per distinct option set of the range). `rejection_reason` is null for the
    offers that are priced (the rows of `prices`) and says why for the others (the rows of
    `rejected_items`). CTEs used more than once are NOT MATERIALIZED, so the caller's
    (roaster_id, day) filter reaches raw. -#}
with

-- The page verdicts the same build has just written for the range: read from the mart
-- (a table, by index) rather than from int_artifacts_validated, which would validate
-- every page of the range once more.
artifacts as (
    select * from {{ ref('scrape_artifacts') }}
),

shopify_rows as (
    select * from {{ ref('int_shopify_variants_unpacked') }}
),

woo_rows as not materialized (
    select * from {{ ref('int_woo_items_unpacked') }}
),

iso_currencies as not materialized (
    select * from {{ ref('iso_currencies') }}
),

readable_pages as not materialized (
    -- pages whose envelope and ids could be read; a page invalid only because none of
    -- its offers is priced still explains each of them in rejected_items
    select * from artifacts
    where
        is_readable
        and not is_duplicate
),

{{ offers_from_pages('readable_pages') }},

final as (
    select
        roaster_id || ':' || coalesce(variant_platform_id, product_platform_id) as variant_id,
        roaster_id || ':' || product_platform_id as product_id,
        roaster_id,
        day,
        captured_at as scraped_at,
        -- rounded to the currency's minor units (JPY 0, USD 2, KWD 3), never a float
        round(price, coalesce(minor_units, 2)) as price,
        currency,
        -- compare_at is only a list price when it is above the price ("0.00", equal and
        -- lower values mean "not on sale" on Shopify).
        case when list_price > price then round(list_price, coalesce(minor_units, 2)) end as compare_at_price,
        coalesce(list_price > price, false) or on_sale_flag as is_sale,
        in_stock,
        is_on_backorder,
        artifact_id,
        run_id,
        product_platform_id,
        variant_platform_id,
        product_title,
        product_type,
        variant_title,
        listing_type,
        -- read by option_facts where the rows are fewer: see prices
        options,
        sibling_options,
        rejection_reason,
        created_at as artifact_created_at,
        -- where on its page the row was listed (product, then variant; a product has far
        -- fewer than a million variants): the tiebreak when a page lists a variant twice
        listing_position
    from checked
)

select * from final
