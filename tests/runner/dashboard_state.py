"""A database where every status the dashboard draws has a known (roaster, day).

Five days of the four simulator shops, the last one TODAY, the clock at CLOCK (noon UTC):

    aurora-beans  complete x4, then today not yet due (its schedule is 23:00 New York)
    blue-peak     complete, invalid (HTML instead of JSON), failed (500s), complete, complete
    cedar-roast   complete, partial (a raw page lost), complete, then paused since day 4
    dune-coffee   acknowledged, missing, unprocessed (prices lost), complete, missing today

Test modules import `history_template` and `history` from here: conftest's db_template
then copies this template into each test's database.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from runner.core.config import Config, parse_config
from runner.ops.checks import acknowledge
from runner.sandbox.simulator import Fault, Simulator
from runner.service.run import serve_web
from runner.store import pauses
from runner.store.db import Target
from runner.store.pool import direct
from runner.web.app import App
from tests.runner.helpers import CLOCK, TODAY, days_from, dbt, fetch_days

DAYS = days_from(TODAY - dt.timedelta(days=4), 5)
D0, D1, D2, D3, D4 = DAYS
PAUSED_AT = dt.datetime.combine(D3, dt.time(12), dt.timezone.utc)
EXPECTED = {
    "aurora-beans": ["complete", "complete", "complete", "complete", "not_yet_due"],
    "blue-peak": ["complete", "invalid", "failed", "complete", "complete"],
    "cedar-roast": ["complete", "partial", "complete", "paused", "paused"],
    "dune-coffee": ["acknowledged", "missing", "unprocessed", "complete", "missing"],
}
FETCHED = {D0: ("aurora-beans", "blue-peak", "cedar-roast"), D1: ("aurora-beans", "blue-peak", "cedar-roast"),
           D2: ("aurora-beans", "blue-peak", "cedar-roast", "dune-coffee"),
           D3: ("aurora-beans", "blue-peak", "dune-coffee"), D4: ("blue-peak",)}
FAULTS = {D1: [Fault("html200", shop="blue-peak", resource="products")], D2: [Fault("500", shop="blue-peak")]}


def dashboard_config(sim: Simulator, folder: Path) -> tuple[Path, Config]:
    """The simulator's config from D0, aurora-beans scheduled at 23:00 (its today is not due)."""
    doc = yaml.safe_load(sim.roasters_yaml())
    for roaster in doc["roasters"]:
        roaster["since"] = D0
        if roaster["id"] == "aurora-beans":
            roaster["schedule"] = "23:00"
    path = folder / "roasters.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path, parse_config(path.read_text(encoding="utf-8"), path)


def _fetch(sim: Simulator, config: Config, target: Target) -> None:
    for day in DAYS:
        sim.set_faults(FAULTS.get(day, []))
        fetch_days(sim, config, target, [day], roasters=FETCHED[day])
    sim.set_faults([])


def _damage(target: Target, config: Config) -> None:
    """Derived rows lost (dune D2), a raw page lost (cedar D1), an acknowledged gap, a pause."""
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute("delete from marts.prices where roaster_id = 'dune-coffee' and day = %s", (D2,))
        with conn.transaction():
            conn.execute("set local session_replication_role = replica")  # around the append-only guard
            conn.execute("""delete from raw.scrape_artifacts where id = (
                                select a.id from raw.scrape_artifacts as a join raw.scrape_runs as r on r.id = a.run_id
                                 where r.roaster_id = 'cedar-roast' and r.target_day = %s
                                   and a.resource = 'products' order by a.page limit 1)""", (D1,))
        pauses.pause(conn, ["cedar-roast"], "shop maintenance")
        conn.execute("update control.pauses set paused_at = %s", (PAUSED_AT,))
    acknowledge(target, config.roaster("dune-coffee"), D0, D0, "never archived (test)")


def build(sim: Simulator, folder: Path, target: Target, env: pytest.MonkeyPatch) -> None:
    env.setenv("COFFEE_NOW", CLOCK.isoformat())
    sim.reset()
    _, config = dashboard_config(sim, folder)
    _fetch(sim, config, target)
    assert dbt(target, "run").ok
    _damage(target, config)
    result = dbt(target, "run", "--select", "coverage_daily+", start_date=str(D0), end_date=str(D4))
    assert result.ok, result.output[-3000:]


@pytest.fixture(scope="session")
def history_template(templates, shared_sim, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard-history")
    return templates("dashboard", lambda target, env: build(shared_sim, folder, target, env))


@pytest.fixture
def history(db_url, shared_sim, monkeypatch, tmp_path):
    """This test's copy of the dashboard database, the clock at CLOCK: (config path, config)
    pointing at the worker's simulator (pages read no shop)."""
    monkeypatch.setenv("COFFEE_NOW", CLOCK.isoformat())
    return dashboard_config(shared_sim, tmp_path)


@pytest.fixture
def archive_sim() -> Iterator[Simulator]:
    """A simulator whose archive holds every past day, today TODAY: for repairs."""
    with Simulator(today=TODAY, archive_coverage=1.0) as sim:
        yield sim


@contextmanager
def dashboard(config: Config, db_url: str) -> Iterator[str]:
    """The service's HTTP server (health, metrics, dashboard) on a free port: its base URL."""
    target = Target(url=db_url, embedded=False)
    with serve_web(config, target, "127.0.0.1", 0, threading.Event(), direct(target)) as base:
        yield base


@contextmanager
def in_process(config: Config, db_url: str) -> Iterator[httpx.Client]:
    """The same WSGI application called in this process, without a server."""
    target = Target(url=db_url, embedded=False)
    app = App(config, target, direct(target))
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://dashboard", timeout=30) as client:
        yield client
