{#- One row per (artifact, product, variant) of every Shopify products.json page, and
    one row with a null variant for a product without variants. Values stay text here.
    Two levels of problems: `page_problems` make the whole page unreadable (an item
    without an id), `item_problems` leave only this variant out of prices (a missing,
    non-numeric, zero or negative price; a product without title or variants). -#}
with

artifacts as (
    select * from {{ ref('int_artifacts_parsed') }}
),

pages as (
    select
        artifact_id,
        run_id,
        roaster_id,
        captured_at,
        body
    from artifacts
    where
        resource = 'products'
        and body_type = 'object'
        and jsonb_typeof(body -> 'products') = 'array'
),

products as (
    select
        pages.artifact_id,
        pages.run_id,
        pages.roaster_id,
        pages.captured_at,
        product.value as product,
        product.ordinality as product_position
    from pages
    cross join lateral jsonb_array_elements(pages.body -> 'products') with ordinality as product (value, ordinality)
),

variants as (
    select
        products.*,
        variant.value as variant,
        variant.ordinality as variant_position,
        case
            when jsonb_typeof(products.product -> 'options') = 'array' then products.product -> 'options'
            else '[]'::jsonb
        end as product_options
    from products
    left join lateral jsonb_array_elements(
        case when jsonb_typeof(products.product -> 'variants') = 'array' then products.product -> 'variants' end
    ) with ordinality as variant (value, ordinality) on true
),

with_options as (
    -- (option name, value) pairs: names come from product.options by position, so
    -- "250g / Whole Bean" and "Whole Bean / 250g" map the same way. Shopify has at most
    -- three options, so one array expression per variant (an aggregate over the
    -- product's options per variant cost a third of this view's time).
    select
        variants.*,
        to_jsonb(array_remove(array[
            {%- for n in range(1, 4) %}
                case
                    when variants.variant ->> 'option{{ n }}' is not null
                        and jsonb_array_length(variants.product_options) >= {{ n }}
                        then jsonb_build_object(
                                'name', variants.product_options -> {{ n - 1 }} ->> 'name',
                                'value', variants.variant ->> 'option{{ n }}'
                            )
                end{{ "," if not loop.last }}
            {%- endfor %}
        ], null)) as options
    from variants
),

fields as (
    select
        variants.artifact_id,
        variants.run_id,
        variants.roaster_id,
        variants.captured_at,
        variants.product_position,
        variants.variant_position,
        variants.product ->> 'id' as product_platform_id,
        variants.product ->> 'title' as product_title,
        variants.product ->> 'product_type' as product_type,
        variants.variant ->> 'id' as variant_platform_id,
        variants.variant ->> 'title' as variant_title,
        -- a string ("15.99") on the storefront, a number on some endpoints: text either way
        variants.variant ->> 'price' as price_text,
        -- null, "" and "0.00" all mean "no list price"; the marts keep only one above the price
        nullif(trim(variants.variant ->> 'compare_at_price'), '') as compare_at_text,
        case
            when jsonb_typeof(variants.variant -> 'available') = 'boolean'
                then (variants.variant ->> 'available')::boolean
        end as available,
        variants.options,
        -- every option of the product with all its values: what the product's other variants say
        variants.product_options,
        coalesce(jsonb_typeof(variants.product -> 'id') = 'number', false) as has_product_id,
        coalesce(jsonb_typeof(variants.variant -> 'id') = 'number', false) as has_variant_id,
        variants.variant is null as is_without_variants
    from with_options as variants
),

final as (
    select
        *,
        {{ decimal_or_null('price_text') }} as price_major,
        to_jsonb(array_remove(array[
            case when not has_product_id then 'product id missing' end,
            case when not is_without_variants and not has_variant_id then 'variant id missing' end
        ], null)) as page_problems,
        to_jsonb(array_remove(array[
            case when coalesce(product_title, '') = '' then 'product title missing' end,
            case when is_without_variants then 'no variants' end,
            case when not is_without_variants and price_text is null then 'price missing' end,
            case
                when price_text is not null and {{ decimal_or_null('price_text') }} is null
                    then 'price not a number'
            end,
            case when {{ decimal_or_null('price_text') }} <= 0 then 'price <= 0' end
        ], null)) as item_problems
    from fields
)

select * from final
