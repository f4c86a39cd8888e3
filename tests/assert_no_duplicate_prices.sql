-- The runbook's duplicate check: one price per (variant_id, scraped_at).
select
    variant_id,
    scraped_at,
    count(*) as occurrences
from {{ ref('prices') }}
group by variant_id, scraped_at
having count(*) > 1
