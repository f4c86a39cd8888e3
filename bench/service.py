"""The scraper service at scale: many roasters scheduled within one hour, over several days.

`coffee-runner serve` runs as a real process against the simulator (its own process, a
fixed latency, every shop at `rps`) with an injected clock moving at `rate`, so a day takes
seconds. Measured in the same run:

- lateness: how long after its due time each roaster's scrape was done (simulated
  seconds, and in real seconds: the service's work takes real time whatever the clock's
  rate), and the first day in real time against its bound: the schedule's hour plus one
  shop's requests at its rate limit (the real-time equivalent is the hour plus what the
  service's own work added to the compressed one);
- the scheduler's own cost per roaster and tick: `decide` (pure) and the database reads a
  tick makes, against a bare `select` of the same rows (the lower bound);
- request-budget turns per second PostgreSQL sustains (8 clients, distinct keys),
  against plain round trips (`select 1`) on the same connections, and against the peak
  demand (every roaster at its rate limit at once);
- the service's RSS at the end of each simulated day (target under 300 MB, no growth);
- dbt's fixed cost per invocation (a run of one staging view) and one day's range build,
  in the service's worker against a fresh `dbt` process, on the same database.

    python bench/service.py [--quick]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import yaml
from common import emit, log, parse_args, ratio, scratch_database, self_peak_mb

from runner.core import clock
from runner.core.config import parse_config
from runner.core.schedule import due_at
from runner.sandbox.simulator import Simulator
from runner.sandbox.simulator.catalog import ShopSpec
from runner.service.loop import decide
from runner.store.budget import SharedBudget
from runner.store.db import Target
from runner.store.raw import unit_runs
from runner.transform import dbt_worker
from runner.transform.bootstrap import prepare
from runner.transform.coverage import ensure_built
from runner.transform.dbt_runner import range_vars, run_dbt

FULL = {"roasters": 1000, "days": 7, "rps": 2.0, "latency_ms": 50, "rate": 1200.0, "concurrency": 64,
        "products": 40}
QUICK = {"roasters": 10, "days": 2, "rps": 2.0, "latency_ms": 50, "rate": 3600.0, "concurrency": 16,
         "products": 20}
FIRST_DAY = dt.date(2026, 11, 16)
SCHEDULE_HOUR_SECONDS = 3600  # every roaster's scrape is due within the first hour of its day
RSS_TARGET_MB = 300
WAIT_SECONDS = 3600


def serve_shops(params: dict, ready: multiprocessing.Queue, env: dict[str, str]) -> None:
    """The shops in their own process, on the service's clock."""
    os.environ.update(env)
    shops = tuple(ShopSpec(f"r{i:04d}", f"Roaster {i}", "shopify", "USD", products=params["products"])
                  for i in range(params["roasters"]))
    sim = Simulator(shops=shops, follow_clock=True, latency=params["latency_ms"] / 1000,
                    rate_limit_rps=params["rps"], archive_coverage=1.0)
    ready.put(sim.url)
    sim.serve_forever()


def write_config(url: str, params: dict, home: Path) -> Path:
    doc = yaml.safe_load(httpx.get(f"{url}/_sim/roasters.yml", timeout=60).text)
    for roaster in doc["roasters"]:
        roaster["since"] = FIRST_DAY
    doc["http"].update({"global_concurrency": 64})
    doc["schedule"] = "00:00"
    doc["service"] = {"jitter_seconds": SCHEDULE_HOUR_SECONDS, "tick_seconds": 60, "catch_up_days": 1,
                      "concurrency": params["concurrency"], "heal_interval_seconds": 86400}
    path = home / "roasters.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_service(params: dict, target: Target, config: Path, env: dict[str, str], home: Path) -> dict:
    """The service through `days` simulated days: lateness, the first day's wall time, RSS per day."""
    log_path = home / "serve.log"
    with open(log_path, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "runner", "--config", str(config), "serve", "--port", "0"],
                                env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=stderr)
    started = time.perf_counter()
    rss, first_day_wall = [], None
    try:
        for index in range(params["days"]):
            day = FIRST_DAY + dt.timedelta(days=index)
            wait_until(lambda d=day: done_units(target, d) == params["roasters"], proc, log_path)
            if index == 0:
                first_day_wall = time.perf_counter() - started
            rss.append(round(rss_mb(proc.pid), 1))
            log(f"day {day}: all {params['roasters']} roasters done; service RSS {rss[-1]} MB")
    finally:
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(timeout=600)
    return {"first_day_wall": first_day_wall, "rss": rss, "exit_code": exit_code,
            "lateness": lateness(target, params, float(env[clock.ANCHOR_ENV]))}


def wait_until(check, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        if proc.poll() is not None:
            raise SystemExit(f"serve exited: {log_path.read_text()[-2000:]}")
        time.sleep(0.5)
    raise SystemExit("the service did not finish in time")


def done_units(target: Target, day: dt.date) -> int:
    with psycopg.connect(target.url) as conn:
        try:
            return int(conn.execute("""select count(distinct roaster_id) from raw.scrape_runs
                                        where target_day = %s and status = 'ok'""", (day,)).fetchone()[0])
        except psycopg.errors.UndefinedTable:
            return 0


def lateness(target: Target, params: dict, anchor: float) -> dict:
    """Simulated seconds from each roaster's due time to the end of its ok run: a run's
    finished_at is wall time, converted at the clock's rate from the clock's anchor."""
    with psycopg.connect(target.url) as conn:
        rows = conn.execute("""select roaster_id, target_day, finished_at from raw.scrape_runs
                                where status = 'ok' and kind = 'live'""").fetchall()
    start = dt.datetime.combine(FIRST_DAY, dt.time(0), dt.timezone.utc)
    late = []
    for roaster_id, day, finished in rows:
        due = due_at("00:00", "UTC", day, roaster_id, SCHEDULE_HOUR_SECONDS)
        simulated = start + dt.timedelta(seconds=(finished.timestamp() - anchor) * params["rate"])
        late.append((simulated - due).total_seconds())
    late.sort()
    return {"p50": round(statistics.median(late), 1), "p99": round(late[int(len(late) * 0.99) - 1], 1),
            "max": round(late[-1], 1), "runs": len(late)}


def scheduler_cost(config_path: Path, target: Target, repeats: int = 20) -> dict:
    """Per roaster: decide() alone, and a tick's reads (unit runs), against a bare select."""
    config = parse_config(config_path.read_text(), config_path)
    now = dt.datetime.combine(FIRST_DAY, dt.time(12), dt.timezone.utc)
    units = [(r.id, r.today(now)) for r in config.roasters]
    with psycopg.connect(target.url) as conn:
        runs = unit_runs(conn, units)
        started = time.perf_counter()
        for _ in range(repeats):
            decide(config, now, [], runs)
        decide_s = (time.perf_counter() - started) / repeats
        started = time.perf_counter()
        for _ in range(repeats):
            unit_runs(conn, units)
        reads_s = (time.perf_counter() - started) / repeats
        started = time.perf_counter()
        for _ in range(repeats):
            conn.execute("select roaster_id, target_day, status from raw.scrape_runs where target_day = %s",
                         (FIRST_DAY,)).fetchall()
        bare_s = (time.perf_counter() - started) / repeats
    n = len(units)
    return {"decide_us_per_roaster": round(decide_s / n * 1e6, 1),
            "reads_us_per_roaster": round(reads_s / n * 1e6, 1),
            "bare_select_us_per_roaster": round(bare_s / n * 1e6, 1),
            "reads_over_bare": round(ratio(reads_s, bare_s), 2)}


def budget_rate(url: str, seconds: float) -> dict:
    """Turns/s (take and give back, three round trips) over 8 concurrent clients (distinct
    keys, zero interval), and the same clients' plain round trips/s: the lower bound."""
    async def client(index: int, reserve: bool) -> int:
        budget = SharedBudget(url)
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        count, deadline = 0, time.perf_counter() + seconds
        try:
            while time.perf_counter() < deadline:
                if reserve:
                    await budget.take_turn(f"bench-{index}")
                    await budget.give_back(f"bench-{index}", 0.0)
                else:
                    await conn.execute("select 1")
                count += 1
        finally:
            await budget.close()
            await conn.close()
        return count

    async def go(reserve: bool) -> float:
        counts = await asyncio.gather(*(client(i, reserve) for i in range(8)))
        return sum(counts) / seconds

    reserved, trips = asyncio.run(go(True)), asyncio.run(go(False))
    return {"reservations_per_second": round(reserved), "round_trips_per_second": round(trips),
            "reservations_over_round_trips": round(ratio(reserved, trips), 3)}


def dbt_cost(target: Target, builds: int) -> dict:
    """dbt's fixed cost per invocation (a run of one staging view: no data work) and one day's
    range build, each in a dbt worker (as the service runs them) and as a fresh process."""
    invocations = {"fixed": (["run", "--select", "stg_raw__roasters"], None),
                   "one_day_build": (["build"], range_vars(FIRST_DAY.isoformat(), FIRST_DAY.isoformat()))}
    timings: dict[str, dict[str, list[float]]] = {name: {"fresh": [], "worker": []} for name in invocations}

    def measure(mode: str) -> None:
        for name, (args, variables) in invocations.items():
            for _ in range(builds):
                started = time.perf_counter()
                assert run_dbt(target, args, variables, echo=False).ok
                timings[name][mode].append(time.perf_counter() - started)

    os.environ.pop(dbt_worker.SOCKET_ENV, None)
    measure("fresh")
    with dbt_worker.running():
        assert run_dbt(target, ["run", "--select", "stg_raw__roasters"], echo=False).ok  # the worker's one parse
        measure("worker")
    return {name: {mode: round(statistics.median(values), 2) for mode, values in modes.items()}
            for name, modes in timings.items()}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    params = dict(QUICK if args.quick else FULL)
    clock_env = {clock.NOW_ENV: dt.datetime.combine(FIRST_DAY, dt.time(0), dt.timezone.utc).isoformat(),
                 clock.RATE_ENV: str(params["rate"]), clock.ANCHOR_ENV: str(time.time() + 30)}
    ready: multiprocessing.Queue = multiprocessing.Queue()
    with scratch_database("service") as target:
        home = Path(os.environ["COFFEE_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        server = multiprocessing.Process(target=serve_shops, args=(params, ready, clock_env), daemon=True)
        server.start()
        try:
            url = ready.get(timeout=120)
            config = write_config(url, params, home)
            with psycopg.connect(target.url, autocommit=True) as conn:
                prepare(conn, parse_config(config.read_text(), config))
            ensure_built(target)  # before the clock starts: the first hour is for scraping
            clock_env[clock.ANCHOR_ENV] = str(time.time())  # the day starts when the service does
            server_env = {**clock_env, "COFFEE_DATABASE_URL": target.url}
            log(f"serving {params['roasters']} roasters for {params['days']} simulated days at {params['rate']:g}x")
            service = run_service(params, target, config, server_env, home)
        finally:
            server.terminate()
        costs = scheduler_cost(config, target)
        budget = budget_rate(target.url, 2.0 if args.quick else 5.0)
        dbt = dbt_cost(target, 1 if args.quick else 3)
    requests_per_roaster = 2 + params["products"] // 250 + 1  # robots.txt, the pages, the empty last page
    scrape = (requests_per_roaster - 1) / params["rps"]
    # The clock runs `rate` times faster, but the service's own work (fetching, dbt builds) takes
    # real seconds: what it adds to the day, in real time, is the wall time less the compressed
    # hour. At the real rate the day's scrapes end that much after the hour.
    overhead = service["first_day_wall"] - SCHEDULE_HOUR_SECONDS / params["rate"]
    bound = SCHEDULE_HOUR_SECONDS + scrape
    real_wall = SCHEDULE_HOUR_SECONDS + max(overhead, scrape)
    late_real = {k: (round(v / params["rate"], 1) if k != "runs" else v)
                 for k, v in service["lateness"].items()}
    tick_seconds = costs["decide_us_per_roaster"] + costs["reads_us_per_roaster"]
    days_rss = service["rss"]
    growth = max((b - a for a, b in itertools.pairwise(days_rss)), default=0.0)
    results = {
        "first_day_wall_seconds": round(service["first_day_wall"], 1),
        "first_day_overhead_real_seconds": round(overhead, 1),
        "first_day_real_equivalent_seconds": round(real_wall, 1),
        "first_day_bound_seconds": round(bound, 1),
        "lateness_simulated_seconds": service["lateness"],
        "lateness_real_seconds": late_real,
        "scheduler": costs,
        "budget": budget,
        "service_rss_mb_per_day": service["rss"],
        "service_exit_code": service["exit_code"],
        "dbt_build": dbt,
        "runner_peak_mb": round(self_peak_mb(), 1),
    }
    emit("service", params, results, {
        "first_day_real_equivalent_over_bound": (ratio(real_wall, bound), 1.05, "max"),
        # a tick's decisions and reads for every roaster, against the default 30 s between ticks
        "tick_cost_share_of_interval": (tick_seconds * params["roasters"] / 1e6 / 30.0, 0.01, "max"),
        "service_rss_mb_last_day": (service["rss"][-1], RSS_TARGET_MB, "max"),
        "service_rss_growth_mb_per_day": (growth, 10.0, "max"),
        "dbt_worker_fixed_seconds": (dbt["fixed"]["worker"], 1.0, "max"),
        "dbt_worker_fixed_over_fresh_process": (ratio(dbt["fixed"]["worker"], dbt["fixed"]["fresh"]), 0.2, "max"),
        # every shop at its limit at once: the reservations PostgreSQL must sustain
        "budget_reservations_over_peak_demand": (ratio(budget["reservations_per_second"],
                                                       params["roasters"] * params["rps"]), 1.0, "min"),
    })


if __name__ == "__main__":
    main()
