{% macro run_day(runs, tz_expr) -%}
    {#- A run's calendar day: the local day, in the roaster's timezone as configured now, of
        its first capture; a run with no artifact, the day it targeted, else the day it
        started. Its captures' days (int_artifacts_dated) then agree with it even after a
        timezone change, when a capture can belong to another day than the one targeted.
        `runs` has first_captured_at, target_day and started_at (stg_raw__scrape_runs). -#}
    coalesce(
        {{ local_day(runs ~ '.first_captured_at', tz_expr) }},
        {{ runs }}.target_day,
        {{ local_day(runs ~ '.started_at', tz_expr) }}
    )
{%- endmacro %}
