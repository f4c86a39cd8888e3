-- depends_on: {{ ref('int_artifacts_dated') }}
{#- append_new_columns: rows built before a column existed hold null there (no
    code_version: stale, so the next reparse rewrites them) -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='range_replace',
        unique_key=['variant_id', 'scraped_at'],
        on_schema_change='append_new_columns',
        pre_hook="{{ mark_full_rebuild() }}",
        post_hook="{{ log_full_rebuild() }}",
        indexes=[
            {'columns': ['roaster_id', 'day']},
        ],
    )
}}

{#- what this build replaces (computed once: see macros/range/replaced_range.sql) -#}
{%- set replaced = replaced_range() if is_incremental() else none %}

with

observations as (
    select * from {{ ref('int_prices_observed') }}
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

{{ option_facts('deduped') }},

final as (
    select
        deduped.variant_id,
        deduped.product_id,
        deduped.roaster_id,
        deduped.day,
        deduped.scraped_at,
        deduped.price,
        deduped.currency,
        deduped.compare_at_price,
        deduped.is_sale,
        deduped.in_stock,
        deduped.is_on_backorder,
        deduped.artifact_id,
        deduped.run_id,
        deduped.product_title,
        deduped.product_type,
        deduped.variant_title,
        deduped.listing_type,
        option_facts.grind,
        option_facts.brew_methods,
        option_facts.weight_g,
        option_facts.pack_count,
        deduped.artifact_created_at,
        {{ provenance_columns() }}
    from deduped
    inner join option_facts
        on
            coalesce(deduped.options, '[]'::jsonb) = option_facts.options
            and coalesce(deduped.sibling_options, '[]'::jsonb) = option_facts.sibling_options
)

select * from final
