{% macro is_gram_label(text_expr) -%}
    {#- A size label written in grams ("250g", "500 gms", "250 gr"): the evidence that a
        bare number beside it ("200") means grams too. `text_expr` lower-cased. -#}
    coalesce({{ text_expr }} ~ '[0-9]\s*(g|gm|gms|gr|grs|gram|grams|gramm|gramme|grammes|gramos|grammi)\M', false)
{%- endmacro %}
