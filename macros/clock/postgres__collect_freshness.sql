{#- `dbt source freshness` on the runner's clock: dbt's own query with clock_now() where
    it reads current_timestamp, so a frozen or moving $COFFEE_NOW (tests, the demo) judges
    the captures against the same moment as everything else. Without $COFFEE_NOW it is
    dbt's query exactly (now()). Found by dbt's dispatch before its own implementation. -#}
{% macro postgres__collect_freshness(source, loaded_at_field, filter) -%}
    {%- call statement('collect_freshness', fetch_result=True, auto_begin=False) -%}
        select
            max({{ loaded_at_field }}) as max_loaded_at,
            {{ clock_now() }} as snapshotted_at
        from {{ source }}
        {% if filter -%}
            where {{ filter }}
        {%- endif %}
    {%- endcall -%}
    {{ return(load_result('collect_freshness')) }}
{%- endmacro %}
