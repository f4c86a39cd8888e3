{#- Custom incremental strategy "range_replace": delete the range, insert the rebuilt rows.

    dbt runs this inside the model's transaction (the temp table is built first, then
    these statements, then COMMIT), so readers see the old range or the new one, never
    a mix. Unlike merge or microbatch on Postgres, rows that no longer follow from raw
    data disappear.

    Every replacement is also written to control.mart_rebuilds, in the same transaction,
    with the code version and invocation that wrote them,
    so the scheduled coverage check (ops.coverage_daily) recomputes exactly those days:
    with a range, the range itself (one row per roaster, or one for all); without one,
    the (roaster, day)s of the new raw it rebuilt, which also tells the next build without
    a range where to start. The models need roaster_id and day columns;
    a model with a unique_key also loses the rows the build writes again on another day. -#}
{% macro get_incremental_range_replace_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source_rel = arg_dict["temp_relation"] -%}
    {%- set names = arg_dict["dest_columns"] | map(attribute="name") | list -%}
    {%- set r = replaced_range() -%}
    {%- set model = target.identifier -%}
    {%- set version = "'" ~ code_version() ~ "', '" ~ invocation_id ~ "'" -%}
    {%- set keys = arg_dict["unique_key"] if arg_dict["unique_key"] is not string else [arg_dict["unique_key"]] -%}
    delete from {{ target }}
    where {{ range_predicate(r) }};

    {% if keys -%}
        -- the rows the build writes again that sit on another day (the roaster's timezone
        -- changed since): replaced, not duplicated; by key, one index probe per new row
        delete from {{ target }} as old_rows
        using {{ source_rel }} as new_rows
        where
            {%- for key in keys %}
                old_rows.{{ key }} = new_rows.{{ key }}{{ " and" if not loop.last }}
            {%- endfor %};
    {%- endif %}

    {% if r.start is not none -%}
        insert into {{ source("control", "mart_rebuilds") }}
            (model, kind, roaster_id, start_day, end_day, code_version, invocation_id)
        {%- if r.listed is not none %}
        values
            {%- for key in r.listed %}
            ('{{ model }}', '{{ r.kind }}', '{{ key[0] }}', date '{{ key[1] }}', date '{{ key[1] }}', {{ version }}){{ "," if not loop.last else ";" }}
            {%- endfor %}
        {%- elif r.roasters is not none %}
        select
            '{{ model }}' as model,
            '{{ r.kind }}' as kind,
            listed.roaster_id,
            date '{{ r.start }}' as start_day,
            date '{{ r.end }}' as end_day,
            '{{ code_version() }}' as code_version,
            '{{ invocation_id }}' as invocation_id
        from unnest(array['{{ r.roasters | join("', '") }}']) as listed (roaster_id);
        {%- else %}
        values ('{{ model }}', '{{ r.kind }}', null, date '{{ r.start }}', date '{{ r.end }}', {{ version }});
        {%- endif %}
    {%- endif %}

    insert into {{ target }} ({{ get_quoted_csv(names) }})
    select
        {%- for name in names %}
        {{ adapter.quote(name) }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ source_rel }};
{%- endmacro %}
