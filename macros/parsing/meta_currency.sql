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
            and meta.body ->> 'currency' ~ '{{ var("currency_pattern") }}'
        order by meta.captured_at desc
        limit 1
    )
{%- endmacro %}
