{#- One row per item of every WooCommerce Store API page: products (resource
    'products') and variations (resource 'variations', fetched with type=variation).
    Prices stay in minor units as text here; `problems` lists what would make the page
    invalid. -#}
with

artifacts as (
    select * from {{ ref('stg_raw__scrape_artifacts') }}
),

pages as (
    select
        artifact_id,
        run_id,
        roaster_id,
        resource,
        captured_at,
        body
    from artifacts
    where
        resource in ('products', 'variations')
        and body_type = 'array'
),

items as (
    select
        pages.artifact_id,
        pages.run_id,
        pages.roaster_id,
        pages.resource,
        pages.captured_at,
        item.value as item,
        item.ordinality as item_position
    from pages
    cross join lateral jsonb_array_elements(pages.body) with ordinality as item (value, ordinality)
),

with_options as (
    -- A variation's options: "Weight: 250g, Grind: Whole Bean" -> [{name, value}, ...].
    -- A lateral subquery, not a grouped CTE: the view stays flat, so a filter on the
    -- page reaches raw.
    select
        items.*,
        coalesce(variation_options.options, '[]'::jsonb) as options
    from items
    cross join lateral (
        select
            jsonb_agg(
                jsonb_build_object(
                    'name', trim(split_part(part.value, ':', 1)),
                    'value', trim(substr(part.value, strpos(part.value, ':') + 1))
                )
                order by part.n
            ) as options
        from unnest(string_to_array(items.item ->> 'variation', ', ')) with ordinality as part (value, n)
        where strpos(part.value, ':') > 0
    ) as variation_options
),

fields as (
    select
        items.artifact_id,
        items.run_id,
        items.roaster_id,
        items.resource,
        items.captured_at,
        items.item_position,
        items.item ->> 'id' as item_platform_id,
        nullif(items.item ->> 'parent', '0') as parent_platform_id,
        items.item ->> 'type' as item_type,
        items.item ->> 'name' as item_name,
        items.item -> 'categories' -> 0 ->> 'name' as category,
        items.item -> 'prices' ->> 'price' as price_minor_text,
        items.item -> 'prices' ->> 'regular_price' as regular_minor_text,
        items.item -> 'prices' ->> 'currency_code' as currency,
        items.item -> 'prices' ->> 'currency_minor_unit' as minor_unit_text,
        case
            when jsonb_typeof(items.item -> 'on_sale') = 'boolean' then (items.item ->> 'on_sale')::boolean
        end as on_sale,
        case
            when jsonb_typeof(items.item -> 'is_in_stock') = 'boolean' then (items.item ->> 'is_in_stock')::boolean
        end as is_in_stock,
        items.options,
        jsonb_typeof(items.item -> 'id') = 'number' as has_id,
        jsonb_typeof(items.item -> 'prices') = 'object' as has_prices
    from with_options as items
),

final as (
    select
        *,
        to_jsonb(array_remove(array[
            case when not has_id then 'id missing' end,
            case when resource = 'products' and coalesce(item_name, '') = '' then 'product name missing' end,
            case when resource = 'variations' and parent_platform_id is null then 'variation without parent' end,
            case when not has_prices then 'prices missing' end,
            case when has_prices and coalesce(price_minor_text, '') !~ '^[0-9]+$' then 'price not a number' end,
            case when price_minor_text ~ '^0+$' then 'price <= 0' end,
            case
                when has_prices and coalesce(minor_unit_text, '') !~ '^[0-9]$'
                    then 'currency_minor_unit not an integer'
            end,
            case when has_prices and coalesce(currency, '') !~ '^[A-Z]{3}$' then 'unknown currency' end,
            case
                when price_minor_text ~ '^[0-9]+$' and minor_unit_text ~ '^[0-9]$'
                    and price_minor_text::numeric / power(10::numeric, minor_unit_text::int) > {{ var('max_price') }}
                    then 'price absurd'
            end
        ], null)) as problems
    from fields
)

select * from final
