{% macro change_lookback() -%}
    {#- Builds without a range (the marts' new raw, the coverage check's changes) look
        for rows written after the previous such build began, less this margin: a
        transaction still open when that build read the tables commits rows stamped
        before it. The runner's writes are short (one artifact, one run update, one
        model) and its dbt runs never overlap; a longer writer needs a longer margin
        (COFFEE_CHANGE_LOOKBACK, e.g. "2 hours") or a build with a range after it. Rows
        inside the margin are looked at again: redundant, never wrong.
        Read at execution only, like COFFEE_DBT_RANGE, so it never costs a re-parse. -#}
    {%- set value = env_var("COFFEE_CHANGE_LOOKBACK", "5 minutes") if execute else "5 minutes" -%}
    {%- if not modules.re.match("^[0-9]{1,6} (second|minute|hour|day)s?$", value) -%}
        {{ exceptions.raise_compiler_error("COFFEE_CHANGE_LOOKBACK must look like '5 minutes' (got " ~ (value | tojson) ~ ")") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}
