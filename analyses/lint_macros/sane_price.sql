{#- Lint harness (tests/runner/test_runbook.py): sqlfluff lints the SQL this generic test renders. -#}
{{ test_sane_price(model=ref('prices'), column_name='price') }}
