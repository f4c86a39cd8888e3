{#- Lint harness (tests/runner/test_runbook.py). Rendered only under a range in
    $COFFEE_DBT_RANGE, as the lint test gives it: a plain `dbt compile` or `dbt docs
    generate` must not run the strategy's lookups on a database not built yet; `execute`
    keeps the variable out of the parse (a parse-time env_var would tie dbt's saved parse,
    and the dbt worker's, to its value). -#}
-- depends_on: {{ ref("prices") }}
-- depends_on: {{ ref("int_artifacts_dated") }}
{% if execute and env_var("COFFEE_DBT_RANGE", "") %}
{{ get_incremental_range_replace_sql({
    "target_relation": ref("prices"),
    "temp_relation": ref("prices"),
    "dest_columns": [{"name": "variant_id"}, {"name": "scraped_at"}, {"name": "price"}],
}) }}
{% endif %}
