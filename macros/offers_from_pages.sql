{% macro offers_from_pages(pages) -%}
    {#- The CTEs that turn catalog pages into offers, both platforms in one shape, ending
        in `checked` (one row per offer, with rejection_reason from item_rejection_reason):
        a Shopify variant, a WooCommerce simple, external or untyped product, a variation,
        and every variation a parent lists that no variation page of the run returned.
        `pages` names a CTE of rows of marts.scrape_artifacts to read; the caller imports
        shopify_rows, woo_rows (NOT MATERIALIZED) and iso_currencies. One definition for
        int_prices_observed (every readable page) and rejected_items (the pages
        whose verdict counted a rejected offer or a listed variation). -#}
shopify as (
    select
        {{ pages }}.roaster_id,
        {{ pages }}.day,
        {{ pages }}.captured_at,
        {{ pages }}.created_at,
        {{ pages }}.id as artifact_id,
        {{ pages }}.run_id,
        shopify_rows.product_platform_id,
        shopify_rows.variant_platform_id,
        shopify_rows.product_title,
        shopify_rows.product_type,
        shopify_rows.variant_title,
        'variant' as listing_type,
        shopify_rows.options,
        shopify_rows.product_options as sibling_options,
        shopify_rows.price_major as price,
        {{ decimal_or_null('shopify_rows.compare_at_text') }} as list_price,
        false as on_sale_flag,
        shopify_rows.available as in_stock,
        null::boolean as is_on_backorder,
        {{ pages }}.shop_currency as currency,
        shopify_rows.item_problems,
        shopify_rows.price_text as raw_price,
        shopify_rows.product_position * 1000000 + shopify_rows.variant_position as listing_position
    -- Lateral with OFFSET 0 (PostgreSQL then cannot flatten it into a join): each page's
    -- rows are parsed from that page, found by key, never from every page in raw.
    from {{ pages }}
    cross join
        lateral (
            select shopify_rows.* from shopify_rows
            where shopify_rows.artifact_id = {{ pages }}.id
            offset 0  -- noqa: AM09
        ) as shopify_rows
    where {{ pages }}.platform = 'shopify'
),

woo_readable as not materialized (
    select
        woo_rows.*,
        {{ pages }}.day,
        {{ pages }}.created_at
    from {{ pages }}
    cross join
        lateral (
            select woo_rows.* from woo_rows
            where woo_rows.artifact_id = {{ pages }}.id
            offset 0  -- noqa: AM09  (as above: not flattened, one lookup per page)
        ) as woo_rows
    where {{ pages }}.platform = 'woocommerce'
),

woo_families as (
    -- A variation's parent is the product listed on a readable products page of the
    -- same run. A window, not a join back to the listing: one pass over the range's rows
    -- (a join here was planned as a rescan per variation). roaster_id and day lead the
    -- partition (run_id implies both) so a caller's range filter passes the window.
    select
        woo_readable.*,
        first_value(case when woo_readable.resource = 'products' then woo_readable.item_name end) over family
            as parent_name,
        first_value(case when woo_readable.resource = 'products' then woo_readable.category end) over family
            as parent_category,
        first_value(case when woo_readable.resource = 'products' then woo_readable.attributes end) over family
            as parent_attributes
    from woo_readable
    window family as (
        partition by
            woo_readable.roaster_id,
            woo_readable.day,
            woo_readable.run_id,
            coalesce(woo_readable.parent_platform_id, woo_readable.item_platform_id)
        order by woo_readable.resource <> 'products', woo_readable.captured_at
    )
),

woo_items as (
    -- Simple (and external, and untyped) products are their own single variant; a
    -- variation is a variant of its parent; variable and grouped parents are no offer.
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
        case when resource = 'variations' then 'variation' else coalesce(item_type, 'simple') end as listing_type,
        case when resource = 'variations' then options else '[]'::jsonb end as options,
        case when resource = 'variations' then coalesce(parent_attributes, '[]'::jsonb) else '[]'::jsonb end
            as sibling_options,
        price_major as price,
        list_major as list_price,
        coalesce(on_sale, false) as on_sale_flag,
        is_in_stock as in_stock,
        is_on_backorder,
        currency,
        item_problems,
        price_minor_text as raw_price,
        item_position as listing_position
    from woo_families
    where yields_price
),

listed_variations as (
    -- every variation a variable parent lists on a readable products page
    select
        woo_readable.roaster_id,
        woo_readable.day,
        woo_readable.captured_at,
        woo_readable.created_at,
        woo_readable.artifact_id,
        woo_readable.run_id,
        woo_readable.item_platform_id as product_platform_id,
        listed.value ->> 'id' as variant_platform_id,
        woo_readable.item_name as product_title,
        woo_readable.category as product_type,
        woo_readable.item_position * 1000000 + listed.n as listing_position
    from woo_readable
    cross join lateral jsonb_array_elements(woo_readable.listed_variations) with ordinality as listed (value, n)
    where woo_readable.resource = 'products' and jsonb_typeof(listed.value -> 'id') = 'number'
),

returned_variations as (
    select distinct
        roaster_id,
        day,
        run_id,
        item_platform_id
    from woo_readable
    where resource = 'variations'
),

not_returned as (
    -- listed, but no variation page of the run returned it: the day cannot be complete
    -- (roaster_id and day in the join, so the caller's filter reaches both sides)
    select
        listed_variations.roaster_id,
        listed_variations.day,
        listed_variations.captured_at,
        listed_variations.created_at,
        listed_variations.artifact_id,
        listed_variations.run_id,
        listed_variations.product_platform_id,
        listed_variations.variant_platform_id,
        listed_variations.product_title,
        listed_variations.product_type,
        null as variant_title,
        'variation' as listing_type,
        '[]'::jsonb as options,
        '[]'::jsonb as sibling_options,
        null::numeric as price,
        null::numeric as list_price,
        false as on_sale_flag,
        null::boolean as in_stock,
        null::boolean as is_on_backorder,
        null as currency,
        '["variation not returned"]'::jsonb as item_problems,
        null as raw_price,
        listed_variations.listing_position
    from listed_variations
    left join returned_variations
        on
            listed_variations.roaster_id = returned_variations.roaster_id
            and listed_variations.day = returned_variations.day
            and listed_variations.run_id = returned_variations.run_id
            and listed_variations.variant_platform_id = returned_variations.item_platform_id
    where returned_variations.item_platform_id is null
),

unioned as (
    select * from shopify
    union all
    select * from woo_items
    union all
    select * from not_returned
),

checked as (
    select
        unioned.*,
        iso.minor_units,
        {{ item_rejection_reason('unioned.item_problems', 'unioned.price', 'unioned.currency', 'iso') }}
            as rejection_reason
    from unioned
    left join iso_currencies as iso on unioned.currency = iso.currency_code
)
{%- endmacro %}
