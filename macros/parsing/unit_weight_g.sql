{% macro unit_weight_g(text_expr) -%}
    {#- Grams of one unit from a size label: 250g, 250 g, 250 gms, 250 gr, 1kg, 1,5 kg,
        12 Oz, 12oz, 1 lb, 2 lbs, 5 Pounds, "340g (12oz)" (the first weight wins). Null for
        1 bag, 10 count, 12 Pack, 600ml (a volume is no weight). One regex without capture
        groups (PostgreSQL's engine is several times slower when it must report groups),
        its units factored (a flat list of 29 words took ten times longer); the number and
        unit are then read off the ends of the match. `text_expr` must be lower-cased
        already. -#}
    (
        select round(
            -- "1,5 kg" is 1.5 kg, "1,000 g" a thousand grams
            replace(regexp_replace(substring(weight.hit from '^[0-9.,]+'), ',([0-9]{3})$', '\1'), ',', '.')::numeric
            * case
                when weight.hit ~ '(kg|kgs|kilo|kilos|kilogram|kilograms|kilogramm|kilogramos|chilo)$' then 1000
                when weight.hit ~ '(oz|ounce|ounces)$' then 28.349523125
                when weight.hit ~ '(lb|lbs|pound|pounds)$' then 453.59237
                else 1
            end
        )
        from (
            select substring(
                {{ text_expr }}
                from '[0-9]+(?:[.,][0-9]+)?\s*(?:kilo(?:gram(?:m|mos|s)?|s)?|chilo|kgs?|gram(?:me|mes|mi|mo|os|m|s)?|grs?|gms?|g|ounces?|oz|pounds?|lbs?)\M'
            ) as hit
        ) as weight
    )
{%- endmacro %}
