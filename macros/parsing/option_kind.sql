{% macro option_kind(name_expr) -%}
    {#- What an option's name says it is about, in the languages roasters use: 'weight'
        (Size, Weight, Poids, Gewicht, Peso, Tamaño, Quantité, ...), 'grind' (Grind,
        Mouture, Mahlgrad, Molienda, Macinatura, Moagem, Brew Method, ...), 'other' for
        names that are known not to be about grinding or weight (Roast Profile, Roast
        Level, City, Installments, Frequency, dates...), null for any other name. Only
        'weight' options are read for a bare number, only 'grind' options for any grind
        word; an unknown name is searched for weights and unambiguous grind words.
        `name_expr` must be lower-cased already. -#}
    case
        -- the common names first, by plain comparison: a regex with this many
        -- alternatives costs microseconds per option, on every variant of every page
        when trim({{ name_expr }}) in (
            'size', 'weight', 'pack size', 'bag size', 'net weight', 'poids', 'taille', 'gewicht', 'größe',
            'peso', 'tamaño', 'tamano', 'formato', 'quantité', 'quantite', 'tamanho'
        ) then 'weight'
        when trim({{ name_expr }}) in (
            'grind', 'grind size', 'grind type', 'type', 'mouture', 'mahlgrad', 'molienda', 'macinatura', 'moagem',
            'brew method'
        ) then 'grind'
        when trim({{ name_expr }}) in ('title', 'roast', 'roast profile', 'roast level', 'city') then 'other'
        when {{ name_expr }} ~ '^\s*(pack\s+size|bag\s+size|net\s+weight|size|weight|poids|taille|contenance|gewicht|gr(o|ö)(ß|ss)e|menge|f(u|ü)llmenge|inhalt|peso|tama(n|ñ)o|formato|cantidad|quantit(a|à|é|e)|tamanho|quantidade|format)\M'
            then 'weight'
        when {{ name_expr }} ~ '^\s*(grind|grinding|mouture|mahlgrad|mahlung|molienda|molido|macinatura|macinazione|moagem|moedura|brew(ing)?\s+method|m(e|é)thode|zubereitung|preparaci(o|ó)n)\M|^\s*type\s*$'
            then 'grind'
        when {{ name_expr }} ~ 'roast|r(o|ö)st|torr(e|é)f|tost|torra|city|ville|ciudad|citt|install|frequen|deliver|livraison|date|title|subscri|abonnement|origin|flavou?r|process'
            then 'other'
    end
{%- endmacro %}
