"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from click.testing import CliRunner, Result

from runner.cli import cli
from runner.core.config import Config, parse_config
from runner.sandbox.simulator import Simulator

TODAY = dt.date(2026, 11, 20)
# Noon UTC on TODAY: the same calendar day in every default simulator timezone. Tests
# whose outcome depends on "today" set COFFEE_NOW to it (or to another fixed moment).
CLOCK = dt.datetime.combine(TODAY, dt.time(12), dt.timezone.utc)


def last_second_of(day: dt.date, timezone: str) -> dt.datetime:
    """23:59:59 on `day` in `timezone`: the moment a wall-clock test would fail at."""
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time(23, 59, 59), ZoneInfo(timezone))


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def sim_config(sim: Simulator, tmp_path: Path, since: dt.date | None = None,
               **http: float) -> tuple[Path, Config]:
    """Write the simulator's own config (optionally with http overrides) and load it."""
    doc = yaml.safe_load(sim.roasters_yaml())
    doc["http"].update(http)
    if since is not None:
        for roaster in doc["roasters"]:
            roaster["since"] = since
    path = tmp_path / "roasters.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path, parse_config(path.read_text(encoding="utf-8"), path)


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_process(*args: str, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process (exit codes, stdout purity)."""
    return subprocess.run([sys.executable, "-m", "runner", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def clock_at(day: dt.date, hour: int = 12):
    """A clock that starts at `hour`:00 UTC on `day` and ticks a second per reading.

    Noon UTC is the same calendar day in every default simulator timezone.
    """
    state = {"t": dt.datetime.combine(day, dt.time(hour), dt.timezone.utc)}

    def now() -> dt.datetime:
        state["t"] += dt.timedelta(seconds=1)
        return state["t"]

    return now


def fetch_days(sim: Simulator, config: Config, target, days, roasters=None) -> list:
    """Live-fetch each day in turn, the simulator and the clock both set to that day."""
    from runner.acquire.fetch import fetch_live

    chosen = [r for r in config.roasters if roasters is None or r.id in roasters]
    runs = []
    for day in days:
        sim.state.today = day
        runs += fetch_live(config, target, chosen, clock=clock_at(day))
    return runs


def dbt(target, *args: str, range_as_vars: bool = False, **variables) -> object:
    """The runner's way (range in $COFFEE_DBT_RANGE), or a person's (range_as_vars: --vars)."""
    import psycopg

    from runner.transform.dbt_runner import run_dbt

    if args[0] == "run":  # as a person would: `dbt seed` once before a first `dbt run`
        with psycopg.connect(target.url) as conn:
            seeded = conn.execute("select to_regclass('reference.iso_currencies') is not null").fetchone()[0]
        if not seeded:
            assert run_dbt(target, ["seed"], echo=False).ok
    return run_dbt(target, list(args), variables or None, echo=False, range_as_vars=range_as_vars)


def days_from(start: dt.date, count: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(count)]


MART_KEYS = {
    "marts.prices": "variant_id, scraped_at",
    "marts.scrape_artifacts": "id",
    "marts.variants": "id",
    "marts.products": "id",
    "marts.scrape_runs": "id",
    "ops.coverage_daily": "roaster_id, day",
}


def snapshot_tables(db, tables=tuple(MART_KEYS)) -> dict[str, list[tuple]]:
    """Every column but invocation_id, which names the build that wrote a row: the rest
    is what a rebuild must reproduce (code_version included)."""
    return {t: db.execute(f"select {', '.join(_columns(db, t))} from {t} order by {MART_KEYS[t]}").fetchall()
            for t in tables}


def _columns(db, table: str) -> list[str]:
    schema, name = table.split(".")
    return [r[0] for r in db.execute("""select column_name from information_schema.columns
                                         where table_schema = %s and table_name = %s and column_name <> 'invocation_id'
                                         order by ordinal_position""", (schema, name))]


def spawn_backfill(config_path, db_url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`coffee-runner backfill` as a real process (SIGKILL-able); stderr goes to a log file."""
    log = open(Path(config_path).parent / f"backfill-{time.monotonic_ns()}.log", "w")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, "-m", "runner", "--config", str(config_path), "backfill", *args],
                            env={**os.environ, "COFFEE_DATABASE_URL": db_url, **(env or {})},
                            stdout=subprocess.PIPE, stderr=log, text=True)


def comparable_tables(db) -> dict:
    """Tables with the random ids left out: what a rerun must reproduce exactly."""
    return {
        "prices": db.execute("""select variant_id, scraped_at, price, compare_at_price, is_sale, in_stock, currency,
                                       grind, weight_g from marts.prices order by 1, 2""").fetchall(),
        "artifacts": db.execute("""select roaster_id, url, sha256, validation_status, day from marts.scrape_artifacts
                                   order by 1, 2, 3""").fetchall(),
        "runs": db.execute("select roaster_id, target_day, kind, status from raw.scrape_runs order by 1, 2").fetchall(),
    }


def raw_is_whole(db) -> bool:
    """Every finished run still has exactly the artifacts it recorded: nothing lost."""
    short = db.execute("""select count(*) from raw.scrape_runs as runs
                           where status <> 'running' and artifacts <> (
                               select count(*) from raw.scrape_artifacts as a where a.run_id = runs.id)""").fetchone()
    return short[0] == 0


def wait_for_socket(path: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until a Unix socket at `path` accepts connections; fails if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode} before listening on {path}")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(path)
                return
            except OSError:
                time.sleep(0.05)
    raise AssertionError(f"nothing listened on {path} within {timeout} s")


# --- the scraper service as a real process (tests/runner/test_service.py, test_budget.py) ---

SERVE_WAIT_SECONDS = 120


class Serve:
    """One `coffee-runner serve` process; its log is a file, its port read from the log."""

    def __init__(self, config: Path, db_url: str, env: dict[str, str], name: str) -> None:
        self.log_path = config.parent / f"serve-{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runner", "--config", str(config), "serve", "--port", "0"],
            env={**os.environ, "COFFEE_DATABASE_URL": db_url, **env},
            stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"))  # noqa: SIM115 - the child owns it
        self.port = self._port()

    def _port(self) -> int:
        deadline = time.monotonic() + SERVE_WAIT_SECONDS
        while time.monotonic() < deadline:
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", self.log())
            if found:
                return int(found.group(1))
            assert self.proc.poll() is None, self.log()[-3000:]
            time.sleep(0.1)
        raise AssertionError("serve never listened")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self) -> dict[str, Any]:
        return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=30).json()

    def scheduler(self) -> dict[str, Any]:
        return self.health()["scheduler"]

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.proc.wait(timeout=SERVE_WAIT_SECONDS)


def service_config(sim: Simulator, tmp_path: Path, since: dt.date | None = None, **service: Any) -> Path:
    path, _ = sim_config(sim, tmp_path, since=since)
    doc = yaml.safe_load(path.read_text())
    doc["schedule"] = "00:00"
    doc["service"] = {"tick_seconds": 0.3, "jitter_seconds": 0, "catch_up_days": 0, "shutdown_grace": 3, **service}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def wait_for(check: Callable[[], Any], what: str, timeout: float = SERVE_WAIT_SECONDS,
             proc: Serve | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None:
            assert proc.proc.poll() is None, f"serve exited while waiting for {what}:\n{proc.log()[-3000:]}"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")




def last_dbt_nodes() -> list[str]:
    """The unique ids of the nodes the last dbt invocation in this test's COFFEE_HOME ran."""
    path = Path(os.environ["COFFEE_HOME"]) / "dbt" / "target" / "run_results.json"
    return [r["unique_id"] for r in json.loads(path.read_text())["results"]]
