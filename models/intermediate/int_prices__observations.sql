{#- One row per offer (a variant, a simple or external product, a variation) on a
    readable, first-of-its-kind catalog page, and one per variation that a parent lists
    but the run never returned: both platforms in one shape, money in major units, grind,
    brew methods, weight and pack count normalized. `rejection_reason` is null for the
    offers that are priced (the rows of `prices`) and says why for the others (the rows of
    `rejected_items`). CTEs used more than once are NOT MATERIALIZED, so the caller's
    (roaster_id, day) filter reaches raw. -#}
with

-- The page verdicts the same build has just written for the range: read from the mart
-- (a table, by index) rather than from int_artifacts__validated, which would validate
-- every page of the range once more.
artifacts as (
    select * from {{ ref('scrape_artifacts') }}
),

shopify_rows as (
    select * from {{ ref('stg_shopify__variants') }}
),

woo_rows as not materialized (
    select * from {{ ref('stg_woo__items') }}
),

iso_currencies as not materialized (
    select * from {{ ref('iso_currencies') }}
),

readable_pages as not materialized (
    -- pages whose envelope and ids could be read; a page invalid only because none of
    -- its offers is priced still explains each of them in rejected_items
    select
        id as artifact_id,
        run_id,
        roaster_id,
        day,
        platform,
        captured_at,
        created_at,
        shop_currency
    from artifacts
    where
        is_readable
        and not is_duplicate
),

{{ offers_from_pages('readable_pages') }},

named_options as (
    -- One pass over a row's options, each classified by its name (option_kind): the
    -- weight and grind options by name, the bare number under a weight option, and the
    -- fallbacks (an option of unknown name that reads as a weight or, unambiguously, as
    -- a grind) used only when no option is named.
    select
        checked.*,
        by_name.grind_value,
        by_name.named_label,
        by_name.bare_grams,
        by_name.fallback_label,
        by_name.fallback_grind,
        by_name.pack_label,
        coalesce(by_name.has_gram_label, false) as has_gram_label
    from checked
    cross join lateral (  -- noqa: ST05
        select
            min(opt.value) filter (where opt.kind = 'grind') as grind_value,
            min(opt.value) filter (where opt.kind = 'weight' and {{ unit_weight_g('opt.value') }} is not null)
                as named_label,
            min(opt.value::numeric) filter (where opt.kind = 'weight' and opt.value ~ '^\s*[0-9]+(\.[0-9]+)?\s*$')
                as bare_grams,
            bool_or({{ is_gram_label('opt.value') }}) filter (where opt.kind = 'weight') as has_gram_label,
            min(opt.value) filter (where opt.kind is null and {{ unit_weight_g('opt.value') }} is not null)
                as fallback_label,
            min({{ grind_term('opt.value') }}) filter (
                where opt.kind is null and {{ grind_term('opt.value') }} not in ('espresso', 'filter', 'drip')
            ) as fallback_grind,
            -- a count without a weight ("10 count", "12 Pack") under a size option or an unknown one
            min(opt.value) filter (
                where coalesce(opt.kind, 'weight') = 'weight' and {{ pack_count('opt.value') }} is not null
            ) as pack_label
        from (
            select
                option_rows.value ->> 'value' as value,
                {{ option_kind("option_rows.value ->> 'name'") }} as kind
            from jsonb_array_elements(checked.options) as option_rows (value)
        ) as opt
    ) as by_name
),

sized as (
    -- A bare number under a weight option ("200") is grams only where the product's
    -- other variants on the run's pages write grams ("250g"); roaster_id and day lead
    -- the partition so a caller's range filter passes the window.
    select
        *,
        coalesce(named_label, fallback_label) as size_label,
        case
            when named_label is null and bare_grams is not null
                and bool_or(has_gram_label) over (
                    partition by roaster_id, day, run_id, product_platform_id
                )
                then bare_grams
        end as bare_weight_g,
        {{ grind_terms('grind_value') }} as grind_words
    from named_options
),

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
        coalesce({{ grind_from_terms('grind_words') }}, fallback_grind) as grind,
        {{ brew_methods_from_terms('grind_words') }} as brew_methods,
        coalesce(
            round({{ unit_weight_g('size_label') }} * coalesce({{ pack_count('size_label') }}, 1))::integer,
            round(bare_weight_g)::integer
        ) as weight_g,
        coalesce(
            {{ pack_count('size_label') }},
            {{ pack_count('pack_label') }},
            case when size_label is not null or bare_weight_g is not null then 1 end
        ) as pack_count,
        rejection_reason,
        created_at as artifact_created_at,
        -- where on its page the row was listed (product, then variant; a product has far
        -- fewer than a million variants): the tiebreak when a page lists a variant twice
        listing_position
    from sized
)

select * from final
