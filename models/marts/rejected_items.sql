-- depends_on: {{ ref('int_artifacts_dated') }}
{#- append_new_columns: rows built before a column existed hold null there (no
    code_version: stale, so the next reparse rewrites them) -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='range_replace',
        unique_key=['artifact_id', 'listing_position'],
        on_schema_change='append_new_columns',
        pre_hook="{{ mark_full_rebuild() }}",
        post_hook="{{ log_full_rebuild() }}",
        indexes=[
            {'columns': ['roaster_id', 'day']},
            {'columns': ['run_id']},
        ],
    )
}}

{#- what this build replaces (computed once: see macros/range/replaced_range.sql) -#}
{%- set replaced = replaced_range() if is_incremental() else none %}

with

artifacts as (
    select * from {{ ref('scrape_artifacts') }}
    {% if is_incremental() %}
        where {{ captured_window('captured_at', replaced) }}
    {% endif %}
),

in_range as (
    select * from artifacts
    {% if is_incremental() %}
        where {{ range_predicate(replaced) }}
    {% endif %}
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

flagged_pages as not materialized (
    -- Only the pages whose verdict counted a rejected offer, or that list variations (a
    -- listed variation may not have been returned), and the variation pages of their
    -- runs: a clean Shopify page is never opened twice.
    select * from in_range
    where
        is_readable
        and not is_duplicate
        and (
            offers > priced_offers
            or listed_variations > 0
            or (resource = 'variations' and platform = 'woocommerce')
        )
),

{{ offers_from_pages('flagged_pages') }},

final as (
    select
        artifact_id,
        run_id,
        roaster_id,
        day,
        captured_at as scraped_at,
        listing_position,
        roaster_id || ':' || product_platform_id as product_id,
        roaster_id || ':' || coalesce(variant_platform_id, product_platform_id) as variant_id,
        product_platform_id,
        variant_platform_id,
        listing_type,
        product_title,
        variant_title,
        rejection_reason as reason,
        jsonb_build_object('price', raw_price, 'currency', currency) as raw_value,
        created_at as artifact_created_at,
        {{ provenance_columns() }}
    from checked
    where rejection_reason is not null
)

select * from final
