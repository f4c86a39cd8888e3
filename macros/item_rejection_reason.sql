{% macro item_rejection_reason(problems, price, currency, iso) -%}
    {#- Why one item or variant of a readable page is left out of prices, or null when it
        is priced: its own problems from staging (price missing, not a number, <= 0, ...)
        first, then its money against the currency seed (`iso`: the row of
        ref('iso_currencies') joined on the item's currency): a currency the seed does not
        know, or a price above that currency's sane bound. The one definition of a
        rejected item: page verdicts count with it, prices and rejected_items split by it. -#}
    coalesce(
        {{ problems }} ->> 0,
        case when {{ iso }}.currency_code is null then 'unknown currency' end,
        case when {{ price }} > {{ iso }}.max_price then 'price absurd' end
    )
{%- endmacro %}
