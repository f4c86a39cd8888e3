{#- One row per distinct body that is JSON jsonb accepts: the body parsed, once. A build
    parses only the bodies stored since the previous one, so the cost of parsing follows
    the number of distinct bodies, not of captures (an unchanged page fetched every day is
    parsed on its first day only). Bodies that are not UTF-8 text, or not JSON, have no
    row here: their captures read as "not json". -#}
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
    where
        body_text is not null
        {% if is_incremental() %}
            and not exists (select from {{ this }} as parsed where parsed.sha256 = bodies.sha256)
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
    where body is not null
)

select * from final
