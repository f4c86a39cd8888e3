"""Coverage and gap detection at scale: every (roaster, day) for many roasters and years.

Raw history is synthesized in SQL: one run per roaster-day with a one-product page and
the empty page that ends a walk; about 2% of days have no run and 1% a failed one. The
marts are built once by dbt; then coverage_daily + gaps are rebuilt and timed against
the lower bound, a bare generate_series cross join with as many rows.

    python bench/gaps.py [--quick]
"""

from __future__ import annotations

import datetime as dt
import time

import psycopg
from common import DbtProject, emit, log, parse_args, ratio, scratch_database, self_peak_mb

LAST_DAY = dt.date(2026, 10, 31)
FULL = {"roasters": 1000, "days": 1095}
QUICK = {"roasters": 30, "days": 180}
ROUNDS = 3  # best of: the machine is shared
QUICK_ROUNDS = 1

SYNTHESIZE = [
    """insert into raw.roasters (id, name, platform, base_url, currency, timezone, since)
       select format('r%%s', lpad(r::text, 5, '0')), format('Roaster %%s', r), 'shopify',
              format('https://r%%s.example', r), 'USD', 'UTC', %(first)s::date
       from generate_series(1, %(roasters)s) as r""",
    """insert into raw.scrape_runs (id, roaster_id, kind, status, target_day, started_at, finished_at,
                                    pages, artifacts)
       select md5(roasters.id || day::date)::uuid, roasters.id, 'live',
              case when abs(hashtext(roasters.id || day::date || 'f')) %% 100 = 0 then 'fail' else 'ok' end,
              day::date, day + time '10:00', day + time '10:01', 1, 2
       from raw.roasters
       cross join generate_series(%(first)s::date, %(last)s::date, interval '1 day') as day
       where abs(hashtext(roasters.id || day::date)) %% 50 <> 0""",
    """insert into raw.scrape_artifacts (id, run_id, roaster_id, url, requested_url, resource, page, attempt,
                                         source, http_status, content_type, body, sha256, byte_length, captured_at)
       select md5(runs.id::text || pages.page)::uuid, runs.id, runs.roaster_id, pages.url, pages.url, 'products',
              pages.page, 1, 'live', 200, 'application/json', pages.body, md5(pages.body::text), 100,
              runs.started_at
       from raw.scrape_runs as runs
       cross join lateral (
           select page, format('https://%%s.example/products.json?page=%%s', runs.roaster_id, page) as url,
                  case when page = 1 then jsonb_build_object('products', jsonb_build_array(jsonb_build_object(
                      'id', 1, 'title', 'House Blend', 'options', '[]'::jsonb,
                      'variants', jsonb_build_array(jsonb_build_object(
                          'id', 11, 'title', '250g', 'price', to_char(10 + extract(doy from runs.target_day) / 100,
                          'FM990.00'), 'available', true)))))
                  else '{"products": []}'::jsonb end as body
           from generate_series(1, 2) as page
       ) as pages
       where runs.status = 'ok'""",
    "analyze raw.roasters",
    "analyze raw.scrape_runs",
    "analyze raw.scrape_artifacts",
]

# The lower bound: as many (roaster, day) rows as coverage_daily, and nothing else.
BARE = """
create table bench_bare as
select roasters.id as roaster_id, day::date as day
from raw.roasters
cross join generate_series(%(first)s::date, %(last)s::date, interval '1 day') as day
"""


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    params = dict(QUICK if args.quick else FULL)
    first = LAST_DAY - dt.timedelta(days=params["days"] - 1)
    values = {"roasters": params["roasters"], "first": first, "last": LAST_DAY}
    results: dict[str, object] = {}
    with scratch_database("gaps") as target, psycopg.connect(target.url, autocommit=True) as conn:
        started = time.perf_counter()
        for statement in SYNTHESIZE:
            conn.execute(statement, values)
        results["setup_seconds"] = round(time.perf_counter() - started, 1)
        project = DbtProject(target)
        try:
            built = project.run("run", "--select", "+coverage_daily", "gaps", "--full-refresh")
            results["marts_build_seconds"] = round(built.wall_seconds, 1)
            coverage, gaps, bare = [], [], []
            for _ in range(QUICK_ROUNDS if args.quick else ROUNDS):
                # Without vars: every day of every roaster, verdicts from the marts (the
                # scheduled check). A range re-validates its raw, timed below.
                run = project.run("run", "--select", "coverage_daily", "gaps")
                coverage.append(run.node_seconds["coverage_daily"])
                gaps.append(run.node_seconds["gaps"])
                conn.execute("drop table if exists bench_bare")
                begun = time.perf_counter()
                conn.execute(BARE, values)
                bare.append(time.perf_counter() - begun)
            results["fixed_seconds_per_invocation"] = round(run.fixed_seconds, 2)
            recent = {"start_date": (LAST_DAY - dt.timedelta(days=29)).isoformat(), "end_date": LAST_DAY.isoformat()}
            ranged = project.run("run", "--select", "coverage_daily", "gaps", variables=recent)
            results["coverage_with_30d_revalidation_seconds"] = round(ranged.node_seconds["coverage_daily"], 3)
        finally:
            project.close()
        counts = dict(conn.execute("select status, count(*) from ops.coverage_daily group by status").fetchall())
        results["coverage_rows"] = sum(counts.values())
        results["status_counts"] = counts
        results["gap_rows"] = conn.execute("select count(*) from ops.gaps").fetchone()[0]
    results["coverage_seconds"] = round(min(coverage), 3)
    results["gaps_seconds"] = round(min(gaps), 3)
    results["bare_cross_join_seconds"] = round(min(bare), 3)
    results["runner_peak_mb"] = round(self_peak_mb(), 1)
    data = results["coverage_seconds"] + results["gaps_seconds"]
    log(f"coverage+gaps {data:.2f} s, bare {results['bare_cross_join_seconds']:.2f} s")
    emit("gaps", params, results, {
        "coverage_and_gaps_seconds": (data, 2.0, "max"),
        "over_bare_cross_join": (ratio(data, results["bare_cross_join_seconds"]), 3.0, "max"),
        "runner_peak_mb": (results["runner_peak_mb"], 300, "max"),
    })


if __name__ == "__main__":
    main()
