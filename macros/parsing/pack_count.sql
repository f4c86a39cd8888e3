{% macro pack_count(text_expr) -%}
    {#- How many units a size label sells: "200g x 4", "4 x 250g", "2 x 1kg",
        "Pack of 3 x 250 g", "12 Pack", "10 count", "2 bags"; null when it names no count
        ('approx 10" H 2" D 8" W' names none).
        A cheap test first, so most labels ("250g") run one regex, not four. `text_expr`
        must be lower-cased already. -#}
    case
        when {{ text_expr }} ~ '[x×*]\s*[0-9]|pack|count|\mct\M|bags?\M|pcs|pieces|sachets|capsules|st(u|ü)ck'
            then coalesce(
                substring({{ text_expr }} from '([0-9]+)\s*[x×*]\s*[0-9]')::int,
                -- "200g x 4", "bag x 2", "200gx4": a multiplication sign after a word needs a
                -- space or a unit before it, so the x that ends "approx 10" is not one
                substring({{ text_expr }} from '(?:[a-z]\s+|[0-9]\s*(?:g|gr|gms?|kg|oz|lbs?|ml))[x×*]\s*([0-9]+)\M')::int,
                substring({{ text_expr }} from 'pack\s+of\s+([0-9]+)')::int,
                substring(
                    {{ text_expr }}
                    from '([0-9]+)\s*-?\s*(?:pack|packs|count|ct|bags|bag|pcs|pieces|sachets|capsules|st(?:u|ü)ck)\M'
                )::int
            )
    end
{%- endmacro %}
