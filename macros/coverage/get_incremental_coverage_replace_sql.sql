{#- Custom incremental strategy "coverage_replace": the recomputed (roaster, day)s
    replace their old rows; a roaster that is no longer active, or whose settings changed
    since the last build (its calendar may have moved), loses all its old rows first. -#}
{% macro get_incremental_coverage_replace_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source_rel = arg_dict["temp_relation"] -%}
    {%- set names = arg_dict["dest_columns"] | map(attribute="name") | list -%}
    {%- set since = coverage_since() -%}
    {#- two statements: an OR between the two IN lists would stop either becoming a join -#}
    delete from {{ target }}
    where roaster_id in (
        select roasters.id
        from {{ source("raw", "roasters") }} as roasters
        where not roasters.active
        {%- if since is not none %}
            or roasters.updated_at > {{ since }}
        {%- endif %}
    );

    analyze {{ source_rel }};

    delete from {{ target }}
    where (roaster_id, day) in (
        select
            recomputed.roaster_id,
            recomputed.day
        from {{ source_rel }} as recomputed
    );

    insert into {{ target }} ({{ get_quoted_csv(names) }})
    select
        {%- for name in names %}
        {{ adapter.quote(name) }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ source_rel }};
{%- endmacro %}
