"""Backfill throughput from the web archive, and what a SIGKILL costs.

The simulator's archive holds every past day (coverage 1.0) and answers after a fixed
latency; the runner may send `archive_rps` requests per second to it. The rate-limit
bound is (archive requests the backfill needed) / archive_rps. A second backfill of the
same range is SIGKILLed halfway and resumed: work redone is the items fetched twice,
seconds lost is its total wall time minus the uninterrupted one.

    python bench/backfill.py [--quick]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import yaml
from common import PeakWatcher, emit, log, parse_args, ratio, scratch_database

from runner.sandbox.simulator import Simulator
from runner.sandbox.simulator.catalog import ShopSpec

FULL = {"roasters": 20, "days": 60, "concurrency": 8, "archive_rps": 40.0, "latency_ms": 20}
QUICK = {"roasters": 2, "days": 4, "concurrency": 8, "archive_rps": 40.0, "latency_ms": 20}
TODAY = dt.date(2026, 11, 20)
POLL_SECONDS = 0.1
BACKFILL_TIMEOUT_SECONDS = 3600


def shops(count: int) -> tuple[ShopSpec, ...]:
    zones = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata")
    return tuple(ShopSpec(f"shop-{i:03d}", f"Shop {i}", "shopify" if i % 2 else "woocommerce",
                          ("USD", "EUR", "GBP", "INR")[i % 4], zones[i % 4], products=12)
                 for i in range(count))


def spawn(config: Path, url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "COFFEE_DATABASE_URL": url, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.Popen([sys.executable, "-m", "runner", "--config", str(config), "backfill", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def archive_requests(sim: Simulator, since: int) -> int:
    return sum(1 for r in sim.requests()[since:] if r.path.startswith("/wayback/"))


def phases(since: int) -> dict[str, float]:
    """Seconds per phase, from the backfill's event log (written from offset `since`)."""
    path = Path(os.environ["COFFEE_HOME"]) / "logs" / "backfill.log"
    events = {}
    with path.open(encoding="utf-8") as handle:
        handle.seek(since)
        for line in handle:
            record = json.loads(line)
            events.setdefault(record["event"], dt.datetime.fromisoformat(record["at"]))
    seconds = {}
    for name, start, end in (("fetch", "backfill_started", "dbt_started"), ("dbt_build", "dbt_started", "dbt_finished"),
                             ("gaps_after", "dbt_finished", "backfill_finished")):
        if start in events and end in events:
            seconds[name] = round((events[end] - events[start]).total_seconds(), 2)
    return seconds


def log_size() -> int:
    path = Path(os.environ["COFFEE_HOME"]) / "logs" / "backfill.log"
    return path.stat().st_size if path.exists() else 0


def run_whole(sim: Simulator, config: Path, url: str, window: list[str], params: dict) -> dict:
    before = len(sim.requests())
    offset = log_size()
    started = time.perf_counter()
    proc = spawn(config, url, *window, "--concurrency", str(params["concurrency"]), "--json")
    watcher = PeakWatcher(proc.pid)
    out, _ = proc.communicate(timeout=BACKFILL_TIMEOUT_SECONDS)
    wall = time.perf_counter() - started
    summary = json.loads(out)
    return {"wall_seconds": wall, "phases": phases(offset), "archive_requests": archive_requests(sim, before),
            "peak_mb": watcher.peak_mb(),
            "status": summary["status"], "items": sum(summary["items"].values()), "items_by_state": summary["items"],
            "exit": proc.returncode}


def run_killed(config: Path, url: str, window: list[str], params: dict, items: int) -> dict:
    started = time.perf_counter()
    proc = spawn(config, url, *window, "--concurrency", str(params["concurrency"]), "--json")
    with psycopg.connect(url, autocommit=True) as conn:
        done = 0
        while proc.poll() is None and done < items // 2:
            time.sleep(POLL_SECONDS)
            try:
                done = conn.execute("select count(*) from control.backfill_items where state = 'done'").fetchone()[0]
            except psycopg.errors.UndefinedTable:
                continue  # not migrated yet
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log(f"killed at {done} of {items} items done")
        resumed = spawn(config, url, "--resume", "--concurrency", str(params["concurrency"]), "--json")
        out, _ = resumed.communicate(timeout=BACKFILL_TIMEOUT_SECONDS)
        wall = time.perf_counter() - started
        twice = conn.execute("""select count(*) from (select roaster_id, target_day from raw.scrape_runs
                                 group by 1, 2 having count(*) > 1) as redone""").fetchone()[0]
    return {"wall_seconds": wall, "done_at_kill": done, "items_fetched_twice": twice,
            "status": json.loads(out)["status"]}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    params = dict(QUICK if args.quick else FULL)
    end = TODAY - dt.timedelta(days=2)
    start = end - dt.timedelta(days=params["days"] - 1)
    window = ["--start", start.isoformat(), "--end", end.isoformat()]
    with Simulator(shops=shops(params["roasters"]), today=TODAY, archive_coverage=1.0,
                   latency=params["latency_ms"] / 1000, history_days=params["days"] + 5) as sim, \
            tempfile.TemporaryDirectory() as folder:
        doc = yaml.safe_load(sim.roasters_yaml())
        doc["archive_rate_limit_rps"] = params["archive_rps"]
        for roaster in doc["roasters"]:
            roaster["since"] = start
        config = Path(folder) / "roasters.yml"
        config.write_text(yaml.safe_dump(doc))
        with scratch_database("backfill") as target:
            log(f"uninterrupted backfill: {params['roasters']} roasters x {params['days']} days")
            whole = run_whole(sim, config, target.url, window, params)
        with scratch_database("backfill_killed") as target:
            killed = run_killed(config, target.url, window, params, whole["items"])
    bound = whole["archive_requests"] / params["archive_rps"]
    fetch_seconds = whole["phases"]["fetch"]
    results = {
        "items": whole["items"],
        "items_by_state": whole["items_by_state"],
        "status": whole["status"],
        "wall_seconds": round(whole["wall_seconds"], 2),
        "phase_seconds": {"plan": round(whole["wall_seconds"] - sum(whole["phases"].values()), 2),
                          **whole["phases"]},
        "items_per_second_fetching": round(whole["items"] / fetch_seconds, 2),
        "items_per_second_overall": round(whole["items"] / whole["wall_seconds"], 2),
        "archive_requests": whole["archive_requests"],
        "rate_limit_bound_seconds": round(bound, 2),
        "bound_items_per_second": round(whole["items"] / bound, 2),
        "resume": {**killed, "wall_seconds": round(killed["wall_seconds"], 2),
                   "seconds_lost": round(killed["wall_seconds"] - whole["wall_seconds"], 2)},
        "runner_peak_mb": whole["peak_mb"],
    }
    emit("backfill", params, results, {
        "fetch_throughput_over_rate_limit_bound": (ratio(bound, fetch_seconds), 0.7, "min"),
        "items_fetched_twice_after_kill": (killed["items_fetched_twice"], params["concurrency"], "max"),
        "runner_peak_mb": (whole["peak_mb"], 300, "max"),
    })


if __name__ == "__main__":
    main()
