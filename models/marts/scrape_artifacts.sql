-- depends_on: {{ ref('int_artifacts_dated') }}
{#- append_new_columns: rows built before a column existed hold null there (no
    code_version: stale, so the next reparse rewrites them) -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='range_replace',
        unique_key='id',
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

validated as (
    select * from {{ ref('int_artifacts_validated') }}
    {% if is_incremental() %}
        where {{ captured_window('captured_at', replaced) }}
    {% endif %}
),

in_range as (
    select * from validated
    {% if is_incremental() %}
        where {{ range_predicate(replaced) }}
    {% endif %}
),

final as (
    select
        artifact_id as id,
        run_id,
        roaster_id,
        url,
        resource,
        page,
        attempt,
        artifact_source as source,
        http_status,
        page_status,
        platform,
        validation_status,
        validation_errors,
        is_readable,
        offers,
        priced_offers,
        listed_variations,
        shop_currency,
        is_catalog_page,
        is_final_attempt,
        is_duplicate,
        item_count,
        sha256,
        byte_length,
        day,
        captured_at,
        created_at,
        created_at as artifact_created_at,
        settings_read,
        {{ provenance_columns() }}
    from in_range
)

select * from final
