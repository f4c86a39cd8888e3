{#- Lint harness (tests/runner/test_runbook.py). Rendered only under a range in
    $COFFEE_DBT_RANGE, as the lint test gives it: a plain `dbt compile` or `dbt docs
    generate` must not run the strategy's lookups on a database not built yet; `execute`
    keeps the variable out of the parse (a parse-time env_var would tie dbt's saved parse,
    and the dbt worker's, to its value). -#}
-- depends_on: {{ ref("coverage_daily") }}
{% if execute and env_var("COFFEE_DBT_RANGE", "") %}
{{ get_incremental_coverage_replace_sql({
    "target_relation": ref("coverage_daily"),
    "temp_relation": ref("coverage_daily"),
    "dest_columns": [{"name": "roaster_id"}, {"name": "day"}, {"name": "status"}],
}) }}
{% endif %}
