{#- Parsing helpers shared by the staging and intermediate models. -#}

{% macro decimal_or_null(text_expr) -%}
    {#- A money string like "15.99" (or "-1.00") as numeric; null when it is not a plain number. -#}
    case
        when ({{ text_expr }}) ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$' then trim({{ text_expr }})::numeric
    end
{%- endmacro %}
