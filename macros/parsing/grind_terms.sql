{% macro grind_terms(text_expr) -%}
    {#- Every grind word of a value that may name several brew methods ("Cold Brew /
        Channi / French Press", "Espresso & Moka"), as a jsonb array of distinct terms
        (grind_term); a value without a separator is looked up once, unsplit. -#}
    (
        select coalesce(jsonb_agg(distinct terms.term order by terms.term), '[]'::jsonb)
        from (
            select {{ grind_term("part.value") }} as term
            from unnest(
                case
                    when {{ has_grind_separator(text_expr) }}
                        then regexp_split_to_array({{ text_expr }}, '\s*[/,&+|]\s*|\s(and|or|y|o|et|ou|und|oder|e)\s')
                    else array[{{ text_expr }}]
                end
            ) as part (value)
        ) as terms
        where terms.term is not null
    )
{%- endmacro %}
