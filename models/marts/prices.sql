-- depends_on: {{ ref('int_artifact_days') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='range_replace',
        on_schema_change='fail',
        pre_hook="{{ mark_full_rebuild() }}",
        post_hook="{{ log_full_rebuild() }}",
        indexes=[
            {'columns': ['roaster_id', 'day']},
            {'columns': ['variant_id', 'scraped_at'], 'unique': true},
        ],
    )
}}

{#- what this build replaces (computed once: see replaced_range in macros/range.sql) -#}
{%- set replaced = replaced_range() if is_incremental() else none %}

with

observations as (
    select * from {{ ref('int_prices__observations') }}
    {% if is_incremental() %}
        where {{ captured_window('scraped_at', replaced) }}
    {% endif %}
),

in_range as (
    select * from observations
    {% if is_incremental() %}
        where {{ range_predicate(replaced) }}
    {% endif %}
),

priced as (
    -- priced offers only: the others are in rejected_items, with their reason
    select * from in_range
    where rejection_reason is null
),

deduped as (
    -- A variant seen twice at one scrape time (a catalog shifting between page requests
    -- of one archived capture, or a page listing it twice): the lowest artifact id and
    -- on its page the first listing win, so every rebuild keeps the same row.
    select distinct on (variant_id, scraped_at) *
    from priced
    order by variant_id, scraped_at, artifact_id, listing_position
),

final as (
    select
        variant_id,
        product_id,
        roaster_id,
        day,
        scraped_at,
        price,
        currency,
        compare_at_price,
        is_sale,
        in_stock,
        is_on_backorder,
        artifact_id,
        run_id,
        product_title,
        product_type,
        variant_title,
        listing_type,
        grind,
        brew_methods,
        weight_g,
        pack_count,
        artifact_created_at
    from deduped
)

select * from final
