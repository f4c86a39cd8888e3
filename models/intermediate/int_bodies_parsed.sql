{#- One row per distinct body: the body parsed, once (null when it is not JSON jsonb
    accepts, or not UTF-8 text). A build parses only the bodies stored since the previous
    one, so the cost of parsing follows the number of distinct bodies, not of captures (an
    unchanged page fetched every day is parsed on its first day only). A body stored after
    the last build of this model is parsed where it is read (int_artifacts_parsed), so a
    build that selects only some models never reads a page as "not json". -#}
{{
    config(
        materialized='incremental',
        unique_key='sha256',
        on_schema_change='fail',
        indexes=[{'columns': ['sha256'], 'unique': True}],
    )
}}

with

bodies as (
    select * from {{ ref('stg_raw__bodies') }}
),

new_bodies as (
    select
        sha256,
        body_text
    from bodies
    {% if is_incremental() %}
        where not exists (select from {{ this }} as parsed where parsed.sha256 = bodies.sha256)
    {% endif %}
),

parsed as (
    select
        sha256,
        {{ try_jsonb('body_text') }} as body
    from new_bodies
),

final as (
    select
        sha256,
        body
    from parsed
)

select * from final
