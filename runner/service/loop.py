"""The scraper service: `coffee-runner serve`, the long-running process the runbook stops,
starts and checks.

Every tick (`service.tick_seconds`) it decides, from the database alone, what each active
roaster needs (`decide`, a pure function): nothing (done today, paused, another process's
run in progress), to wait (its scheduled time, or a retry after a failure), or a live
scrape of its local today. On start, every `heal_interval_seconds` and whenever a
roaster's local day turns over, it also plans the open gaps of the last `catch_up_days`
(the catch-up: archive refetches, reparses). Both go into one backfill of origin
`service` (the ledger's claims and unit locks, so several instances, and any backfill a
person runs, never fetch a unit twice), finished by one dbt build for the batch.

Decisions read only the database, so a restart, a second instance on another machine,
or an operator's `pause` all take effect on the next tick.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from runner.acquire.client import parse_retry_after
from runner.backfill import engine, ledger
from runner.backfill.ledger import Options
from runner.backfill.plan import Plan, PlanItem, build_plan
from runner.core import clock
from runner.core.config import Config, Roaster, load_config
from runner.core.errors import InputError
from runner.store import pauses
from runner.store import raw as store
from runner.store.db import Target, connect, one_row
from runner.store.pool import Connections, direct
from runner.transform import dbt_worker
from runner.transform.bootstrap import prepare

MIN_REAL_TICK_SECONDS = 0.2  # a fast injected clock still leaves the CPU some rest
NEVER_ABORT = 1.0  # the service retries failures itself: a batch never stops on its failure rate
OPEN_STATES = ("failed", "pending", "running")  # items a later catch-up tries again

log = logging.getLogger(__name__)


# --- what each roaster needs now (pure) ------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    roaster_id: str
    day: dt.date  # the roaster's local today
    state: str  # due, scheduled, retry_wait, done, running, paused
    next_run_at: dt.datetime | None = None
    detail: str | None = None  # the pause reason, or why a retry waits


def retry_backoff(failures: int, base: float, cap: float) -> float:
    """Seconds before the next try of a day after `failures` failed ones: base, doubling, capped."""
    return min(cap, base * 2 ** max(0, failures - 1))


def decide(config: Config, now: dt.datetime, paused: list[pauses.Pause],
           runs: dict[tuple[str, dt.date], store.UnitRuns]) -> list[Decision]:
    """One Decision per active roaster, from the clock, the pauses and the raw runs."""
    decisions = []
    for roaster in (r for r in config.roasters if r.active):
        day = roaster.today(now)
        decisions.append(_decide_one(config, roaster, day, now, pauses.reason_paused(paused, roaster.id),
                                     runs.get((roaster.id, day), store.UnitRuns())))
    return decisions


def _decide_one(config: Config, roaster: Roaster, day: dt.date, now: dt.datetime, paused: str | None,
                runs: store.UnitRuns) -> Decision:
    settings = config.service
    if paused is not None:
        return Decision(roaster.id, day, "paused", detail=paused)
    if runs.ok:
        return Decision(roaster.id, day, "done")
    if runs.running:
        return Decision(roaster.id, day, "running", detail="a run of this day is in progress")
    due = config.due_at(roaster, day)
    if now < due:
        return Decision(roaster.id, day, "scheduled", due)
    if runs.failures and runs.seconds_since_failure is not None:
        since = dt.timedelta(seconds=clock.simulated_seconds(runs.seconds_since_failure))
        wait = retry_backoff(runs.failures, settings.retry_backoff_seconds, settings.retry_backoff_max)
        told = parse_retry_after(runs.retry_after, now - since)
        retry_at = now - since + dt.timedelta(seconds=max(wait, told or 0.0))
        if now < retry_at:
            return Decision(roaster.id, day, "retry_wait", retry_at,
                            f"{runs.failures} failed run(s) today; next try after the backoff")
    return Decision(roaster.id, day, "due", now)


def heal_due(last_heal: dt.datetime | None, now: dt.datetime, interval: float,
             days_before: dict[str, dt.date], days_now: dict[str, dt.date]) -> bool:
    """A catch-up pass is due: the first tick, the interval passed, or a local day turned over."""
    if last_heal is None or (now - last_heal).total_seconds() >= interval:
        return True
    return any(days_before.get(rid) != day for rid, day in days_now.items())


# --- the service -------------------------------------------------------------------------------

@dataclass
class View:
    """What /health and /metrics show of the scheduler (replaced whole after each tick)."""

    instance: str
    started_at: dt.datetime
    ticks: int = 0
    batches: int = 0
    last_tick_at: dt.datetime | None = None
    last_heal_at: dt.datetime | None = None
    catch_up_queue: int = 0
    roasters: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        iso = (lambda v: v.isoformat() if v else None)  # noqa: E731
        return {"instance": self.instance, "started_at": iso(self.started_at), "ticks": self.ticks,
                "batches": self.batches, "last_tick_at": iso(self.last_tick_at),
                "last_heal_at": iso(self.last_heal_at), "catch_up_queue": self.catch_up_queue,
                "roasters": self.roasters}


class Service:
    """The scheduler loop; `stop` (SIGTERM, SIGINT) ends it, `reload` (SIGHUP) rereads the config."""

    def __init__(self, config_path: str | None, config: Config, target: Target,
                 connections: Connections | None = None) -> None:
        self.config_path, self.config, self.target = config_path, config, target
        self.db = connections or direct(target)  # the process's pool, under `serve`
        self.stop, self.reload = threading.Event(), threading.Event()
        self.instance = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.view = View(self.instance, clock.now())
        self.days: dict[str, dt.date] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}

    def run(self) -> None:
        """Tick until stopped. The owner lock is held on its own connection for the whole run;
        dbt runs in a worker this process keeps (runner/transform/dbt_worker.py: no imports per build)."""
        with dbt_worker.running(), connect(self.target, autocommit=True) as owner:  # held all run: not pooled
            with self.db() as conn:
                prepare(conn, self.config, self.target)
            ledger.hold_owner(owner, self.instance)
            log.info("service %s started", self.instance)
            while not self.stop.is_set():
                self.tick()
                seconds = clock.real_seconds(self.config.service.tick_seconds)
                self.stop.wait(max(MIN_REAL_TICK_SECONDS, seconds))
        log.info("service %s stopped", self.instance)

    def tick(self) -> View:
        """One pass: decisions, the catch-up when due, one batch for all of it."""
        if self.reload.is_set():
            self._reload()
        now = clock.now()
        decisions, heal_items, seen_at = self._plan_tick(now)
        due = [d for d in decisions if d.state == "due"]
        items = [PlanItem(d.roaster_id, d.day, "missing", "refetch_live") for d in due]
        scheduled = {(d.roaster_id, d.day) for d in due}
        items += [i for i in heal_items if (i.roaster_id, i.day) not in scheduled]
        if items and not self.stop.is_set():
            self._run_batch(items, seen_at)
        self.view = self._view(now, decisions)
        return self.view

    def _plan_tick(self, now: dt.datetime) -> tuple[list[Decision], list[PlanItem], dt.datetime]:
        """The decisions, the catch-up's items, and the database's moment before it was read:
        a run that ends after that moment (another instance's) makes its unit skipped."""
        active = [r for r in self.config.roasters if r.active]
        with self.db() as conn:
            seen_at = one_row(conn.execute("select now()").fetchone())[0]
            current = pauses.active(conn)
            runs = store.unit_runs(conn, [(r.id, r.today(now)) for r in active])
            if ledger.abort_abandoned(conn, own=self.instance):
                log.warning("aborted the batches of a service instance that is gone")
        decisions = decide(self.config, now, current, runs)
        days_now = {d.roaster_id: d.day for d in decisions}
        heal: list[PlanItem] = []
        if heal_due(self.view.last_heal_at, now, self.config.service.heal_interval_seconds, self.days, days_now):
            unpaused = [r for r in active if pauses.reason_paused(current, r.id) is None]
            heal = self._catch_up(now, unpaused)
            self.view.last_heal_at, self.view.catch_up_queue = now, len(heal)
        self.days = days_now
        return decisions, heal, seen_at

    def _catch_up(self, now: dt.datetime, roasters: list[Roaster]) -> list[PlanItem]:
        """Open gaps of the last catch_up_days before each roaster's today (archive refetches,
        reparses), and today's reparse when raw is whole but marts are not."""
        if not roasters:
            return []
        todays = {r.id: r.today(now) for r in roasters}
        start = min(todays.values()) - dt.timedelta(days=self.config.service.catch_up_days)
        try:
            plan = build_plan(self.config, self.target, "incremental", start, max(todays.values()), roasters,
                              materialize=True)
        except InputError as exc:  # dbt could not build coverage: logged, tried again next pass
            log.error("catch-up: %s", exc)
            return []
        return [i for i in plan.items if i.action != "unrecoverable"
                and (i.day < todays[i.roaster_id] or i.action == "reparse")]

    def _run_batch(self, items: list[PlanItem], planned_at: dt.datetime) -> None:
        days = [i.day for i in items]
        plan = Plan("incremental", min(days), max(days), sorted({i.roaster_id for i in items}), items,
                    origin="service", owner=self.instance)
        options = Options(concurrency=self.config.service.concurrency, max_failure_rate=NEVER_ABORT,
                          timeout_seconds=self.config.monitoring.timeout_threshold)
        log.info("batch: %d item(s): %s", len(items), ", ".join(f"{i.roaster_id} {i.day} {i.action}" for i in items))
        summary = engine.run_plan(self.config, self.target, plan, options, planned_at,
                                  stop=engine.Stop(self.stop, self.config.service.shutdown_grace))
        self.view.batches += 1
        with self.db() as conn:
            outcomes = ledger.item_outcomes(conn, summary.backfill_id)
        for roaster_id, day, action, state, error in outcomes:
            self.outcomes[roaster_id] = {"day": day.isoformat(), "action": action, "state": state,
                                         "error": error, "at": clock.now().isoformat()}
        # the catch-up queue: past days this batch was given that the next pass must try again
        self.view.catch_up_queue = sum(1 for o in outcomes if o[2] != "refetch_live" and o[3] in OPEN_STATES)
        log.info("batch %s: %s %s", summary.backfill_id, summary.status, summary.items)

    def _view(self, now: dt.datetime, decisions: list[Decision]) -> View:
        view = View(self.instance, self.view.started_at, self.view.ticks + 1, self.view.batches, now,
                    self.view.last_heal_at, self.view.catch_up_queue)
        for d in decisions:
            view.roasters[d.roaster_id] = {"day": d.day.isoformat(), "state": d.state, "detail": d.detail,
                                           "next_run_at": d.next_run_at.isoformat() if d.next_run_at else None,
                                           "last_outcome": self.outcomes.get(d.roaster_id)}
        return view

    def _reload(self) -> None:
        self.reload.clear()
        try:
            config = load_config(self.config_path)
            with self.db() as conn:
                prepare(conn, config, self.target)
        except InputError as exc:
            log.error("reload refused, keeping the running config: %s", str(exc).splitlines()[0])
            return
        self.config = config
        log.info("config reloaded: %d roaster(s)", len(config.roasters))
