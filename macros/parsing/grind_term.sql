{% macro grind_term(text_expr) -%}
    {#- One grind word in the languages roasters use (English, French, German, Spanish,
        Italian, Portuguese) as one lower-case term: 'whole bean', 'ground', or a brew
        method. Null when the text names none. Order matters: "South Indian Filter" is
        not "filter", "ungemahlen" is not "gemahlen". `text_expr` must be lower-cased
        already: case-sensitive matching on text lowered once is twice as fast as ~*. -#}
    case
        when {{ text_expr }} ~ 'south\s*indian' then 'south indian filter'
        when {{ text_expr }} ~ 'unground|ungemahlen|non\s+moulu|sin\s+moler|whole\s*-?\s*beans?|\mbeans?\M|\mgrains?\M|grain\s+entier|ganze\s*bohnen?|\mbohnen?\M|\mgranos?\M|in\s+grani|\mgrani\M|chicchi|\mgr(a|ã)os?\M'
            then 'whole bean'
        when {{ text_expr }} ~ 'french\s*-?\s*press|presse\s+fran|prensa\s+francesa|pressa\s+francese|stempelkanne|\mpiston\M'
            then 'french press'
        when {{ text_expr }} ~ 'pour\s*-?\s*over|\mv60\M|chemex|handfilter|kalita' then 'pour over'
        when {{ text_expr }} ~ 'aero\s*-?\s*press' then 'aeropress'
        when {{ text_expr }} ~ 'moka|mocha\s*-?\s*pot|italienne|cafetera\s+italiana|caffettiera|bialetti|espressokocher|herdkanne'
            then 'moka pot'
        when {{ text_expr }} ~ 'cold\s*-?\s*brew' then 'cold brew'
        when {{ text_expr }} ~ 'turkish|t(u|ü)rkisch|\mturco?\M|ibrik|cezve' then 'turkish'
        when {{ text_expr }} ~ 's(y|i)phon|sif(o|ó)n' then 'siphon'
        when {{ text_expr }} ~ 'channi' then 'channi'
        when {{ text_expr }} ~ 'espresso|expresso' then 'espresso'
        when {{ text_expr }} ~ 'filt(er|re|ro)' then 'filter'
        when {{ text_expr }} ~ 'drip|goteo' then 'drip'
        when {{ text_expr }} ~ '\mground\M|gemahlen|\mmoulu|molido|macinato|mo(i|í)do' then 'ground'
    end
{%- endmacro %}
