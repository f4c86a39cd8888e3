"""Range rebuilds of the price path: dbt's range_replace against dbt's own microbatch
and against the same replacement written by hand in one SQL transaction.

Raw history (Shopify catalog pages) is synthesized in SQL, so setup takes seconds.
"data" is the time the prices node itself ran (dbt's run_results), "fixed" is the rest
of the invocation: start-up, parsing, connections, hooks. Ranges go to dbt the runner's
way ($COFFEE_DBT_RANGE, so partial parsing survives a new range);
fixed_seconds_with_new_vars is the same ranges typed as --vars, which re-parse.

    python bench/rebuild.py [--quick]
"""

from __future__ import annotations

import datetime as dt
import time

import psycopg
from common import DbtProject, emit, parse_args, ratio, scratch_database, self_peak_mb

LAST_DAY = dt.date(2026, 10, 31)
FULL = {"roasters": 50, "days": 365, "variants": 40, "ranges": [1, 7, 30]}
QUICK = {"roasters": 6, "days": 30, "variants": 40, "ranges": [1, 3]}
VARIANTS_PER_PRODUCT = 4

SYNTHESIZE = """
insert into raw.roasters (id, name, platform, base_url, currency, timezone)
select format('bench-%%s', lpad(r::text, 4, '0')), format('Bench Roaster %%s', r), 'shopify',
       format('https://bench-%%s.example', r), 'USD', 'UTC'
from generate_series(1, %(roasters)s) as r;

insert into raw.scrape_runs (id, roaster_id, kind, status, target_day, started_at, finished_at, pages, artifacts)
select md5(roasters.id || day::date)::uuid, roasters.id, 'live', 'ok', day::date,
       day + time '10:00', day + time '10:01', 1, 1
from raw.roasters
cross join generate_series(%(first)s::date, %(last)s::date, interval '1 day') as day;

insert into raw.scrape_artifacts (id, run_id, roaster_id, url, requested_url, resource, page, attempt, source,
                                  http_status, content_type, body, sha256, byte_length, captured_at)
select md5(runs.id::text || ':page1')::uuid, runs.id, runs.roaster_id, urls.url, urls.url, 'products', 1, 1,
       'live', 200, 'application/json', pages.body,
       encode(sha256(convert_to(pages.body::text, 'UTF8')), 'hex'), octet_length(pages.body::text),
       runs.started_at
from raw.scrape_runs as runs
cross join lateral (
    select format('https://%%s.example/products.json?limit=250&page=1', runs.roaster_id) as url
) as urls
cross join lateral (
    select jsonb_build_object('products', jsonb_agg(product order by p)) as body
    from generate_series(1, %(products)s) as p
    cross join lateral (
        select jsonb_build_object(
            'id', p * 1000 + 7, 'title', format('Single Origin %%s', p), 'product_type', 'Coffee',
            'options', jsonb_build_array(jsonb_build_object('name', 'Size', 'position', 1),
                                         jsonb_build_object('name', 'Grind', 'position', 2)),
            'variants', jsonb_agg(jsonb_build_object(
                'id', (p * 1000 + 7) * 10 + v, 'title', sizes.size || ' / ' || grinds.grind,
                'option1', sizes.size, 'option2', grinds.grind,
                'price', to_char(8 + (abs(hashtext(runs.id::text || p || v)) %% 2000) / 100.0, 'FM9990.00'),
                'compare_at_price', case when v = 1 then '40.00' end,
                'available', (abs(hashtext(runs.id::text || v || p)) %% 5) > 0
            ) order by v)
        ) as product
        from generate_series(1, %(per_product)s) as v
        cross join lateral (select (array['250g', '1kg'])[1 + (v - 1) %% 2] as size) as sizes
        cross join lateral (select (array['Whole Bean', 'Espresso'])[1 + (v - 1) / 2 %% 2] as grind) as grinds
    ) as products
) as pages;
analyze raw.roasters;
analyze raw.scrape_runs;
analyze raw.scrape_artifacts;
"""

# The same replacement by hand: one transaction, straight from raw, no views, with the
# project's own normalization macros (so it writes the same rows). It skips validation
# and duplicate detection, so it is a lower bound for what the database must do. It is
# an analysis: dbt only renders it, the benchmark runs it.
HAND_WRITTEN = """
delete from marts.prices where day between date '{{ var("start_date") }}' and date '{{ var("end_date") }}';
insert into marts.prices (variant_id, product_id, roaster_id, day, scraped_at, price, currency,
                          compare_at_price, is_sale, in_stock, artifact_id, run_id, product_title,
                          product_type, variant_title, grind, weight_g, artifact_created_at)
select distinct on (variant_id, scraped_at) *
from (
    select a.roaster_id || ':' || (v ->> 'id') as variant_id,
           a.roaster_id || ':' || (p ->> 'id') as product_id,
           a.roaster_id,
           (a.captured_at at time zone r.timezone)::date as day,
           a.captured_at as scraped_at,
           (v ->> 'price')::numeric(12, 2) as price,
           r.currency,
           case when (v ->> 'compare_at_price')::numeric > (v ->> 'price')::numeric
                then (v ->> 'compare_at_price')::numeric(12, 2) end as compare_at_price,
           coalesce((v ->> 'compare_at_price')::numeric > (v ->> 'price')::numeric, false) as is_sale,
           (v ->> 'available')::boolean as in_stock,
           a.id as artifact_id, a.run_id,
           p ->> 'title' as product_title, p ->> 'product_type' as product_type, v ->> 'title' as variant_title,
           {{ grind("(v ->> 'option2')") }} as grind,
           {{ weight_g("(v ->> 'option1')") }} as weight_g,
           a.created_at as artifact_created_at
    from raw.scrape_artifacts as a
    join raw.roasters as r on r.id = a.roaster_id
    cross join lateral jsonb_array_elements(a.body -> 'products') as p
    cross join lateral jsonb_array_elements(p -> 'variants') as v
    where a.captured_at >= date '{{ var("start_date") }}' - interval '1 day'
      and a.captured_at < date '{{ var("end_date") }}' + interval '2 days'
      and a.resource = 'products' and a.http_status between 200 and 299
      and (a.captured_at at time zone r.timezone)::date
          between date '{{ var("start_date") }}' and date '{{ var("end_date") }}'
) as rows
order by variant_id, scraped_at, artifact_id
"""

MICROBATCH_MODEL = """
{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='scraped_at',
          batch_size='day', begin=var('bench_begin'), unique_key=['variant_id', 'scraped_at'], lookback=0) }}
with

observations as (
    select * from {{ ref('int_prices__observations') }}
),

deduped as (
    select distinct on (variant_id, scraped_at) *
    from observations
    order by variant_id, scraped_at, artifact_id
),

final as (
    select
        variant_id, product_id, roaster_id, day, scraped_at, price, currency, compare_at_price, is_sale,
        in_stock, artifact_id, run_id, product_title, product_type, variant_title, grind, weight_g,
        artifact_created_at
    from deduped
)

select * from final
"""

FINGERPRINT = """
select count(*), md5(coalesce(string_agg(variant_id || scraped_at::text || price::text || in_stock::text
                                          || artifact_id::text, ',' order by variant_id, scraped_at), ''))
from {table} where day between %(start)s and %(end)s
"""


def statements(script: str) -> list[str]:
    return [part for part in script.split(";\n") if part.strip()]


def window(days: int) -> dict[str, str]:
    return {"start_date": (LAST_DAY - dt.timedelta(days=days - 1)).isoformat(), "end_date": LAST_DAY.isoformat()}


def fingerprint(conn: psycopg.Connection, table: str, span: dict[str, str]) -> tuple:
    return conn.execute(FINGERPRINT.format(table=table),
                        {"start": span["start_date"], "end": span["end_date"]}).fetchone()


def synthesize(conn: psycopg.Connection, params: dict, first: dt.date) -> dict:
    started = time.perf_counter()
    values = {"roasters": params["roasters"], "first": first, "last": LAST_DAY,
              "products": params["variants"] // VARIANTS_PER_PRODUCT, "per_product": VARIANTS_PER_PRODUCT}
    for statement in statements(SYNTHESIZE):
        conn.execute(statement, values)
    count, size = conn.execute("select count(*), round(pg_total_relation_size('raw.scrape_artifacts') / 1048576.0, 1)"
                               " from raw.scrape_artifacts").fetchone()
    return {"setup_seconds": round(time.perf_counter() - started, 2), "raw_artifacts": count, "raw_mb": float(size)}


def range_rebuilds(project: DbtProject, bench_vars: dict, lengths: list[int]) -> dict:
    """Each range passed the runner's way, a range dbt has not seen before each time."""
    ranges = {}
    for days in lengths:
        run = project.run("run", "--select", "prices", variables=bench_vars, range_env=window(days))
        ranges[f"{days}d"] = {"wall_seconds": round(run.wall_seconds, 2),
                              "data_seconds": round(run.node_seconds["prices"], 3),
                              "fixed_seconds": round(run.fixed_seconds, 2)}
    return ranges


def fixed_cost_with_new_vars(project: DbtProject, bench_vars: dict, lengths: list[int]) -> dict:
    """The same ranges typed as --vars, as a person would: each new value re-parses."""
    runs = [project.run("run", "--select", "prices", variables={**bench_vars, **window(days)})
            for days in lengths]
    return {"min": round(min(r.fixed_seconds for r in runs), 2), "max": round(max(r.fixed_seconds for r in runs), 2)}


def microbatch(conn: psycopg.Connection, project: DbtProject, bench_vars: dict, days: int) -> dict:
    # Seeded with the same rows (one batch per day of history would take as long as the
    # measured run times the history's length); dbt then sees an incremental table.
    conn.execute("create table marts.prices_microbatch as select * from marts.prices")
    span = window(days)
    end_exclusive = (LAST_DAY + dt.timedelta(days=1)).isoformat()
    run = project.run("run", "--select", "prices_microbatch", "--event-time-start", span["start_date"],
                      "--event-time-end", end_exclusive, variables=bench_vars)
    return {"wall_seconds": round(run.wall_seconds, 2), "data_seconds": round(run.node_seconds["prices_microbatch"], 3),
            "batches": run.batches}


def hand_written(conn: psycopg.Connection, project: DbtProject, bench_vars: dict, days: int) -> float:
    project.run("compile", "--select", "hand_written_prices", variables={**bench_vars, **window(days)})
    script = (project.dir / "target" / "compiled" / "coffee" / "analyses" / "hand_written_prices.sql").read_text()
    seconds = []
    for _ in range(2):  # best of two, like the dbt runs it is compared with (warm cache)
        started = time.perf_counter()
        with conn.transaction():
            for statement in statements(script):
                conn.execute(statement)
        seconds.append(time.perf_counter() - started)
    return round(min(seconds), 3)


def measure(conn: psycopg.Connection, project: DbtProject, first: dt.date, lengths: list[int],
            quick: bool) -> dict:
    bench_vars = {"bench_begin": first.isoformat()}
    full = project.run("run", "--select", "+prices", "--full-refresh", variables=bench_vars)
    results: dict = {"full_refresh": {"wall_seconds": round(full.wall_seconds, 2),
                                      "data_seconds": round(full.node_seconds["prices"], 2)},
                     "price_rows": conn.execute("select count(*) from marts.prices").fetchone()[0]}
    results["range_rebuild"] = range_rebuilds(project, bench_vars, lengths)
    longest = lengths[-1]
    typed = lengths[-1:] if quick else lengths  # each costs a full parse plus its data work
    results["fixed_seconds_with_new_vars"] = fixed_cost_with_new_vars(project, bench_vars, typed)
    span = window(longest)
    expected = fingerprint(conn, "marts.prices", span)
    results["microbatch"] = microbatch(conn, project, bench_vars, longest)
    same_micro = fingerprint(conn, "marts.prices_microbatch", span) == expected
    results["hand_written_seconds"] = hand_written(conn, project, bench_vars, longest)
    results["same_rows"] = {"microbatch": same_micro,
                            "hand_written": fingerprint(conn, "marts.prices", span) == expected,
                            "rows_in_longest_range": expected[0]}
    return results


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    params = dict(QUICK if args.quick else FULL)
    first = LAST_DAY - dt.timedelta(days=params["days"] - 1)
    with scratch_database("rebuild") as target, psycopg.connect(target.url, autocommit=True) as conn:
        results = synthesize(conn, params, first)
        project = DbtProject(target, {"models/marts/prices_microbatch.sql": MICROBATCH_MODEL,
                                      "analyses/hand_written_prices.sql": HAND_WRITTEN})
        try:
            results.update(measure(conn, project, first, params["ranges"], args.quick))
        finally:
            project.close()
    results["runner_peak_mb"] = round(self_peak_mb(), 1)
    ranges = results["range_rebuild"]
    longest = ranges[f"{params['ranges'][-1]}d"]["data_seconds"]
    emit("rebuild", params, results, {
        "microbatch_over_range_replace": (ratio(results["microbatch"]["data_seconds"], longest), 3.0, "min"),
        "range_replace_over_hand_written": (ratio(longest, results["hand_written_seconds"]), 1.5, "max"),
        "one_day_share_of_full_refresh": (ratio(ranges["1d"]["data_seconds"],
                                                results["full_refresh"]["data_seconds"]), 0.02, "max"),
        "fixed_seconds_per_invocation": (max(r["fixed_seconds"] for r in ranges.values()), 5.0, "max"),
        "runner_peak_mb": (results["runner_peak_mb"], 300, "max"),
    })


if __name__ == "__main__":
    main()
