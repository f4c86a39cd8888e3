"""The runbook's twelve backfill scenarios, each staged on the simulator and repaired with
only the commands the scenarios table of docs/operations/runbook.md gives for it.

A scenario runs in a small world: the simulator's four shops, scraped live on each of
the last WORLD_DAYS days (today included) at noon UTC and built, with the clock held at
today 12:30 UTC ($COFFEE_NOW). `stage` breaks the world as the runbook's scenario does;
the `detect` command must name what broke (`detected` checks its JSON); the `repair`
commands, run as real `coffee-runner` processes, must end with every day complete and
every run's prices equal to what the simulator served (`mismatches`).

`coffee-runner demo --scenario NAME` runs one on the embedded database; the test suite
(tests/runner/test_scenarios.py) runs each on its own copy of one world.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.acquire.fetch import fetch_live
from runner.core.config import Config, parse_config
from runner.core.dbt_project import project_dir
from runner.sandbox.simulator import Simulator
from runner.sandbox.truth import mismatched_runs
from runner.store.db import Target, connect, one_row
from runner.transform.bootstrap import prepare_database
from runner.transform.coverage import ensure_built
from runner.transform.dbt_runner import run_dbt
from runner.transform.dbt_worker import PROJECT_PARTS

WORLD_DAYS = 4  # today and the three days before
CAPTURE_HOUR = 12  # UTC: the same calendar day in every simulator timezone
CLOCK_AFTER_CAPTURE = dt.timedelta(minutes=30)  # "now" in a scenario: after today's scrape
RESCRAPE_MINUTE = 20  # a scenario's own scrape of today: 12:20 UTC, between the world's and "now"
COMMAND_TIMEOUT_SECONDS = 600
KILL_WAIT_SECONDS = 120
SCENARIO_LATENCY_SECONDS = 0.3  # service_restart: slow enough to kill a backfill mid-work


@dataclass
class Ran:
    args: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class World:
    """A scenario's shops, database, config and clock; `cli` runs the real command line."""

    sim: Simulator
    config_path: Path
    target: Target
    today: dt.date
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # filled into commands: {first}, {bad}...

    @property
    def days(self) -> list[dt.date]:
        return [self.today - dt.timedelta(days=n) for n in range(WORLD_DAYS - 1, -1, -1)]

    @property
    def config(self) -> Config:
        return parse_config(self.config_path.read_text(encoding="utf-8"), self.config_path)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Ran:
        argv = [sys.executable, "-m", "runner", "--config", str(self.config_path), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS,
                              env={**os.environ, **self.child_env(), **(env or {})})
        return Ran(list(args), done.returncode, done.stdout, done.stderr)

    def spawn(self, *args: str) -> subprocess.Popen:
        """`coffee-runner ARGS` as a real process (SIGKILL-able), its output discarded."""
        return subprocess.Popen([sys.executable, "-m", "runner", "--config", str(self.config_path), *args],
                                env={**os.environ, **self.child_env()}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def child_env(self) -> dict[str, str]:
        return {"COFFEE_DATABASE_URL": self.target.url, "COFFEE_NOW": self.now().isoformat(), **self.env}

    def now(self) -> dt.datetime:
        return dt.datetime.combine(self.today, dt.time(CAPTURE_HOUR), dt.timezone.utc) + CLOCK_AFTER_CAPTURE

    def fill(self, args: tuple[str, ...]) -> list[str]:
        values = {"first": self.days[0].isoformat(), "last": self.today.isoformat(),
                  "today": self.today.isoformat(), **self.values}
        return [a.format(**values) for a in args]

    def scrape(self, roaster_id: str) -> None:
        """Today's scheduled scrape of one shop again, a little before "now" (after the
        world's own scrape of today): the captures must carry the world's clock, which a
        `fetch` process does not read (it stamps live captures with the wall clock)."""
        config = self.config
        fetch_live(config, self.target, [config.roaster(roaster_id)],
                   clock=_ticking(self.today, CAPTURE_HOUR * 60 + RESCRAPE_MINUTE))

    def edit_monitoring(self, **changes: Any) -> None:
        self._edit(lambda doc: doc.setdefault("monitoring", {}).update(changes))

    def edit_config(self, roaster_id: str, **changes: Any) -> None:
        self._edit(lambda doc: [r.update(changes) for r in doc["roasters"] if r["id"] == roaster_id])

    def _edit(self, change: Callable[[dict], Any]) -> None:
        """Rewrite roasters.yml with one change, as an operator would edit it."""
        doc = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        change(doc)
        self.config_path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")

def write_config(sim: Simulator, folder: Path, since: dt.date) -> Path:
    doc = yaml.safe_load(sim.roasters_yaml())
    for roaster in doc["roasters"]:
        roaster["since"] = since
    path = folder / "roasters.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def build_world(sim: Simulator, home: Path, target: Target, today: dt.date) -> World:
    """Scrape every shop live on each day of the world (the simulator set to that day, the
    capture at noon UTC), then build the marts."""
    world = World(sim, write_config(sim, home, today - dt.timedelta(days=WORLD_DAYS - 1)), target, today, home)
    config = world.config
    prepare_database(config, target)
    for day in world.days:
        sim.state.today = day
        fetch_live(config, target, list(config.roasters), clock=_ticking(day))
    ensure_built(target)
    result = run_dbt(target, ["run"], echo=False)
    if not result.ok:
        raise RuntimeError(f"the world's build failed: {result.output[-2000:]}")
    return world


def _ticking(day: dt.date, minute: int = CAPTURE_HOUR * 60) -> Callable[[], dt.datetime]:
    """A clock from `minute` (of the day, UTC) on `day`, a second on per reading."""
    moment = [dt.datetime.combine(day, dt.time(0), dt.timezone.utc) + dt.timedelta(minutes=minute)]

    def now() -> dt.datetime:
        moment[0] += dt.timedelta(seconds=1)
        return moment[0]

    return now


# --- what the end state must be ------------------------------------------------------------

def mismatches(world: World) -> list[str]:
    """Every day of the world that is not complete, and every run whose prices differ from
    what the simulator served that run's day (the capture's UTC date): empty when repaired."""
    with connect(world.target) as conn:
        bad = [f"{r} {d} {s}" for r, d, s in conn.execute(
            """select roaster_id, day, status from ops.coverage_daily
                where status <> 'complete' and not acknowledged and day between %s and %s
                order by 1, 2""", (world.days[0], world.today))]
        bad += mismatched_runs(conn, world.sim, world.days[0], world.today + dt.timedelta(days=1))
    return bad


# --- deploying other code ------------------------------------------------------------------

def deploy(world: World, name: str, path: str, old: str, new: str,
           also: tuple[tuple[str, str, str], ...] = ()) -> None:
    """Deploy a release: a copy of the dbt project with one edit (and the `also` edits, each
    (path, old, new): a new mart column declares itself in the contract too), made current
    for every later command ($COFFEE_DBT_PROJECT_DIR)."""
    source, copy = project_dir(), world.home / "releases" / name
    if copy.exists():
        shutil.rmtree(copy)
    for part in (*PROJECT_PARTS, "profiles.example.yml"):
        if (source / part).is_dir():
            shutil.copytree(source / part, copy / part)
        elif (source / part).is_file():
            copy.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, copy / part)
    for file, before, after in ((path, old, new), *also):
        edited = copy / file
        text = edited.read_text(encoding="utf-8")
        if before not in text:
            raise RuntimeError(f"release {name}: {file} no longer contains {before!r}")
        edited.write_text(text.replace(before, after), encoding="utf-8")
    world.env["COFFEE_DBT_PROJECT_DIR"] = str(copy)


def roll_back(world: World) -> None:
    """Back to the installed code."""
    world.env.pop("COFFEE_DBT_PROJECT_DIR", None)


def version_of(world: World, model: str = "prices") -> str:
    """The code version that last replaced rows of a mart (control.mart_rebuilds)."""
    with connect(world.target) as conn:
        return one_row(conn.execute("""select code_version from control.mart_rebuilds where model = %s
                                order by rebuilt_at desc limit 1""", (model,)).fetchone())[0]
