{% macro new_artifact_range() -%}
    {#- {start, end, roasters, listed} of the raw artifacts written since this model's
        newest build without a range (its 'new' or 'full' rows in control.mart_rebuilds:
        when that build began, less change_lookback() for writers still open then);
        start is none when there are none. listed holds the (roaster, day)s when there
        are at most max_listed_keys of them; past that it is none and the range covers the
        new roasters' days from the first to the last, a superset (rebuilding a day again
        is always correct). A model with no such build yet takes everything in raw. -#}
    {%- set max_listed_keys = 2000 -%}
    {%- set nothing = {"start": none, "end": none, "roasters": none, "listed": none} -%}
    {%- if not execute -%}
        {{ return(nothing) }}
    {%- endif -%}
    {%- set since_query -%}
        select coalesce(max(started_at) - interval '{{ change_lookback() }}', '-infinity')::text
        from {{ source("control", "mart_rebuilds") }}
        where model = '{{ this.identifier }}' and kind in ('new', 'full')
    {%- endset -%}
    {%- set since = run_query(since_query).columns[0].values()[0] -%}
    {%- set keys_query -%}
        select distinct roaster_id, day::text
        from {{ ref("int_artifacts_dated") }}
        where created_at > timestamptz '{{ since }}'
        order by 1, 2
        limit {{ max_listed_keys + 1 }}
    {%- endset -%}
    {%- set keys = run_query(keys_query).rows | list -%}
    {%- if keys | length == 0 -%}
        {{ return(nothing) }}
    {%- elif keys | length <= max_listed_keys -%}
        {%- set days = keys | map(attribute=1) | list -%}
        {{ return({"start": days | min, "end": days | max,
                   "roasters": keys | map(attribute=0) | unique | list, "listed": keys}) }}
    {%- endif -%}
    {%- set range_query -%}
        select min(day)::text, max(day)::text, string_agg(distinct roaster_id, ',' order by roaster_id)
        from {{ ref("int_artifacts_dated") }}
        where created_at > timestamptz '{{ since }}'
    {%- endset -%}
    {%- set row = run_query(range_query).rows[0] -%}
    {{ return({"start": row[0], "end": row[1], "roasters": row[2].split(","), "listed": none}) }}
{%- endmacro %}
