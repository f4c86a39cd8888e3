{#- Every artifact with its verdict: valid or invalid, and why. Also marks duplicates:
    the same page (roaster, url, day, sha256) fetched again counts once. -#}
with

artifacts as (
    select * from {{ ref('stg_raw__scrape_artifacts') }}
),

artifact_days as (
    select * from {{ ref('int_artifact_days') }}
),

roasters as (
    select * from {{ ref('stg_raw__roasters') }}
),

shopify_rows as (
    select * from {{ ref('stg_shopify__variants') }}
),

woo_rows as (
    select * from {{ ref('stg_woo__items') }}
),

row_problems as (
    select
        artifact_id,
        jsonb_agg(distinct problem order by problem) as problems
    from (
        select
            artifact_id,
            jsonb_array_elements_text(problems) as problem
        from shopify_rows
        union all
        select
            artifact_id,
            jsonb_array_elements_text(problems) as problem
        from woo_rows
    ) as problem_rows
    group by artifact_id
),

meta_currencies as (
    -- Shopify's list JSON has no currency: meta.json of the same run, else the newest.
    select distinct on (run_id)
        run_id,
        roaster_id,
        captured_at,
        body ->> 'currency' as currency
    from artifacts
    where
        resource = 'meta'
        and jsonb_array_length(structural_errors) = 0
        and body ->> 'currency' ~ '^[A-Z]{3}$'
    order by run_id asc, captured_at desc
),

latest_meta_currency as (
    select distinct on (roaster_id)
        roaster_id,
        currency
    from meta_currencies
    order by roaster_id asc, captured_at desc
),

joined as (
    select
        artifacts.*,
        artifact_days.day,
        roasters.platform,
        artifacts.is_catalog_page and artifacts.body_type = 'object'
        and jsonb_typeof(artifacts.body -> 'products') = 'array' as is_shopify_listing,
        coalesce(roasters.currency, run_meta.currency, latest_meta_currency.currency) as shop_currency,
        case
            when artifacts.body_type = 'array' then jsonb_array_length(artifacts.body)
            when jsonb_typeof(artifacts.body -> 'products') = 'array'
                then jsonb_array_length(artifacts.body -> 'products')
            else 0
        end as item_count,
        coalesce(row_problems.problems, '[]'::jsonb) as row_problems
    from artifacts
    inner join artifact_days on artifacts.artifact_id = artifact_days.artifact_id
    inner join roasters on artifacts.roaster_id = roasters.roaster_id
    left join row_problems on artifacts.artifact_id = row_problems.artifact_id
    left join meta_currencies as run_meta on artifacts.run_id = run_meta.run_id
    left join latest_meta_currency on artifacts.roaster_id = latest_meta_currency.roaster_id
),

verdicts as (
    select
        *,
        structural_errors
        || row_problems
        || case
            when is_shopify_listing and jsonb_array_length(body -> 'products') > 0 and shop_currency is null
                then '["unknown currency"]'::jsonb
            else '[]'::jsonb
        end as validation_errors
    from joined
),

final as (
    select
        *,
        case when jsonb_array_length(validation_errors) = 0 then 'valid' else 'invalid' end as validation_status,
        -- the first valid copy of a page counts; an invalid copy never hides a valid one
        row_number() over (
            partition by roaster_id, url, day, sha256, jsonb_array_length(validation_errors) = 0
            order by captured_at, artifact_id
        ) > 1 as is_duplicate
    from verdicts
)

select * from final
