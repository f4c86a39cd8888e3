-- The runbook's orphan checks: prices without a variant, variants without a roaster.
select
    'price without variant' as problem,
    prices.variant_id as id
from {{ ref('prices') }} as prices
where prices.variant_id not in (select variants.id from {{ ref('variants') }} as variants)

union all

select
    'variant without roaster' as problem,
    variants.id
from {{ ref('variants') }} as variants
where variants.roaster_id not in (select roasters.id from {{ ref('roasters') }} as roasters)
