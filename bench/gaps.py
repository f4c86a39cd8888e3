"""Coverage and gap detection at scale: every (roaster, day) for many roasters and years.

Raw history is synthesized in SQL: one run per roaster-day with a one-product page and
the empty page that ends a walk; about 2% of days have no run and 1% a failed one. The
history ends ROUNDS days before today; then, ROUNDS times, the next day's scrape arrives
(raw rows stamped now, marts rebuilt for the day the runner's way) and the scheduled
check (coverage_daily + gaps, no range: incremental) is timed. A full recount
(--full-refresh), the bare generate_series cross join with as many rows (the lower
bound), and a check with a 30-day range (which re-validates raw) are timed too.

    python bench/gaps.py [--quick]
"""

from __future__ import annotations

import datetime as dt
import time

import psycopg
from common import DbtProject, emit, log, parse_args, ratio, scratch_database, self_peak_mb

FULL = {"roasters": 1000, "days": 1095}
QUICK = {"roasters": 30, "days": 180}
ROUNDS = 3  # best of: the machine is shared
QUICK_ROUNDS = 1
RANGE_DAYS = 30

ROASTERS = """insert into raw.roasters (id, name, platform, base_url, currency, timezone, since, created_at,
                                  updated_at)
       select format('r%%s', lpad(r::text, 5, '0')), format('Roaster %%s', r), 'shopify',
              format('https://r%%s.example', r), 'USD', 'UTC', %(first)s::date, %(first)s::date, %(first)s::date
       from generate_series(1, %(roasters)s) as r"""

# Runs and pages of the days first..last, stamped as written then (history) or now.
SCRAPE = [
    """insert into raw.scrape_runs (id, roaster_id, kind, status, target_day, started_at, finished_at,
                                    pages, artifacts, created_at)
       select md5(roasters.id || day::date)::uuid, roasters.id, 'live',
              case when abs(hashtext(roasters.id || day::date || 'f')) %% 100 = 0 then 'fail' else 'ok' end,
              day::date, day + time '10:00', day + time '10:01', 1, 2,
              coalesce(%(created)s::timestamptz, day + time '10:00')
       from raw.roasters
       cross join generate_series(%(first)s::date, %(last)s::date, interval '1 day') as day
       where abs(hashtext(roasters.id || day::date)) %% 50 <> 0""",
    """insert into raw.scrape_artifacts (id, run_id, roaster_id, url, requested_url, resource, page, attempt,
                                         source, http_status, content_type, body, sha256, byte_length, captured_at,
                                         created_at)
       select md5(runs.id::text || pages.page)::uuid, runs.id, runs.roaster_id, pages.url, pages.url, 'products',
              pages.page, 1, 'live', 200, 'application/json', pages.body, md5(pages.body::text), 100,
              runs.started_at, runs.created_at
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
       where runs.status = 'ok' and runs.target_day between %(first)s and %(last)s""",
]
ANALYZE = ["analyze raw.roasters", "analyze raw.scrape_runs", "analyze raw.scrape_artifacts"]

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
    rounds = QUICK_ROUNDS if args.quick else ROUNDS
    today = dt.datetime.now(dt.timezone.utc).date()  # the roasters' timezone is UTC
    first = today - dt.timedelta(days=params["days"] - 1)
    history_end = today - dt.timedelta(days=rounds)
    values = {"roasters": params["roasters"], "first": first, "last": history_end, "created": None}
    results: dict[str, object] = {}
    with scratch_database("gaps") as target, psycopg.connect(target.url, autocommit=True) as conn:
        started = time.perf_counter()
        for statement in [ROASTERS, *SCRAPE, *ANALYZE]:
            conn.execute(statement, values)
        results["setup_seconds"] = round(time.perf_counter() - started, 1)
        project = DbtProject(target)
        # Days pass in seconds here: the margin for writers still open during the previous
        # check (5 minutes) would make each check re-examine the one before. None overlap.
        project.env["COFFEE_CHANGE_LOOKBACK"] = "0 seconds"
        try:
            project.run("seed")  # reference data (currencies) the models read
            built = project.run("run", "--select", "+coverage_daily", "gaps", "--full-refresh")
            results["marts_build_seconds"] = round(built.wall_seconds, 1)
            recount, bare = [], []
            for _ in range(rounds):
                run = project.run("run", "--select", "coverage_daily", "gaps", "--full-refresh")
                recount.append(run.node_seconds["coverage_daily"] + run.node_seconds["gaps"])
                conn.execute("drop table if exists bench_bare")
                begun = time.perf_counter()
                conn.execute(BARE, {"first": first, "last": today})
                bare.append(time.perf_counter() - begun)
            checks, recomputed = [], []
            for day_number in range(rounds):
                day = history_end + dt.timedelta(days=day_number + 1)
                scraped_now = {**values, "first": day, "last": day, "created": dt.datetime.now(dt.timezone.utc)}
                for statement in SCRAPE:
                    conn.execute(statement, scraped_now)
                # the day's marts the runner's way (not timed), then the scheduled check
                project.run("run", "--select", "prices", "scrape_artifacts",
                            range_env={"start_date": day.isoformat(), "end_date": day.isoformat()})
                run = project.run("run", "--select", "coverage_daily", "gaps")
                checks.append((run.node_seconds["coverage_daily"], run.node_seconds["gaps"]))
                recomputed.append(_rows_recomputed(conn))
            results["fixed_seconds_per_invocation"] = round(run.fixed_seconds, 2)
            recent = {"start_date": (today - dt.timedelta(days=RANGE_DAYS - 1)).isoformat(),
                      "end_date": today.isoformat()}
            ranged = project.run("run", "--select", "coverage_daily", "gaps", range_env=recent)
            results["check_with_30d_revalidation_seconds"] = round(ranged.node_seconds["coverage_daily"], 3)
        finally:
            project.close()
        counts = dict(conn.execute("select status, count(*) from ops.coverage_daily group by status").fetchall())
        results["coverage_rows"] = sum(counts.values())
        results["status_counts"] = counts
        results["gap_rows"] = conn.execute("select count(*) from ops.gaps").fetchone()[0]
    best = min(checks, key=sum)
    results["scheduled_check_coverage_seconds"] = round(best[0], 3)
    results["scheduled_check_gaps_seconds"] = round(best[1], 3)
    results["scheduled_check_rows_recomputed"] = recomputed
    results["full_recount_seconds"] = round(min(recount), 3)
    results["bare_cross_join_seconds"] = round(min(bare), 3)
    results["runner_peak_mb"] = round(self_peak_mb(), 1)
    scheduled = sum(best)
    log(f"scheduled check {scheduled:.2f} s, full recount {results['full_recount_seconds']:.2f} s, "
        f"bare {results['bare_cross_join_seconds']:.2f} s")
    emit("gaps", params, results, {
        "scheduled_check_seconds": (scheduled, 2.0, "max"),
        "scheduled_check_over_bare_cross_join": (ratio(scheduled, results["bare_cross_join_seconds"]), 3.0, "max"),
        "full_recount_seconds": (results["full_recount_seconds"], 2.0, "max"),
        "full_recount_over_bare_cross_join": (ratio(results["full_recount_seconds"],
                                                    results["bare_cross_join_seconds"]), 3.0, "max"),
        "runner_peak_mb": (results["runner_peak_mb"], 300, "max"),
    })


def _rows_recomputed(conn: psycopg.Connection) -> int:
    """Rows the newest check wrote (its transaction's id is on them: xmin)."""
    return conn.execute("""select count(*) from ops.coverage_daily
                            where xmin::text::bigint = (select max(xmin::text::bigint) from ops.coverage_daily)"""
                        ).fetchone()[0]


if __name__ == "__main__":
    main()
