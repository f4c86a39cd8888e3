{#- Lint harness (tests/runner/test_runbook.py): sqlfluff lints the SQL this generic test renders. -#}
{{ test_unique_combination(model=ref('prices'), columns=['variant_id', 'scraped_at']) }}
