{#- Fails on prices that are missing, not positive, or absurd (over var max_price). -#}
{% test sane_price(model, column_name, max_price=none) %}
select *
from {{ model }}
where
    {{ column_name }} is null
    or {{ column_name }} <= 0
    or {{ column_name }} > {{ max_price if max_price is not none else var("max_price") }}
{% endtest %}
