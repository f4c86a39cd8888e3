{% macro json_key_paths(body, max_keys=3, sample=5) -%}
    {#- A scalar subquery: the sorted distinct key paths of a JSON document, as
        '$.products[].variants[].price' ('$[].id' for a top-level array), down to
        `max_keys` keys deep, reading the first `sample` elements of each array (a page's
        items share one shape; reading them all would cost a walk of every item). -#}
    (
        with recursive walk (path, value, keys) as (
            select '$'::text, {{ body }}, 0
            union all
            select walk.path || step.path, step.value, walk.keys + step.is_key
            from walk
            cross join lateral (
                select
                    '.' || member.key as path,
                    member.value,
                    1 as is_key
                from jsonb_each(case when jsonb_typeof(walk.value) = 'object' then walk.value end) as member
                union all
                select
                    '[]' as path,
                    element.value,
                    0 as is_key
                from
                    jsonb_array_elements(case when jsonb_typeof(walk.value) = 'array' then walk.value end)
                    with ordinality as element (value, position)
                where element.position <= {{ sample }}
            ) as step
            where walk.keys < {{ max_keys }}
        )

        select coalesce(array_agg(distinct walk.path order by walk.path), '{}')
        from walk
        where walk.path like '%.%' and walk.path not like '%[]'
    )
{%- endmacro %}
