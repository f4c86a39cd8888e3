"""The dashboard's heatmap at scale: `GET /` for 1,000 roasters x 90 days.

Targets (issue 17): under 1 s of server time and under 2 MB. The peer measured in the
same run is the page's own coverage query alone (its lower bound: the rows have to be
read); `page_over_query` says what rendering adds on top.

`ops.coverage_daily` is built by dbt (seed + run, on no data: the real table), then
filled with synthetic days: mostly complete, with holes of every status, so the page's
size is the realistic one (a cell with an uncommon reason carries its index).
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from pathlib import Path

import httpx
import psycopg
from common import DbtProject, emit, log, parse_args, ratio, scratch_database, self_peak_mb

from runner.core.config import parse_config
from runner.service.run import serve_web
from runner.store.pool import direct
from runner.web import params, queries, routes

TODAY = dt.date(2026, 11, 20)
REPEATS = 5
MAX_SERVER_SECONDS = 1.0
MAX_PAGE_BYTES = 2 * 1024 * 1024

FILL = """
insert into ops.coverage_daily (roaster_id, day, status, runs, valid_artifacts, price_rows, rejected_items,
                                missing_variations, reason, acknowledged, acknowledged_reason, is_open_gap)
select r, d, s, 1, pages, rows_, 0, 0, reason, s = 'missing' and h < 0.002, null,
       s <> 'complete' and not (s = 'missing' and h < 0.002)
  from (
    select 'roaster-' || lpad(i::text, 4, '0') as r, day::date as d, h,
           case when h < 0.004 then 'missing' when h < 0.006 then 'failed' when h < 0.008 then 'invalid'
                when h < 0.012 then 'partial' when h < 0.016 then 'unprocessed' else 'complete' end as s,
           case when h < 0.004 then 'no run' when h < 0.006 then 'every run failed'
                when h < 0.008 then 'every catalog page is invalid'
                when h < 0.012 then 'a run ended partial or lost raw artifacts'
                when h < 0.016 then 'marts lack the day''s rows' end as reason,
           case when h < 0.012 then 1 else 3 end as pages,
           case when h < 0.016 then 0 else 60 + (i %% 40) end as rows_
      from generate_series(1, %(roasters)s) as i
     cross join generate_series(%(first)s::date, %(last)s::date, interval '1 day') as day
     cross join lateral (select abs(hashtext(i || '/' || day::date)) / 2147483647.0 as h) as x
  ) as days
"""


def config_for(n: int):
    lines = ["roasters:"] + [f"  - {{id: roaster-{i:04d}, name: Roaster {i}, platform: shopify, "
                             f"base_url: 'https://shop{i}.example'}}" for i in range(1, n + 1)]
    return parse_config("\n".join(lines) + "\n", Path("bench-roasters.yml"))


def median_seconds(run) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    sizes = {"roasters": 100 if args.quick else 1000, "days": 90}
    config = config_for(sizes["roasters"])
    first = TODAY - dt.timedelta(days=sizes["days"] - 1)
    query = params.page_range(config, first, TODAY, [])
    results: dict[str, object] = {}
    with scratch_database("dashboard") as target:
        project = DbtProject(target)
        project.run("seed")
        project.run("run", "--select", "+coverage_daily")
        with psycopg.connect(target.url, autocommit=True) as conn:
            conn.execute("truncate ops.coverage_daily")
            conn.execute(FILL, {"roasters": sizes["roasters"], "first": first, "last": TODAY})
            conn.execute("analyze ops.coverage_daily")
            results["cells"] = conn.execute("select count(*) from ops.coverage_daily").fetchone()[0]
            ids = [r.id for r in query.roasters]
            results["query_seconds"] = median_seconds(lambda: queries.coverage_rows(conn, first, TODAY, ids))
        raw = f"start={first}&end={TODAY}"
        page = routes.handle(config, direct(target), "/", raw)
        assert page.status == 200, page.body[:300]
        results["page_bytes"] = len(page.body)
        results["server_seconds"] = median_seconds(lambda: routes.handle(config, direct(target), "/", raw))
        results["json_bytes"] = len(routes.handle(config, direct(target), "/", raw + "&format=json").body)
        results["http_seconds"] = http_seconds(config, target, raw)
    results["bytes_per_cell"] = round(results["page_bytes"] / results["cells"], 1)
    results["page_over_query"] = round(ratio(results["server_seconds"], results["query_seconds"]), 2)
    results["runner_peak_mb"] = round(self_peak_mb(), 1)
    log(f"{results['cells']} cells: {results['server_seconds']:.3f} s, {results['page_bytes']} bytes")
    emit("dashboard", sizes, results, {
        "server_seconds": (results["server_seconds"], MAX_SERVER_SECONDS, "max"),
        "page_megabytes": (results["page_bytes"] / 2**20, MAX_PAGE_BYTES / 2**20, "max"),
    })


def http_seconds(config, target, raw: str) -> float:
    """The same page through the service's real HTTP server on 127.0.0.1."""
    with serve_web(config, target, "127.0.0.1", 0, threading.Event(), direct(target)) as base, \
            httpx.Client(base_url=base, timeout=60) as client:
        return median_seconds(lambda: client.get(f"/?{raw}").raise_for_status())


if __name__ == "__main__":
    main()
