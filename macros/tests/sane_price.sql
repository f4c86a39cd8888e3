{#- Fails on prices that are missing, not positive, in a currency the ISO 4217 seed does
    not know, or above that currency's sane bound (seeds/iso_currencies.csv). -#}
{% test sane_price(model, column_name, currency_column="currency") %}
select prices.*
from {{ model }} as prices
left join {{ ref('iso_currencies') }} as iso on prices.{{ currency_column }} = iso.currency_code
where
    prices.{{ column_name }} is null
    or prices.{{ column_name }} <= 0
    or iso.currency_code is null
    or prices.{{ column_name }} > iso.max_price
{% endtest %}
