"""The demo's service scene: `coffee-runner serve` on simulated days, in a database of its own.

Day 1: the service scrapes every shop at its scheduled time; one shop throttles the first
try, and the service retries it later the same day. Then the service is SIGKILLed, and
the machine stays off through day 2. On day 3 it is started again: it heals day 2 from
the web archive and scrapes day 3 live, with nobody typing a backfill. The clock is
injected (COFFEE_NOW moving at SCENE_RATE), so the days take seconds; the simulator
follows the same clock. The scene's database (`<database>_service`) is created afresh each
time and left for inspection.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import yaml
from psycopg import sql

from runner.core import clock
from runner.core.config import load_config
from runner.sandbox.simulator import Fault, Simulator
from runner.sandbox.truth import day_matches
from runner.store.db import Target, coffee_home, one_row
from runner.transform.bootstrap import prepare_database
from runner.transform.coverage import ensure_built

# Simulated seconds per real second: an hour in 12 s. The scene's checks are about days
# (a retry on the same local day), and its work takes real seconds that a loaded machine
# stretches: at this rate the throttled shop's first day (19 simulated hours left when the
# scene starts) lasts almost 4 real minutes, many times what the scrape and its retry need
# at a load average of 5 on two cores, while the retry's backoff costs 6 real seconds.
SCENE_RATE = 300.0
SCENE_START = dt.time(5, 0)  # UTC on the first day: 00:00 in New York, the latest of the shops' timezones
THROTTLED_SHOP = "dune-coffee"
SCENE_WAIT_SECONDS = 600  # a bound on a hung scene, far above what a loaded machine needs
POLL_SECONDS = 0.2
SCENE_SERVICE = {"tick_seconds": 300, "jitter_seconds": 0, "catch_up_days": 3, "retry_backoff_seconds": 1800,
                 "heal_interval_seconds": 86400, "concurrency": 4, "shutdown_grace": 10}


def run_scene(target: Target, first_day: dt.date, seed: int) -> dict[str, Any]:
    """Stage and check the scene; a dict for the demo's report (`ok` and what was seen)."""
    started = time.monotonic()
    url = scratch_database(target, "service")
    days = [first_day + dt.timedelta(days=i) for i in range(3)]
    home = coffee_home() / "demo" / "service"
    home.mkdir(parents=True, exist_ok=True)
    throttle = Fault("429", shop=THROTTLED_SHOP, resource="products", times=2, arg=600)
    with Simulator(seed=seed, follow_clock=True, archive_coverage=1.0, faults=[throttle]) as sim:
        config = _scene_config(sim, home, days[0])
        _prepare(url, config, home)  # before the clock starts: a day must not pass while dbt builds tables
        shops = len(sim.state.shops)
        with _moving_clock(days[0]) as env:
            first = _Serve(config, url, home, env)
            first.until(lambda: _count(url, OK_SHOPS_SQL, [days[0]]) == shops, "day 1 scraped")
            first.kill()
        with _moving_clock(days[2]) as env:
            second = _Serve(config, url, home, env)
            second.until(lambda: _count(url, COMPLETE_SQL, days) == 3 * shops, "day 2 healed and day 3 scraped")
            stopped = second.stop()
        result = _outcome(url, sim, days)
    result.update({"database": urlsplit(url).path.lstrip("/"),
                   "days": [d.isoformat() for d in days], "sigterm_exit": stopped,
                   "elapsed_seconds": round(time.monotonic() - started, 1)})
    result["checks"]["sigterm_exit_0"] = stopped == 0
    result["failed_checks"] = [name for name, passed in result["checks"].items() if not passed]
    result["ok"] = not result["failed_checks"]
    return result


OK_SHOPS_SQL = "select count(distinct roaster_id) from raw.scrape_runs where status = 'ok' and target_day = any(%s)"
COMPLETE_SQL = """select count(*) from ops.coverage_daily
                   where status = 'complete' and day = any(%s)"""


def _count(url: str, query: str, days: list[dt.date]) -> int:
    """The query's count; 0 before the service has created the tables."""
    with psycopg.connect(url) as conn:
        try:
            return int(one_row(conn.execute(query, (days,)).fetchone())[0])
        except psycopg.errors.UndefinedTable:
            return 0


def scratch_database(target: Target, suffix: str) -> str:
    """A fresh `<database>_<suffix>` beside the demo's database (dropped first if there); its URL."""
    parts = urlsplit(target.url)
    name = f"{parts.path.lstrip('/') or 'coffee_scraper'}_{suffix}"
    with psycopg.connect(target.url, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return parts._replace(path=f"/{name}").geturl()


def _prepare(url: str, config_path: Path, home: Path) -> None:
    """Migrations, roasters and the derived tables of the scene's database (the wall clock)."""
    target = Target(url=url, embedded=False)
    with environment({"COFFEE_HOME": str(home)}):
        prepare_database(load_config(str(config_path)), target)
        ensure_built(target)


@contextmanager
def _moving_clock(day: dt.date) -> Iterator[dict[str, str]]:
    """COFFEE_NOW at SCENE_START on `day`, moving at SCENE_RATE from now, in this process (the
    simulator reads it) and for the service processes (the returned variables)."""
    env = {clock.NOW_ENV: dt.datetime.combine(day, SCENE_START, dt.timezone.utc).isoformat(),
           clock.RATE_ENV: str(SCENE_RATE), clock.ANCHOR_ENV: str(time.time())}
    with environment(env):
        yield env


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _scene_config(sim: Simulator, home: Path, first_day: dt.date) -> Path:
    doc = yaml.safe_load(sim.roasters_yaml())
    for roaster in doc["roasters"]:
        roaster["since"] = first_day
    doc["http"]["max_attempts"] = 2  # the throttle outlasts one run's own retries: the service retries
    # midnight: every shop is due as the scene starts, and the throttled one's retry still
    # falls on its day 1 however slow the machine is (the scene's hours are seconds)
    doc.update({"schedule": "00:00", "service": SCENE_SERVICE})
    path = home / "roasters.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


class _Serve:
    """One `coffee-runner serve` child on the scene's database; its log in the scene's home."""

    def __init__(self, config: Path, url: str, home: Path, clock_env: dict[str, str]) -> None:
        self.log_path = home / f"serve-{time.monotonic_ns()}.log"
        env = {**os.environ, **clock_env, "COFFEE_DATABASE_URL": url, "COFFEE_HOME": str(home)}
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "runner", "--config", str(config), "serve",
                                          "--port", "0"], env=env, stdout=subprocess.DEVNULL, stderr=log)
        self.port = self._port()

    def _port(self) -> int:
        found = self.until(lambda: re.search(r"serving on http://127\.0\.0\.1:(\d+)", self.log_path.read_text()),
                            "the service to listen")
        return int(found.group(1))

    def until(self, check: Callable[[], Any], what: str) -> Any:
        """Until check() is true (its value), while this service runs; else RuntimeError."""
        deadline = time.monotonic() + SCENE_WAIT_SECONDS
        while time.monotonic() < deadline:
            if (value := check()):
                return value
            if self.proc.poll() is not None:
                break
            time.sleep(POLL_SECONDS)
        self.kill()
        tail = self.log_path.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"service scene: no {what} (log {self.log_path}):\n{tail}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=SCENE_WAIT_SECONDS)


def _outcome(url: str, sim: Simulator, days: list[dt.date]) -> dict[str, Any]:
    """What the database holds: runs per shop and day, coverage, and prices against the truth."""
    with psycopg.connect(url) as conn:
        runs = conn.execute("""select roaster_id, target_day, kind, status from raw.scrape_runs
                                order by roaster_id, target_day, created_at""").fetchall()
        statuses = conn.execute("""select roaster_id, day, status from ops.coverage_daily
                                    where day = any(%s) order by 1, 2""", (days,)).fetchall()
        truth = sum(day_matches(conn, sim, r, d) for r, d, status in statuses if status == "complete")
    by_unit: dict[str, list[str]] = {}
    for roaster_id, day, kind, status in runs:
        by_unit.setdefault(f"{roaster_id} {day}", []).append(f"{kind} {status}")
    retried = by_unit.get(f"{THROTTLED_SHOP} {days[0]}") == ["live fail", "live ok"]
    healed = all(by_unit.get(f"{r} {days[1]}") == ["archive ok"] for r in sim.state.shops)
    complete = len(statuses) == 3 * len(sim.state.shops) and all(s == "complete" for _, _, s in statuses)
    checks = {"retried_same_day": retried, "healed_from_archive": healed, "complete": complete,
              "truth": truth == len(statuses)}
    return {"checks": checks, "runs": by_unit, "retried_same_day": retried, "healed_from_archive": healed,
            "complete": complete, "truth": {"matched": truth, "checked": len(statuses)}}
