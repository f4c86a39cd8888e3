{#- One row per item of every WooCommerce Store API page: products (resource
    'products') and variations (resource 'variations', fetched with type=variation).
    Prices stay in minor units as text here, plus `price_major` in major units. Two levels
    of problems: `page_problems` make the whole page unreadable (an item without an id),
    `item_problems` leave only this item out of prices. Variable and grouped parents carry
    no price of their own (`yields_price` false): their variations and children do. -#}
with

artifacts as (
    select * from {{ ref('int_artifacts_parsed') }}
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
    -- A variation's options: "Weight: 250g, Grind: Whole Bean" -> [{name, value}, ...];
    -- an attribute without a value ("Grind: ", or null in the record's own attributes)
    -- is left out and the others kept. A lateral subquery, not a grouped CTE: the view
    -- stays flat, so a filter on the page reaches raw.
    select
        items.*,
        coalesce(variation_options.options, '[]'::jsonb) as options
    from items
    cross join lateral (  -- noqa: ST05
        select
            jsonb_agg(
                jsonb_build_object('name', parts.name, 'value', parts.value)
                order by parts.n
            ) as options
        from (
            select
                trim(split_part(part.value, ':', 1)) as name,
                trim(substr(part.value, strpos(part.value, ':') + 1)) as value,
                part.n
            from unnest(string_to_array(items.item ->> 'variation', ', ')) with ordinality as part (value, n)
            where strpos(part.value, ':') > 0
            union all
            select
                own.value ->> 'name' as name,
                own.value ->> 'value' as value,
                1000 + own.n as n
            from jsonb_array_elements(
                    case when jsonb_typeof(items.item -> 'attributes') = 'array' then items.item -> 'attributes' end
                ) with ordinality as own (value, n)
            where
                coalesce(items.item ->> 'variation', '') = ''
                and jsonb_typeof(own.value -> 'value') = 'string'
        ) as parts
        where parts.value <> ''
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
        case
            when jsonb_typeof(items.item -> 'is_on_backorder') = 'boolean'
                then (items.item ->> 'is_on_backorder')::boolean
        end as is_on_backorder,
        -- the variations a variable parent lists ({id, attributes}), to check the
        -- type=variation listing returned them all
        case
            when jsonb_typeof(items.item -> 'variations') = 'array' then items.item -> 'variations'
            else '[]'::jsonb
        end as listed_variations,
        items.options,
        -- a parent's attributes with all their terms: what its variations say
        case
            when jsonb_typeof(items.item -> 'attributes') = 'array' then items.item -> 'attributes'
            else '[]'::jsonb
        end as attributes,
        coalesce(jsonb_typeof(items.item -> 'id') = 'number', false) as has_id,
        coalesce(jsonb_typeof(items.item -> 'prices') = 'object', false) as has_prices
    from with_options as items
),

typed as (
    select
        *,
        -- simple, external and unknown types are offers; a variable parent's price is its
        -- variations', a grouped product's its cheapest child's, each listed on its own
        resource = 'variations' or coalesce(item_type, 'simple') not in ('variable', 'grouped') as yields_price,
        coalesce(price_minor_text ~ '^-?[0-9]+$' and minor_unit_text ~ '^[0-9]$', false) as has_number
    from fields
),

final as (
    select
        *,
        case
            -- exact: the scale is the shop's minor unit (0, 2 and 3 all occur)
            when has_number
                then round(price_minor_text::numeric / power(10::numeric, minor_unit_text::int), minor_unit_text::int)
        end as price_major,
        case
            when has_number and regular_minor_text ~ '^[0-9]+$'
                then round(regular_minor_text::numeric / power(10::numeric, minor_unit_text::int), minor_unit_text::int)
        end as list_major,
        to_jsonb(array_remove(array[
            case when not has_id then 'id missing' end
        ], null)) as page_problems,
        to_jsonb(array_remove(array[
            case when resource = 'products' and coalesce(item_name, '') = '' then 'product name missing' end,
            case when resource = 'variations' and parent_platform_id is null then 'variation without parent' end,
            case when not has_prices then 'prices missing' end,
            case when has_prices and price_minor_text is null then 'price missing' end,
            case when price_minor_text !~ '^-?[0-9]+$' then 'price not a number' end,
            case when price_minor_text ~ '^(0+|-[0-9]+)$' then 'price <= 0' end,
            case
                when has_prices and coalesce(minor_unit_text, '') !~ '^[0-9]$'
                    then 'currency_minor_unit not an integer'
            end
        ], null)) as item_problems
    from typed
)

select * from final
