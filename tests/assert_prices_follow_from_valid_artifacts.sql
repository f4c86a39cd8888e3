-- Every price row comes from an artifact the marts hold as valid and not a duplicate.
select prices.*
from {{ ref('prices') }} as prices
left join {{ ref('scrape_artifacts') }} as artifacts on prices.artifact_id = artifacts.id
where
    artifacts.id is null
    or artifacts.validation_status <> 'valid'
    or artifacts.is_duplicate
