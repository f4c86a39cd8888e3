{#- Every artifact with its verdict: valid or invalid, and why. Also marks duplicates:
    the same page (roaster, url, day, sha256) fetched again counts once.

    Written so that a filter on (roaster_id, day) reaches raw: per-page work is lateral
    (a grouped CTE over all pages would parse every page of history), the only window
    partitions by roaster and day, and a CTE used more than once is NOT MATERIALIZED
    (PostgreSQL would otherwise compute it whole, ignoring the caller's filter). -#}
with

artifacts as not materialized (
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

joined as (
    select
        artifacts.*,
        artifact_days.day,
        roasters.platform,
        artifacts.is_catalog_page and artifacts.body_type = 'object'
        and jsonb_typeof(artifacts.body -> 'products') = 'array' as is_shopify_listing,
        -- Shopify's list JSON has no currency: meta.json of the same run, else the newest.
        -- Subqueries, so they only run for a roaster without a configured currency.
        coalesce(
            roasters.currency,
            {{ meta_currency('artifacts', 'run_id') }},
            {{ meta_currency('artifacts', 'roaster_id') }}
        ) as shop_currency,
        case
            when artifacts.body_type = 'array' then jsonb_array_length(artifacts.body)
            when jsonb_typeof(artifacts.body -> 'products') = 'array'
                then jsonb_array_length(artifacts.body -> 'products')
            else 0
        end as item_count,
        coalesce(page_problems.problems, '[]'::jsonb) as row_problems
    -- The day first (no JSON opened), then each artifact by key: a caller's day filter
    -- then applies before any body is read. Joined the other way round, every raw row
    -- had its body inspected before the filter could drop it.
    from artifact_days
    inner join roasters on artifact_days.roaster_id = roasters.roaster_id
    cross join
        lateral (
            select artifacts.* from artifacts
            where artifacts.artifact_id = artifact_days.artifact_id
            offset 0  -- noqa: AM09
        ) as artifacts
    -- what the rows of this page would make invalid, each problem once: per page (a CTE
    -- would be computed for every page in raw)
    cross join lateral (  -- noqa: ST05
        select jsonb_agg(distinct problem_rows.problem order by problem_rows.problem) as problems
        from (
            select jsonb_array_elements_text(shopify_rows.problems) as problem
            from shopify_rows
            where shopify_rows.artifact_id = artifacts.artifact_id and artifacts.is_catalog_page
            union all
            select jsonb_array_elements_text(woo_rows.problems) as problem
            from woo_rows
            where woo_rows.artifact_id = artifacts.artifact_id and artifacts.is_catalog_page
        ) as problem_rows
    ) as page_problems
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
            -- platform follows from roaster_id; partitioning by it lets a caller's platform
            -- filter pass this window too
            partition by roaster_id, platform, url, day, sha256, jsonb_array_length(validation_errors) = 0
            order by captured_at, artifact_id
        ) > 1 as is_duplicate
    from verdicts
)

select * from final
