{#- Parsing helpers shared by the staging and intermediate models. -#}

{% macro decimal_or_null(text_expr) -%}
    {#- A money string like "15.99" (or "-1.00") as numeric; null when it is not a plain number. -#}
    case
        when ({{ text_expr }}) ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$' then trim({{ text_expr }})::numeric
    end
{%- endmacro %}

{% macro local_day(ts_expr, tz_expr) -%}
    ({{ ts_expr }} at time zone {{ tz_expr }})::date
{%- endmacro %}

{% macro meta_currency(relation, key) -%}
    {#- The currency of the newest valid meta.json sharing `key` (run_id or roaster_id)
        with the row of `relation`: a correlated subquery, one index lookup per key. -#}
    (
        select meta.body ->> 'currency'
        from {{ relation }} as meta
        where
            meta.{{ key }} = {{ relation }}.{{ key }}
            and meta.resource = 'meta'
            and jsonb_array_length(meta.structural_errors) = 0
            and meta.body ->> 'currency' ~ '^[A-Z]{3}$'
        order by meta.captured_at desc
        limit 1
    )
{%- endmacro %}
