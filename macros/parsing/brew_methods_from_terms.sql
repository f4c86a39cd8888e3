{% macro brew_methods_from_terms(terms) -%}
    {#- The brew methods a grind value names (grind_terms less 'whole bean' and 'ground'),
        a jsonb array; null when it names none. -#}
    nullif({{ terms }} - 'whole bean' - 'ground', '[]'::jsonb)
{%- endmacro %}
