{% macro try_jsonb(text_expression) -%}
    {#- The text as jsonb, or null when jsonb refuses it (not JSON, \u0000, a number beyond
        numeric): raw.try_jsonb, a function of the runner's migrations. -#}
    raw.try_jsonb({{ text_expression }})
{%- endmacro %}
