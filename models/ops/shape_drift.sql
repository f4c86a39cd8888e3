{#- One row per (roaster, day) whose catalog pages changed shape: a key path the
    roaster's valid pages usually carry is missing (lost_keys), or a top-level key never
    seen in its recent days appeared (gained_keys: a new envelope). "Usually" means on at
    least USUAL_SHARE of the roaster's last BASELINE_DAYS days with all pages valid
    before this one, and only with MIN_BASELINE_DAYS of them: a shop's format change is
    named, not just counted as invalid pages or rejected items. The test
    assert_no_shape_drift warns on every row; `verify` prints them and alerts. -#}
{%- set baseline_days = 14 -%}
{%- set min_baseline_days = 3 -%}
{%- set usual_share = 0.8 -%}

with

shapes as (
    select * from {{ ref('page_shapes') }}
),

baselines as (
    -- each day's window: the roaster's previous valid days, newest first
    select
        day_shapes.roaster_id,
        day_shapes.day,
        earlier.day as earlier_day,
        earlier.paths as earlier_paths
    from shapes as day_shapes
    cross join lateral (
        select
            previous.day,
            previous.paths
        from shapes as previous
        where
            previous.roaster_id = day_shapes.roaster_id and previous.day < day_shapes.day
            and previous.all_valid
        order by previous.day desc
        limit {{ baseline_days }}
    ) as earlier
),

window_sizes as (
    select
        roaster_id,
        day,
        count(*) as window_days
    from baselines
    group by roaster_id, day
),

path_counts as (
    select
        baselines.roaster_id,
        baselines.day,
        earlier_path.path,
        count(*) as seen_days
    from baselines
    cross join lateral unnest(baselines.earlier_paths) as earlier_path (path)
    group by baselines.roaster_id, baselines.day, earlier_path.path
),

usual as (
    select
        path_counts.roaster_id,
        path_counts.day,
        window_sizes.window_days,
        coalesce(
            array_agg(path_counts.path)
            filter (where path_counts.seen_days >= {{ usual_share }} * window_sizes.window_days),
            '{}'
        ) as usual_paths,
        array_agg(path_counts.path) as seen_paths
    from path_counts
    inner join window_sizes on path_counts.roaster_id = window_sizes.roaster_id and path_counts.day = window_sizes.day
    group by path_counts.roaster_id, path_counts.day, window_sizes.window_days
),

drift as (
    select
        shapes.roaster_id,
        shapes.day,
        usual.window_days as baseline_days,
        array(
            select usual_path.path from unnest(usual.usual_paths) as usual_path (path)
            where not usual_path.path = any(shapes.paths)
            order by usual_path.path
        ) as lost_keys,
        -- a key right under the root (or under a top-level array's items) never seen
        -- before: a new envelope
        array(
            select day_path.path from unnest(shapes.paths) as day_path (path)
            where day_path.path ~ '^\$(\[\])?\.[^.\[]+$' and not day_path.path = any(usual.seen_paths)
            order by day_path.path
        ) as gained_keys
    from shapes
    inner join usual on shapes.roaster_id = usual.roaster_id and shapes.day = usual.day
    where usual.window_days >= {{ min_baseline_days }}
),

final as (
    select *
    from drift
    where cardinality(lost_keys) > 0 or cardinality(gained_keys) > 0
)

select * from final
