{#- Parsing helpers shared by the staging and intermediate models. -#}

{% macro decimal_or_null(text_expr) -%}
    {#- A money string like "15.99" as numeric; null when it is not a plain number. -#}
    case
        when ({{ text_expr }}) ~ '^\s*[0-9]+(\.[0-9]+)?\s*$' then trim({{ text_expr }})::numeric
    end
{%- endmacro %}

{% macro weight_g(text_expr) -%}
    {#- Grams from a size label: 250g, 250 g, 250 gms, 1kg, 12 Oz, 12oz, 1 lb, 2 lbs,
        5 Pounds, "340g (12oz)" (the first weight wins). Null for 1 bag, 10 count, 12 Pack.
        The weight is found by one regex without capture groups (PostgreSQL's regex
        engine is several times slower when it must report groups); its number and unit
        are then read off the ends of the match. -#}
    (
        select round(
            substring(weight.hit from '^[0-9.]+')::numeric * case
                when weight.hit ~ '(kg|kgs|kilo|kilos|kilogram|kilograms)$' then 1000
                when weight.hit ~ '(oz|ounce|ounces)$' then 28.349523125
                when weight.hit ~ '(lb|lbs|pound|pounds)$' then 453.59237
                else 1
            end
        )::integer
        from (
            select substring(
                lower({{ text_expr }})
                from '[0-9]+(?:\.[0-9]+)?\s*(?:kilograms|kilogram|kilos|kilo|kgs|kg|grams|gram|gms|gm|g|ounces|ounce|oz|pounds|pound|lbs|lb)\M'
            ) as hit
        ) as weight
    )
{%- endmacro %}

{% macro grind(text_expr) -%}
    {#- A grind label normalized to one lower-case vocabulary; null when none is named. -#}
    case
        when {{ text_expr }} ~* 'south\s*indian' then 'south indian filter'
        when {{ text_expr }} ~* 'whole\s*beans?' then 'whole bean'
        when {{ text_expr }} ~* 'french\s*press' then 'french press'
        when {{ text_expr }} ~* 'pour\s*-?\s*over' then 'pour over'
        when {{ text_expr }} ~* 'aero\s*press' then 'aeropress'
        when {{ text_expr }} ~* 'moka' then 'moka pot'
        when {{ text_expr }} ~* 'cold\s*brew' then 'cold brew'
        when {{ text_expr }} ~* 'espresso' then 'espresso'
        when {{ text_expr }} ~* 'filter' then 'filter'
        when {{ text_expr }} ~* 'drip' then 'drip'
        when {{ text_expr }} ~* '\mground\M' then 'ground'
    end
{%- endmacro %}

{% macro local_day(ts_expr, tz_expr) -%}
    ({{ ts_expr }} at time zone {{ tz_expr }})::date
{%- endmacro %}

{% macro meta_currency(relation, key) -%}
    {#- The currency of the newest valid meta.json sharing `key` (run_id or roaster_id)
        with the row of `relation`: a correlated subquery, one index lookup per key. -#}
    (
        select meta.body ->> 'currency'
        from {{ relation }} as meta
        where
            meta.{{ key }} = {{ relation }}.{{ key }}
            and meta.resource = 'meta'
            and jsonb_array_length(meta.structural_errors) = 0
            and meta.body ->> 'currency' ~ '^[A-Z]{3}$'
        order by meta.captured_at desc
        limit 1
    )
{%- endmacro %}
