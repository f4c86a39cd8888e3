{#- The incremental coverage check (models/ops/coverage_daily.sql).

    A build finds what changed after the previous one: runs written or finished,
    artifacts stored or quarantined, mart rows replaced (control.mart_rebuilds),
    acknowledgements, roasters whose settings changed, and days the calendar gained.
    Raw rows cannot otherwise change or leave: the append-only guard refuses UPDATE,
    DELETE and TRUNCATE outside cleanup's quarantine move. What bypasses the guard
    (a superuser disabling triggers, a restored backup) is found by a build with a range
    or with --full-refresh, which re-count raw whatever the bookkeeping says. -#}

{% macro coverage_since() -%}
    {#- The moment after which changes count (the newest build's start less the
        lookback), as a SQL literal; none before the first recorded build. A literal,
        not a subquery, so the planner's estimates see how few rows are new. -#}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set query -%}
        select (max(checked_at) - interval '{{ change_lookback() }}')::text
        from {{ source("control", "coverage_checks") }}
    {%- endset -%}
    {%- set value = run_query(query).columns[0].values()[0] -%}
    {{ return(none if value is none else "timestamptz '" ~ value ~ "'") }}
{%- endmacro %}
