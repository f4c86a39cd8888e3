{% macro stale_reason(rows, roasters, captured_at, settings=true) -%}
    {#- Why a derived row no longer follows from the current code and settings (null when
        it does): the one definition of `stale` that ops.coverage_daily applies to
        marts.scrape_artifacts rows and (settings=false: they carry no settings_read) to
        marts.prices rows. `rows` has code_version, day and `captured_at` (and
        settings_read); `roasters` is the roaster's current row. A timezone change makes
        stale only the rows whose day it moves. -#}
    {%- set current = code_version() -%}
    case
        when coalesce({{ rows }}.code_version, '') <> '{{ current }}'
            then 'built by code ' || coalesce({{ rows }}.code_version, 'of no recorded version')
            || ' (current {{ current }})'
        {%- if settings %}
        when coalesce({{ rows }}.settings_read, '') <> {{ roaster_settings(roasters) }}
            then 'the roaster''s platform or currency changed'
        {%- endif %}
        when {{ rows }}.day <> {{ local_day(rows ~ '.' ~ captured_at, roasters ~ '.timezone') }}
            then 'the roaster''s timezone changed: captures belong to another day'
    end
{%- endmacro %}
