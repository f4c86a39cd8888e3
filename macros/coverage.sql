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

{% macro record_coverage_check() -%}
    {#- post-hook, inside the model's transaction: now() is the moment the build began -#}
    {%- set r = range_vars() -%}
    insert into {{ source("control", "coverage_checks") }} (checked_at, start_day, end_day)
    values (
        now(),
        {{ "date '" ~ r.start ~ "'" if r.start is not none else "null" }},
        {{ "date '" ~ r.end ~ "'" if r.end is not none else "null" }}
    )
{%- endmacro %}

{% macro coverage_needs_recount(since) -%}
    {#- A full build of a mart since then replaced every day: recount everything with
        hash joins rather than look up a million days one by one. -#}
    {%- set query -%}
        select exists (
            select from {{ source("control", "mart_rebuilds") }}
            where rebuilt_at > {{ since }} and kind = 'full'
        )
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{%- endmacro %}

{#- Custom incremental strategy "coverage_replace": the recomputed (roaster, day)s
    replace their old rows; a roaster that is no longer active, or whose settings changed
    since the last build (its calendar may have moved), loses all its old rows first. -#}
{% macro get_incremental_coverage_replace_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source_rel = arg_dict["temp_relation"] -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    {%- set since = coverage_since() -%}
    {#- two statements: an OR between the two IN lists would stop either becoming a join -#}
    delete from {{ target }}
    where roaster_id in (
        select roasters.id from {{ source("raw", "roasters") }} as roasters
        where not roasters.active
        {%- if since is not none %}
            or roasters.updated_at > {{ since }}
        {%- endif %}
    );

    analyze {{ source_rel }};

    delete from {{ target }}
    where (roaster_id, day) in (select recomputed.roaster_id, recomputed.day from {{ source_rel }} as recomputed);

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source_rel }};
{%- endmacro %}
