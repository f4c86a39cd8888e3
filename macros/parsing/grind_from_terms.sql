{% macro grind_from_terms(terms) -%}
    {#- The grind of a variant from its grind terms (grind_terms): whole bean when it says
        so; one brew method names the grind ("Espresso" -> espresso); several brew methods
        are ground coffee for any of them, 'ground', which pretends to be none of them
        (brew_methods lists them); else 'ground' when it says ground, else null. -#}
    case
        when {{ terms }} ? 'whole bean' then 'whole bean'
        when jsonb_array_length({{ terms }} - 'ground') = 1 then ({{ terms }} - 'ground') ->> 0
        when jsonb_array_length({{ terms }} - 'ground') > 1 then 'ground'
        when {{ terms }} ? 'ground' then 'ground'
    end
{%- endmacro %}
