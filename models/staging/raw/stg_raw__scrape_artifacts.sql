{#- One row per raw artifact, typed, with the problems visible without opening the
    catalog inside: HTTP status, fetch error, not JSON, wrong top-level shape. -#}
with

source as not materialized (
    select * from {{ source('raw', 'scrape_artifacts') }}
),

shaped as (
    select
        id as artifact_id,
        run_id,
        roaster_id,
        url,
        requested_url,
        resource,
        page,
        attempt,
        source as artifact_source,
        http_status,
        content_type,
        headers,
        body,
        body_text,
        sha256,
        byte_length,
        captured_at,
        archive_timestamp,
        error as fetch_error,
        created_at,
        jsonb_typeof(body) as body_type,
        resource in ('products', 'variations') as is_catalog_page,
        -- a correlated NOT EXISTS rather than a window, so range filters reach the table
        not exists (
            select 1
            from source as later
            where
                later.run_id = source.run_id
                and later.requested_url = source.requested_url
                and later.attempt > source.attempt
        ) as is_final_attempt
    from source
),

checked as (
    select
        *,
        coalesce(body_type = 'object' and body ? 'errors', false) as is_end_marker,
        to_jsonb(array_remove(array[
            case when http_status is null then 'no response' end,
            case when http_status not between 200 and 299 then 'http ' || http_status end,
            case when fetch_error is not null then 'fetch error: ' || split_part(fetch_error, ':', 1) end,
            case
                when resource <> 'robots' and body is null and http_status between 200 and 299
                    then 'not json'
            end,
            case
                when resource = 'products' and http_status between 200 and 299
                    and body_type = 'object' and not body ? 'errors'
                    and jsonb_typeof(body -> 'products') is distinct from 'array'
                    then 'missing key products'
            end,
            case
                when resource in ('products', 'variations') and http_status between 200 and 299
                    and body_type not in ('object', 'array')
                    then 'unexpected json ' || body_type
            end,
            case
                when resource = 'variations' and http_status between 200 and 299 and body_type = 'object'
                    then 'not a json array'
            end,
            case
                when resource = 'meta' and http_status between 200 and 299 and body is not null
                    and jsonb_typeof(body -> 'currency') is distinct from 'string'
                    then 'missing key currency'
            end
        ], null)) as structural_errors
    from shaped
),

final as (
    select * from checked
)

select * from final
