{% macro option_facts(rows) -%}
    {#- CTEs that read grind, brew methods, weight and pack count off the options of the
        rows of `rows` (a CTE with options and sibling_options), ending in
        `option_facts`: one row per distinct (options, sibling_options) with grind,
        brew_methods, weight_g, pack_count. Per distinct option set, not per row: a
        variant's options repeat every day, so a 30-day rebuild reads each set once
        instead of thirty times (the regexes cost microseconds per option). The caller
        joins its rows back on (options, sibling_options). -#}
option_sets as materialized (
    -- MATERIALIZED: computed once and hashed; inlined, PostgreSQL would repeat the
    -- whole rows CTE for the join back
    select distinct
        coalesce(options, '[]'::jsonb) as options,
        coalesce(sibling_options, '[]'::jsonb) as sibling_options
    from {{ rows }}
),

named_options as (
    -- One pass over a row's options, each classified by its name (option_kind): the
    -- weight and grind options by name, the bare number under a weight option, and the
    -- fallbacks (an option of unknown name that reads as a weight or, unambiguously, as
    -- a grind) used only when no option is named.
    select
        option_sets.*,
        by_name.grind_value,
        by_name.named_label,
        by_name.named_unit_g,
        by_name.fallback_unit_g,
        by_name.bare_grams,
        by_name.fallback_label,
        by_name.fallback_grind,
        by_name.pack_label
    from option_sets
    cross join lateral (  -- noqa: ST05
        select
            min(opt.value) filter (where opt.kind = 'grind') as grind_value,
            min(opt.value) filter (where opt.kind = 'weight' and opt.unit_g is not null) as named_label,
            min(opt.unit_g) filter (where opt.kind = 'weight') as named_unit_g,
            min(opt.value::numeric) filter (where opt.kind = 'weight' and opt.value ~ '^\s*[0-9]+(\.[0-9]+)?\s*$')
                as bare_grams,
            min(opt.value) filter (where opt.kind is null and opt.unit_g is not null) as fallback_label,
            min(opt.unit_g) filter (where opt.kind is null) as fallback_unit_g,
            min({{ grind_term('opt.value') }}) filter (
                where opt.kind is null and {{ grind_term('opt.value') }} not in ('espresso', 'filter', 'drip')
            ) as fallback_grind,
            -- a count without a weight ("10 count", "12 Pack") under a size option or an unknown one
            min(opt.value) filter (
                where coalesce(opt.kind, 'weight') = 'weight' and {{ pack_count('opt.value') }} is not null
            ) as pack_label
        from (
            select
                kinds.value,
                kinds.kind,
                -- each label's weight read once, only for weight options and unknown ones
                case when coalesce(kinds.kind, 'weight') = 'weight' then {{ unit_weight_g('kinds.value') }} end
                    as unit_g
            from (
                -- lower-cased once: the parsing macros match case-sensitively on it
                select
                    lower(option_rows.value ->> 'value') as value,
                    {{ option_kind("lower(option_rows.value ->> 'name')") }} as kind
                from jsonb_array_elements(option_sets.options) as option_rows (value)
            ) as kinds
            -- OFFSET 0 keeps this a subquery: flattened, PostgreSQL would copy the weight
            -- and kind expressions into every aggregate and filter that reads them
            offset 0  -- noqa: AM09
        ) as opt
    ) as by_name
),

sized as (
    select
        *,
        coalesce(named_label, fallback_label) as size_label,
        coalesce(named_unit_g, fallback_unit_g) as size_unit_g,
        -- A bare number under a weight option ("200") is grams only where the product's
        -- other variants write grams ("250g"): the product's own list of option values
        -- (Shopify options[].values, a WooCommerce parent's attributes[].terms), looked
        -- at only for the rare row that has a bare number.
        case
            when named_label is null and bare_grams is not null and exists (
                    select 1
                    from jsonb_array_elements(named_options.sibling_options) as sibling
                    cross join
                        lateral jsonb_array_elements(
                            case
                                when jsonb_typeof(sibling -> 'values') = 'array' then sibling -> 'values'
                                when jsonb_typeof(sibling -> 'terms') = 'array' then sibling -> 'terms'
                                else '[]'::jsonb
                            end
                        ) as sibling_value
                    where
                        {{ option_kind("lower(sibling ->> 'name')") }} = 'weight'
                        and {{ is_gram_label("lower(coalesce(sibling_value ->> 'name', sibling_value #>> '{}'))") }}
                )
                then bare_grams
        end as bare_weight_g,
        -- a value naming one thing is looked up once; only one with a separator
        -- ("Cold Brew / Channi / French Press") is split into its words
        case when {{ has_grind_separator('grind_value') }} then {{ grind_terms('grind_value') }} end as grind_words,
        case when not {{ has_grind_separator('grind_value') }} then {{ grind_term('grind_value') }} end as grind_word
    from named_options
),

option_facts as materialized (
    -- MATERIALIZED too: inlined, PostgreSQL joins the rows back first and then runs the
    -- per-set lookups once per row, which is what this macro exists to avoid
    select
        options,
        sibling_options,
        coalesce(grind_word, {{ grind_from_terms('grind_words') }}, fallback_grind) as grind,
        case
            when grind_word not in ('whole bean', 'ground') then jsonb_build_array(grind_word)
            else {{ brew_methods_from_terms('grind_words') }}
        end as brew_methods,
        coalesce(
            round(size_unit_g * coalesce({{ pack_count('size_label') }}, 1))::integer,
            round(bare_weight_g)::integer
        ) as weight_g,
        coalesce(
            {{ pack_count('size_label') }},
            {{ pack_count('pack_label') }},
            case when size_label is not null or bare_weight_g is not null then 1 end
        ) as pack_count
    from sized
)
{%- endmacro %}
