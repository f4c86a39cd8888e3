{#- One row per (artifact, product, variant) of every Shopify products.json page, and
    one row with a null variant for a product without variants. Values stay text here;
    `problems` lists what would make the page invalid. -#}
with

artifacts as (
    select * from {{ ref('stg_raw__scrape_artifacts') }}
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
        variants.variant ->> 'price' as price_text,
        variants.variant ->> 'compare_at_price' as compare_at_text,
        case
            when jsonb_typeof(variants.variant -> 'available') = 'boolean'
                then (variants.variant ->> 'available')::boolean
        end as available,
        variants.options,
        jsonb_typeof(variants.product -> 'id') = 'number' as has_product_id,
        jsonb_typeof(variants.variant -> 'id') = 'number' as has_variant_id,
        variants.variant is null as is_without_variants
    from with_options as variants
),

final as (
    select
        *,
        to_jsonb(array_remove(array[
            case when not has_product_id then 'product id missing' end,
            case when coalesce(product_title, '') = '' then 'product title missing' end,
            case when is_without_variants then 'no variants' end,
            case when not is_without_variants and not has_variant_id then 'variant id missing' end,
            case
                when not is_without_variants and {{ decimal_or_null('price_text') }} is null
                    then 'price not a number'
            end,
            case when {{ decimal_or_null('price_text') }} <= 0 then 'price <= 0' end,
            case when {{ decimal_or_null('price_text') }} > {{ var('max_price') }} then 'price absurd' end,
            case
                when compare_at_text is not null and {{ decimal_or_null('compare_at_text') }} is null
                    then 'compare_at_price not a number'
            end
        ], null)) as problems
    from fields
)

select * from final
