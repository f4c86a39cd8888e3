{#- Every artifact with its verdict: valid or invalid, and why. Also marks duplicates:
    the same page (roaster, url, day, sha256) fetched again counts once.

    A page is invalid only when it cannot be read as a catalog page: no response, an HTTP
    error, not JSON, the wrong envelope, an item without an id, or items of which none
    yields a price. An item with a problem of its own (see item_rejection_reason) leaves
    the page valid; int_prices_observed gives it its reason.

    Written so that a filter on (roaster_id, day) reaches raw: per-page work is lateral
    (a grouped CTE over all pages would parse every page of history), the only window
    partitions by roaster and day, and a CTE used more than once is NOT MATERIALIZED
    (PostgreSQL would otherwise compute it whole, ignoring the caller's filter). -#}
with

artifacts as not materialized (
    select * from {{ ref('int_artifacts_parsed') }}
),

artifact_days as (
    select * from {{ ref('int_artifacts_dated') }}
),

roasters as (
    select * from {{ ref('stg_raw__roasters') }}
),

shopify_rows as (
    select * from {{ ref('int_shopify_variants_unpacked') }}
),

woo_rows as (
    select * from {{ ref('int_woo_items_unpacked') }}
),

iso_currencies as not materialized (
    select * from {{ ref('iso_currencies') }}
),

joined as (
    select
        artifacts.*,
        artifact_days.day,
        roasters.platform,
        {{ roaster_settings('roasters') }} as settings_read,
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
        end as item_count
    -- The day first (no JSON opened), then each artifact by key: a caller's day filter
    -- then applies before any body is read. Joined the other way round, every raw row
    -- had its body inspected before the filter could drop it.
    from artifact_days
    inner join roasters on artifact_days.roaster_id = roasters.roaster_id
    cross join
        lateral (
            select artifacts.* from artifacts
            where artifacts.artifact_id = artifact_days.artifact_id
            -- OFFSET 0: PostgreSQL cannot flatten the lateral into a join, so the
            -- artifact stays one lookup by key after the day filter
            offset 0  -- noqa: AM09
        ) as artifacts
),

page_facts as (
    -- per page (a CTE would be computed for every page in raw): what makes it
    -- unreadable, each problem once, and how many of its offers yield a price
    select
        joined.*,
        coalesce(page_rows.problems, '[]'::jsonb) as row_problems,
        coalesce(page_rows.offers, 0) as offers,
        coalesce(page_rows.priced_offers, 0) as priced_offers,
        coalesce(page_rows.listed_variations, 0) as listed_variations,
        page_rows.first_rejection
    from joined
    cross join lateral (  -- noqa: ST05
        select
            jsonb_agg(distinct problem_rows.problem order by problem_rows.problem)
            filter (where problem_rows.problem is not null) as problems,
            count(*) filter (where problem_rows.yields_price) as offers,
            count(*) filter (where problem_rows.yields_price and problem_rows.reason is null) as priced_offers,
            min(problem_rows.reason) filter (where problem_rows.yields_price) as first_rejection,
            sum(problem_rows.listed_variations) as listed_variations
        from (
            select
                page_problem.value as problem,
                rows_.yields_price,
                rows_.listed_variations,
                {{ item_rejection_reason('rows_.item_problems', 'rows_.price_major', 'rows_.currency', 'iso') }}
                    as reason
            from (
                select
                    shopify_rows.page_problems,
                    shopify_rows.item_problems,
                    shopify_rows.price_major,
                    joined.shop_currency as currency,
                    true as yields_price,
                    0 as listed_variations
                from shopify_rows
                where shopify_rows.artifact_id = joined.artifact_id and joined.is_catalog_page
                union all
                select
                    woo_rows.page_problems,
                    woo_rows.item_problems,
                    woo_rows.price_major,
                    woo_rows.currency,
                    woo_rows.yields_price,
                    jsonb_array_length(woo_rows.listed_variations) as listed_variations
                from woo_rows
                where woo_rows.artifact_id = joined.artifact_id and joined.is_catalog_page
            ) as rows_
            left join iso_currencies as iso on rows_.currency = iso.currency_code
            left join lateral jsonb_array_elements_text(rows_.page_problems) as page_problem (value) on true
        ) as problem_rows
    ) as page_rows
),

verdicts as (
    select
        *,
        structural_errors
        || row_problems
        || case
            -- a page whose parents list variations is priced through its variation pages
            when jsonb_array_length(row_problems) = 0 and offers > 0 and priced_offers = 0 and listed_variations = 0
                then jsonb_build_array('no priced item (' || first_rejection || ')')
            else '[]'::jsonb
        end as validation_errors,
        -- its envelope and ids could be read: its offers are priced or rejected one by one
        jsonb_array_length(structural_errors || row_problems) = 0 as is_readable
    from page_facts
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
