{#- Custom incremental strategy "range_replace": delete the range, insert the rebuilt rows.

    dbt runs this inside the model's transaction (the temp table is built first, then
    these two statements, then COMMIT), so readers see the old range or the new one,
    never a mix. Unlike merge or microbatch on Postgres, rows that no longer follow from
    raw data disappear. -#}
{% macro get_incremental_range_replace_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source_rel = arg_dict["temp_relation"] -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    delete from {{ target }}
    where {{ range_predicate() }};

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source_rel }};
{%- endmacro %}
