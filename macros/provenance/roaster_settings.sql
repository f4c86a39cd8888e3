{% macro roaster_settings(roasters) -%}
    {#- The roasters.yml settings a page's derivation reads, besides the timezone (whose
        effect is checked row by row, on the row's day): the platform chooses the parser;
        the currency is read for Shopify pages only (WooCommerce pages carry their own).
        Stored on every marts.scrape_artifacts row as settings_read; a roaster whose value
        differs now makes those rows stale (stale_reason). `roasters` names a relation
        with platform and currency columns. -#}
    ({{ roasters }}.platform || case
        when {{ roasters }}.platform = 'shopify' then ':' || coalesce({{ roasters }}.currency, '')
        else ''
    end)
{%- endmacro %}
