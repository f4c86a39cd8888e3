{% macro _plain_date(name) -%}
    {%- set value = _range_value(name) -%}
    {%- if value is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if value is mapping or (value is iterable and value is not string) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a plain date YYYY-MM-DD, not " ~ ("a mapping" if value is mapping else "a list")) }}
    {%- endif -%}
    {%- set text = value | string -%}
    {%- if not modules.re.match("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", text) -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a date YYYY-MM-DD (got " ~ (text | tojson) ~ ")") }}
    {%- endif -%}
    {%- set y, m, d = text[0:4] | int, text[5:7] | int, text[8:10] | int -%}
    {%- set ok = y >= 1 and 1 <= m <= 12 and d >= 1 -%}
    {%- if ok -%}
        {#- the month's last day, without strptime: Jinja cannot catch its exceptions -#}
        {%- set next_month = modules.datetime.date(y + m // 12, m % 12 + 1, 1) if y < 9999 or m < 12 else none -%}
        {%- set ok = next_month is none or d <= (next_month - modules.datetime.timedelta(days=1)).day -%}
    {%- endif -%}
    {%- if not ok -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " is not a real date (got " ~ (text | tojson) ~ ")") }}
    {%- endif -%}
    {{ return(text) }}
{%- endmacro %}
