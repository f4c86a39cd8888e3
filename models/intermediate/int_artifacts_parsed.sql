{#- One row per raw artifact with its body, parsed (from int_bodies_parsed by sha256, or
    the legacy jsonb of a capture stored before raw.bodies), and the problems visible
    without opening the catalog inside: HTTP status, fetch error, not JSON, wrong
    top-level shape. A view: a caller's filter on the artifact reaches raw, and the
    body is one index lookup per artifact kept. -#}
with

artifacts as not materialized (
    select * from {{ ref('stg_raw__scrape_artifacts') }}
),

parsed_bodies as not materialized (
    select * from {{ ref('int_bodies_parsed') }}
),

raw_bodies as not materialized (
    select * from {{ ref('stg_raw__bodies') }}
),

bodied as (
    select
        artifacts.*,
        coalesce(artifacts.legacy_body, parsed.body, unparsed.body) as body
    from artifacts
    -- OFFSET 0 keeps each lookup a lookup by key per artifact: flattened into a join,
    -- PostgreSQL may hash the whole table of bodies before a caller's filter applies
    left join lateral (
        select
            parsed_bodies.body,
            true as is_parsed
        from parsed_bodies
        where parsed_bodies.sha256 = artifacts.sha256 and artifacts.legacy_body is null
        offset 0  -- noqa: AM09
    ) as parsed on true
    -- a body stored since int_bodies_parsed was last built: parsed here
    left join lateral (
        select {{ try_jsonb('raw_bodies.body_text') }} as body
        from raw_bodies
        where
            raw_bodies.sha256 = artifacts.sha256 and artifacts.legacy_body is null
            and parsed.is_parsed is null
        offset 0  -- noqa: AM09
    ) as unparsed on true
),

typed as (
    select
        *,
        jsonb_typeof(body) as body_type
    from bodied
),

checked as (
    select
        *,
        coalesce(body_type = 'object' and body ? 'errors', false) as is_end_marker,
        to_jsonb(array_remove(array[
            case when page_status is null then 'no response' end,
            case when page_status not between 200 and 299 then 'http ' || http_status end,
            case when fetch_error is not null then 'fetch error: ' || split_part(fetch_error, ':', 1) end,
            case
                when resource <> 'robots' and body is null and page_status between 200 and 299
                    then 'not json'
            end,
            case
                when resource = 'products' and page_status between 200 and 299
                    and body_type = 'object' and not body ? 'errors'
                    and jsonb_typeof(body -> 'products') is distinct from 'array'
                    then 'missing key products'
            end,
            case
                when resource in ('products', 'variations') and page_status between 200 and 299
                    and body_type not in ('object', 'array')
                    then 'unexpected json ' || body_type
            end,
            case
                when resource = 'variations' and page_status between 200 and 299 and body_type = 'object'
                    then 'not a json array'
            end,
            case
                when resource = 'meta' and page_status between 200 and 299 and body is not null
                    and jsonb_typeof(body -> 'currency') is distinct from 'string'
                    then 'missing key currency'
            end
        ], null)) as structural_errors
    from typed
),

final as (
    select * from checked
)

select * from final
