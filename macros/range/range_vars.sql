{% macro range_vars() -%}
    {#- {start, end, roasters} from the vars, validated; start/end none without a range. -#}
    {%- set start = _plain_date("start_date") -%}
    {%- set end = _plain_date("end_date") -%}
    {%- if (start is none) != (end is none) -%}
        {{ exceptions.raise_compiler_error("vars start_date and end_date go together: give both or neither") }}
    {%- endif -%}
    {%- if start is not none and start > end -%}
        {{ exceptions.raise_compiler_error("var start_date " ~ start ~ " is after end_date " ~ end) }}
    {%- endif -%}
    {%- set roasters = _range_value("roasters") -%}
    {%- if roasters is string -%}
        {%- set roasters = [roasters] -%}
    {%- endif -%}
    {%- if roasters is not none -%}
        {%- if roasters is mapping or roasters is not iterable -%}
            {{ exceptions.raise_compiler_error("var roasters must be a list of roaster ids") }}
        {%- endif -%}
        {%- for r in roasters -%}
            {%- if r is not string or not modules.re.match(var("slug_pattern"), r) -%}
                {{ exceptions.raise_compiler_error("var roasters: " ~ (r | string | tojson) ~ " is not a roaster id (slug " ~ var("slug_pattern") ~ ")") }}
            {%- endif -%}
        {%- endfor -%}
        {%- if roasters | length == 0 -%}
            {{ exceptions.raise_compiler_error("var roasters is empty: leave it out to mean every roaster") }}
        {%- endif -%}
    {%- endif -%}
    {{ return({"start": start, "end": end, "roasters": roasters}) }}
{%- endmacro %}
