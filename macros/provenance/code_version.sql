{% macro code_version() -%}
    {#- The version of the code that derives the marts: a fingerprint (12 hex digits) of
        the staging, intermediate and mart models, every project macro they call
        (transitively), the seeds they read (dbt's checksum of the file) and the vars
        that shape rows (not the range vars, which only choose rows). Written on every
        mart row and in control.mart_rebuilds; ops.coverage_daily calls a day built by
        another version `stale`.

        The code is fingerprinted without comments and whitespace (normalized_code), so
        a comment, a docstring or a reformat does not make any day stale; a change to a
        model's SQL text does, even a refactor that happens to give the same rows: a
        reparse then rewrites identical rows (idempotent), a cost, never wrong data. -#}
    {%- if not execute or graph.nodes is not defined -%}
        {#- parsing, or a unit test (its graph holds no nodes): no rows are kept -#}
        {{ return('unversioned') }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- set macros = [] -%}
    {%- for node in graph.nodes.values() | sort(attribute='unique_id') -%}
        {%- if node.package_name == project_name and (node.resource_type == 'seed'
              or (node.resource_type == 'model' and node.fqn[1] in ['staging', 'intermediate', 'marts'])) -%}
            {%- do parts.append(node.unique_id ~ '=' ~ (node.checksum.checksum if node.resource_type == 'seed'
                                                        else normalized_code(node.raw_code))) -%}
            {%- do macros.extend(node.depends_on.macros) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set seen = [] -%}
    {%- for unique_id in macros if unique_id.startswith('macro.' ~ project_name ~ '.') -%}
        {#- a for loop over a list that grows: each called macro's own calls join the walk -#}
        {%- if unique_id not in seen -%}
            {%- do seen.append(unique_id) -%}
            {%- set found = context.get(unique_id.split('.')[-1]) -%}
            {%- do macros.extend(found.macro.depends_on.macros) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for unique_id in seen | sort -%}
        {%- do parts.append(unique_id ~ '=' ~ normalized_code(context.get(unique_id.split('.')[-1]).macro.macro_sql)) -%}
    {%- endfor -%}
    {%- do parts.append('vars=' ~ var('slug_pattern') ~ '|' ~ var('currency_pattern')) -%}
    {{ return(local_md5(parts | join('\n'))[:12]) }}
{%- endmacro %}
