{% macro has_grind_separator(text_expr) -%}
    {#- Whether a grind value may name several things: a "/", ",", "&", "+" or "|", or a
        word for "and" / "or" in the languages roasters use. -#}
    coalesce({{ text_expr }} ~ '[/,&+|]|\s(and|or|y|o|et|ou|und|oder|e)\s', false)
{%- endmacro %}
