{#- One row per raw artifact (a capture), typed. The body is not here: a capture names
    it by sha256 (raw.bodies, parsed in int_bodies_parsed); only captures stored before
    bodies were kept byte for byte carry their JSON here, as legacy_body. -#}
with

source as not materialized (
    select * from {{ source('raw', 'scrape_artifacts') }}
),

final as (
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
        -- a 304 to our conditional request stands for the page: its body is the previous capture's
        case when http_status = 304 and sha256 is not null then 200 else http_status end as page_status,
        content_type,
        headers,
        body as legacy_body,
        sha256,
        byte_length,
        byte_exact,
        captured_at,
        archive_timestamp,
        error as fetch_error,
        created_at,
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
)

select * from final
