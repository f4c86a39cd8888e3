{% macro normalized_code(code) -%}
    {#- Code as code_version fingerprints it: without Jinja comments, SQL comments and
        any whitespace. -#}
    {%- set text = modules.re.sub('(?s){#.*?#}', '', code) -%}
    {%- set text = modules.re.sub('(?s)/\\*.*?\\*/', '', text) -%}
    {%- set text = modules.re.sub('--[^\\n]*', '', text) -%}
    {{ return(modules.re.sub('\\s+', '', text)) }}
{%- endmacro %}
