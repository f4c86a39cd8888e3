{#- Custom incremental strategy "range_replace": delete the range, insert the rebuilt rows.

    dbt runs this inside the model's transaction (the temp table is built first, then
    these statements, then COMMIT), so readers see the old range or the new one, never
    a mix. Unlike merge or microbatch on Postgres, rows that no longer follow from raw
    data disappear.

    Every replacement is also written to control.mart_rebuilds, in the same transaction,
    so the scheduled coverage check (ops.coverage_daily) recomputes exactly those days:
    with a range, the range itself (one row per roaster, or one for all); without one,
    the (roaster, day)s deleted or inserted. The models need roaster_id and day columns. -#}
{% macro get_incremental_range_replace_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source_rel = arg_dict["temp_relation"] -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    {%- set r = range_vars() -%}
    {%- set log = source("control", "mart_rebuilds") -%}
    {%- if r.start is not none -%}
        delete from {{ target }}
        where {{ range_predicate() }};

        insert into {{ log }} (model, roaster_id, start_day, end_day)
        {%- if r.roasters is none %}
        values ('{{ target.identifier }}', null, date '{{ r.start }}', date '{{ r.end }}');
        {%- else %}
        select '{{ target.identifier }}', roaster_id, date '{{ r.start }}', date '{{ r.end }}'
        from unnest(array['{{ r.roasters | join("', '") }}']) as listed (roaster_id);
        {%- endif %}
    {%- else -%}
        with deleted as (
            delete from {{ target }}
            where {{ range_predicate() }}
            returning roaster_id, day
        )

        insert into {{ log }} (model, roaster_id, start_day, end_day)
        select distinct '{{ target.identifier }}', roaster_id, day, day
        from deleted;

        insert into {{ log }} (model, roaster_id, start_day, end_day)
        select distinct '{{ target.identifier }}', roaster_id, day, day
        from {{ source_rel }};
    {%- endif %}

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source_rel }};
{%- endmacro %}

{% macro mark_full_rebuild() -%}
    {#- pre-hook of the range_replace marts: is this build a full one (first build or
        --full-refresh)? is_incremental() is only right before the build; the post-hook
        below writes the log row at the end, close to the commit. -#}
    select set_config('coffee.full_rebuild', '{{ "off" if is_incremental() else "on" }}', true)
{%- endmacro %}

{% macro log_full_rebuild() -%}
    {#- post-hook: a full build replaced every (roaster, day) -#}
    insert into {{ source("control", "mart_rebuilds") }} (model)
    select '{{ this.identifier }}'
    where current_setting('coffee.full_rebuild', true) = 'on'
{%- endmacro %}
