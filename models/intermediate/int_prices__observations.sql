{#- One row per variant seen on a valid, first-of-its-kind catalog page: both platforms
    in one shape, money in major units, grind and weight normalized. CTEs used more than
    once are NOT MATERIALIZED, so the caller's (roaster_id, day) filter reaches raw. -#}
with

validated as (
    select * from {{ ref('int_artifacts__validated') }}
),

shopify_rows as (
    select * from {{ ref('stg_shopify__variants') }}
),

woo_rows as not materialized (
    select * from {{ ref('stg_woo__items') }}
),

usable_pages as not materialized (
    select
        artifact_id,
        run_id,
        roaster_id,
        day,
        platform,
        captured_at,
        created_at,
        shop_currency
    from validated
    where
        validation_status = 'valid'
        and not is_duplicate
),

shopify as (
    select
        usable_pages.roaster_id,
        usable_pages.day,
        usable_pages.captured_at,
        usable_pages.created_at,
        usable_pages.artifact_id,
        usable_pages.run_id,
        shopify_rows.product_platform_id,
        shopify_rows.variant_platform_id,
        shopify_rows.product_title,
        shopify_rows.product_type,
        shopify_rows.variant_title,
        shopify_rows.options,
        {{ decimal_or_null('shopify_rows.price_text') }} as price,
        {{ decimal_or_null('shopify_rows.compare_at_text') }} as list_price,
        false as on_sale_flag,
        shopify_rows.available as in_stock,
        usable_pages.shop_currency as currency,
        shopify_rows.product_position * 1000000 + shopify_rows.variant_position as listing_position
    -- Lateral with OFFSET 0 (PostgreSQL then cannot flatten it into a join): each page's
    -- rows are parsed from that page, found by key, never from every page in raw.
    from usable_pages
    cross join
        lateral (
            select shopify_rows.* from shopify_rows
            where shopify_rows.artifact_id = usable_pages.artifact_id
            offset 0  -- noqa: AM09
        ) as shopify_rows
    where usable_pages.platform = 'shopify'
),

woo_usable as (
    select
        woo_rows.*,
        usable_pages.day,
        usable_pages.created_at,
        woo_rows.price_minor_text::numeric / power(10::numeric, woo_rows.minor_unit_text::int) as price,
        woo_rows.regular_minor_text::numeric / power(10::numeric, woo_rows.minor_unit_text::int) as list_price
    from usable_pages
    cross join
        lateral (
            select woo_rows.* from woo_rows
            where woo_rows.artifact_id = usable_pages.artifact_id
            offset 0  -- noqa: AM09
        ) as woo_rows
    where usable_pages.platform = 'woocommerce'
),

woo_families as (
    -- A variation's parent is the product listed on a usable products page of the same
    -- run. A window, not a join back to the listing: one pass over the range's rows (a
    -- join here was planned as a rescan per variation). roaster_id and day lead the
    -- partition (run_id implies both) so a caller's range filter passes the window.
    select
        woo_usable.*,
        first_value(case when woo_usable.resource = 'products' then woo_usable.item_name end) over family
            as parent_name,
        first_value(case when woo_usable.resource = 'products' then woo_usable.category end) over family
            as parent_category
    from woo_usable
    window family as (
        partition by
            woo_usable.roaster_id,
            woo_usable.day,
            woo_usable.run_id,
            coalesce(woo_usable.parent_platform_id, woo_usable.item_platform_id)
        order by woo_usable.resource <> 'products', woo_usable.captured_at
    )
),

woo_items as (
    -- A product that is not variable is its own single variant; a variation is a
    -- variant of its parent.
    select
        roaster_id,
        day,
        captured_at,
        created_at,
        artifact_id,
        run_id,
        case when resource = 'variations' then parent_platform_id else item_platform_id end as product_platform_id,
        item_platform_id as variant_platform_id,
        case when resource = 'variations' then parent_name else item_name end as product_title,
        case when resource = 'variations' then parent_category else category end as product_type,
        item_name as variant_title,
        case when resource = 'variations' then options else '[]'::jsonb end as options,
        price,
        list_price,
        coalesce(on_sale, false) as on_sale_flag,
        is_in_stock as in_stock,
        currency,
        item_position as listing_position
    from woo_families
    where resource = 'variations' or coalesce(item_type, 'simple') <> 'variable'
),

unioned as (
    select * from shopify
    union all
    select * from woo_items
),

named_options as (
    -- One pass over a row's options for both lookups by name; the fallbacks in final
    -- (any option that reads as a grind or a weight) run only when this finds none.
    select
        unioned.*,
        by_name.grind as named_grind,
        by_name.weight_g as named_weight_g
    from unioned
    cross join lateral (
        select
            min({{ grind("opt ->> 'value'") }}) filter (
                where lower(opt ->> 'name') in ('grind', 'grind size', 'grind type', 'type')
            ) as grind,
            min({{ weight_g("opt ->> 'value'") }}) filter (
                where lower(opt ->> 'name') in ('size', 'weight', 'pack size', 'bag size', 'net weight')
            ) as weight_g
        from jsonb_array_elements(unioned.options) as opt
    ) as by_name
),

final as (
    select
        roaster_id || ':' || variant_platform_id as variant_id,
        roaster_id || ':' || product_platform_id as product_id,
        roaster_id,
        day,
        captured_at as scraped_at,
        round(price, 2)::numeric(12, 2) as price,
        currency,
        -- compare_at is only a list price when it is above the price ("0.00" and equal
        -- values mean "not on sale" on Shopify).
        (case when list_price > price then round(list_price, 2) end)::numeric(12, 2) as compare_at_price,
        coalesce(list_price > price, false) or on_sale_flag as is_sale,
        in_stock,
        artifact_id,
        run_id,
        product_title,
        product_type,
        variant_title,
        coalesce(
            named_grind,
            (select min({{ grind("opt ->> 'value'") }}) from jsonb_array_elements(named_options.options) as opt)
        ) as grind,
        coalesce(
            named_weight_g,
            (select min({{ weight_g("opt ->> 'value'") }}) from jsonb_array_elements(named_options.options) as opt)
        ) as weight_g,
        created_at as artifact_created_at,
        -- where on its page the row was listed (product, then variant; a product has far
        -- fewer than a million variants): the tiebreak when a page lists a variant twice
        listing_position
    from named_options
)

select * from final
