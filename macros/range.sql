{#- Date-range rebuilds.

    dbt build --vars '{start_date: "2024-01-01", end_date: "2024-01-31", roasters: [a, b]}'
    rebuilds every derived row whose day (in its roaster's timezone) is in the range.
    The vars are checked once, in on-run-start, before any model runs, and again where
    a model uses them; anything that is not a plain date or slug stops dbt with a
    compilation error, so no value ever reaches SQL unchecked.

    The runner passes the same three values as JSON in the environment variable
    COFFEE_DBT_RANGE instead: dbt throws away its partial parse whenever --vars change,
    which costs a full re-parse (2-3 s) per range. --vars win when both are given. -#}

{% macro _range_value(name) -%}
    {#- Read the environment only at execution: an env_var() seen while parsing would be
        recorded, and a new value would force the re-parse this channel exists to avoid.
        Nothing at parse time depends on the range (coverage_daily declares its extra
        ref with depends_on), so parsing without it is safe. -#}
    {%- set value = var(name, none) -%}
    {%- if value is none and execute -%}
        {%- set doc = fromjson(env_var("COFFEE_DBT_RANGE", "{}")) -%}
        {%- if doc is not mapping -%}
            {{ exceptions.raise_compiler_error("COFFEE_DBT_RANGE must be a JSON object") }}
        {%- endif -%}
        {%- set value = doc.get(name) -%}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

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
            {%- if r is not string or not modules.re.match("^[a-z0-9][a-z0-9-]*$", r) -%}
                {{ exceptions.raise_compiler_error("var roasters: " ~ (r | string | tojson) ~ " is not a roaster id (slug [a-z0-9][a-z0-9-]*)") }}
            {%- endif -%}
        {%- endfor -%}
        {%- if roasters | length == 0 -%}
            {{ exceptions.raise_compiler_error("var roasters is empty: leave it out to mean every roaster") }}
        {%- endif -%}
    {%- endif -%}
    {{ return({"start": start, "end": end, "roasters": roasters}) }}
{%- endmacro %}

{% macro validate_range_vars() -%}
    {#- on-run-start: fail before any model runs. Unknown roasters need the database. -#}
    {%- set r = range_vars() -%}
    {%- if execute and r.roasters is not none -%}
        {%- set known = run_query("select id from " ~ source("raw", "roasters")).columns[0].values() -%}
        {%- for id in r.roasters if id not in known -%}
            {{ exceptions.raise_compiler_error("var roasters: unknown roaster " ~ (id | tojson)) }}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}

{% macro replaced_range() -%}
    {#- What an incremental build of a range_replace mart replaces, as {start, end,
        roasters, listed, kind}: with vars, their range (kind 'range'); without, the raw
        written since this model's last build without a range (new_artifact_range, kind
        'new'); start is none when there is nothing to replace. Computed once by the model
        and once by the strategy, and handed to range_predicate, captured_window and the
        rebuild log, so each part of a build sees the same days. -#}
    {%- set r = range_vars() -%}
    {%- if r.start is not none -%}
        {{ return({"start": r.start, "end": r.end, "roasters": r.roasters, "listed": none, "kind": "range"}) }}
    {%- endif -%}
    {%- set new = new_artifact_range() -%}
    {%- do new.update({"kind": "new"}) -%}
    {{ return(new) }}
{%- endmacro %}

{% macro range_predicate(r, day_column="day", roaster_column="roaster_id") -%}
    {#- The rows of a range r (range_vars() or replaced_range()) as a predicate: days,
        roasters if listed, (roaster, day) pairs if listed; false when r.start is none.
        All literals, so PostgreSQL pushes it down to the day filter before any body is
        opened; a subquery here would stop at the views. -#}
    {%- if r.start is none -%}
        false
    {%- else -%}
        ({{ day_column }} between date '{{ r.start }}' and date '{{ r.end }}'
        {%- if r.roasters is not none %}
        and {{ roaster_column }} in ('{{ r.roasters | join("', '") }}')
        {%- endif %}
        {%- if r.get("listed") is not none %}
        and ({{ roaster_column }}, {{ day_column }}) in (
            {%- for key in r.listed %}('{{ key[0] }}', date '{{ key[1] }}'){{ ", " if not loop.last }}{% endfor -%}
        )
        {%- endif -%})
    {%- endif -%}
{%- endmacro %}

{% macro change_lookback() -%}
    {#- Builds without a range (the marts' new raw, the coverage check's changes) look
        for rows written after the previous such build began, less this margin: a
        transaction still open when that build read the tables commits rows stamped
        before it. The runner's writes are short (one artifact, one run update, one
        model) and its dbt runs never overlap; a longer writer needs a longer margin
        (COFFEE_CHANGE_LOOKBACK, e.g. "2 hours") or a build with a range after it. Rows
        inside the margin are looked at again: redundant, never wrong.
        Read at execution only, like COFFEE_DBT_RANGE, so it never costs a re-parse. -#}
    {%- set value = env_var("COFFEE_CHANGE_LOOKBACK", "5 minutes") if execute else "5 minutes" -%}
    {%- if not modules.re.match("^[0-9]{1,6} (second|minute|hour|day)s?$", value) -%}
        {{ exceptions.raise_compiler_error("COFFEE_CHANGE_LOOKBACK must look like '5 minutes' (got " ~ (value | tojson) ~ ")") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}

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
        from {{ ref("int_artifact_days") }}
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
        from {{ ref("int_artifact_days") }}
        where created_at > timestamptz '{{ since }}'
    {%- endset -%}
    {%- set row = run_query(range_query).rows[0] -%}
    {{ return({"start": row[0], "end": row[1], "roasters": row[2].split(","), "listed": none}) }}
{%- endmacro %}

{% macro vars_range_predicate(day_column="day", roaster_column="roaster_id") -%}
    {#- The vars' range (and roasters) as a predicate; only call it with a range. -#}
    {{ range_predicate(range_vars(), day_column, roaster_column) }}
{%- endmacro %}

{% macro captured_window(column="captured_at", r=none) -%}
    {#- A cheap index-friendly pre-filter on a range r (default: the vars' range): any
        timezone's day lies within a day of UTC's. No range: no filter. -#}
    {%- set r = range_vars() if r is none else r -%}
    {%- if r.start is not none -%}
        {{ column }} >= date '{{ r.start }}' - interval '1 day'
        and {{ column }} < date '{{ r.end }}' + interval '2 days'
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
