{#- Lint harness (tests/runner/test_runbook.py): sqlfluff lints the SQL this generic test renders. -#}
{{ test_no_gaps(model=ref('coverage_daily')) }}
