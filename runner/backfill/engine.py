"""A backfill from start to end: record the plan in the ledger, run the workers (this
process's share; other processes may join), stop on the thresholds, then one dbt build
for the affected range and the gaps left. Progress and events are reported, not drawn."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from runner.acquire.client import PoliteClient
from runner.acquire.web_archive import Archive
from runner.backfill import ledger
from runner.backfill.context import Context
from runner.backfill.events import EventLog, Progress, ProgressHandler, event_log
from runner.backfill.ledger import Options, Summary
from runner.backfill.plan import Only, Plan, build_plan
from runner.backfill.worker import Worker
from runner.core import clock
from runner.core.config import Config, Roaster
from runner.core.errors import BackfillInterrupted, DatabaseUnavailable
from runner.core.logs import bound
from runner.ops import alerts
from runner.store.budget import ARCHIVE_KEY, SharedBudget
from runner.store.db import Target, connect, one_row
from runner.transform.bootstrap import prepared
from runner.transform.coverage import coverage
from runner.transform.dbt_runner import BUILD, range_vars, run_dbt

MIN_PROGRESS_SECONDS = 0.5
STOP_POLL_SECONDS = 0.2
STOP_REASON = "stopped: the process was asked to stop"


@dataclass(frozen=True)
class Stop:
    """Asked from outside (a signal): take no new item; in-flight items get `grace` seconds
    to commit, then are cancelled (rolled back, claimable again). The backfill is aborted,
    resumably, with STOP_REASON."""

    event: threading.Event
    grace: float

log = logging.getLogger(__name__)


def start_backfill(config: Config, target: Target, strategy: str, start: dt.date, end: dt.date,
                   roasters: list[Roaster], options: Options, on_progress: ProgressHandler | None = None,
                   progress_seconds: float | None = None, only: Only | None = None) -> Summary:
    """Plan [start, end] (only the `only` days, when given), record the plan and work it."""
    options.check()
    with prepared(config, target) as conn:
        planned_at = one_row(conn.execute("select now()").fetchone())[0]  # the database's clock, as runs use
    plan = build_plan(config, target, strategy, start, end, roasters, materialize=True, only=only)
    return run_plan(config, target, plan, options, planned_at, on_progress, progress_seconds)


def run_plan(config: Config, target: Target, plan: Plan, options: Options, planned_at: dt.datetime,
             on_progress: ProgressHandler | None = None, progress_seconds: float | None = None,
             stop: Stop | None = None) -> Summary:
    """Record `plan` in the ledger and work it (the service hands its own plans here)."""
    backfill_id = ledger.record_plan(target, plan, options, planned_at)
    event_log().write("backfill_started", backfill_id=backfill_id, strategy=plan.strategy,
                      start=plan.start, end=plan.end, items=len(plan.items), counts=plan.counts)
    log.info("backfill %s: %d items (%s)", backfill_id, len(plan.items),
             ", ".join(f"{k} {v}" for k, v in sorted(plan.counts.items())) or "nothing to do")
    return work(config, target, backfill_id, options, on_progress, progress_seconds, stop)


def resume_backfill(config: Config, target: Target, backfill_id: str | None,
                    overrides: dict[str, Any] | None = None, on_progress: ProgressHandler | None = None,
                    progress_seconds: float | None = None) -> Summary:
    """Continue (or join) a backfill with its stored options, except `overrides`."""
    with prepared(config, target) as conn:
        found_id, stored = ledger.find_backfill(conn, backfill_id)
        options = Options(**{**stored.__dict__, **(overrides or {})})
        options.check()
        ledger.reopen(conn, found_id)
    log.info("resuming backfill %s", found_id)
    return work(config, target, found_id, options, on_progress, progress_seconds)


class Reporter:
    """Every `seconds`: fresh counts to the event log and to the progress handler."""

    def __init__(self, ctx: Context, handler: ProgressHandler | None, seconds: float) -> None:
        self.ctx, self.handler, self.seconds = ctx, handler, max(MIN_PROGRESS_SECONDS, seconds)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            await self.report(await self.ctx.refresh_counts())

    async def report(self, counts: dict[str, int]) -> None:
        progress = Progress(self.ctx.backfill_id, dict(counts), self.ctx.elapsed())
        self.ctx.log.write("progress", backfill_id=self.ctx.backfill_id, counts=counts,
                           rate=round(progress.rate, 3))
        if self.handler is not None:
            self.handler(progress)


def work(config: Config, target: Target, backfill_id: str, options: Options,
         on_progress: ProgressHandler | None = None, progress_seconds: float | None = None,
         stop: Stop | None = None) -> Summary:
    """This process's share of the backfill, then (once all items are closed) the final
    build; every line logged meanwhile names the backfill."""
    with bound(backfill_id=backfill_id):
        return _work_here(config, target, backfill_id, options, on_progress, progress_seconds, stop)


def _work_here(config: Config, target: Target, backfill_id: str, options: Options,
               on_progress: ProgressHandler | None, progress_seconds: float | None, stop: Stop | None) -> Summary:
    """This process's share of the backfill, then (once all items are closed) the final build.

    A DatabaseUnavailable leaves with `.backfill_id` set, Ctrl-C as BackfillInterrupted: for the resume hint."""
    started = time.monotonic()
    with connect(target) as conn:
        start, end, planned_at = ledger.window(conn, backfill_id)
    seconds = config.monitoring.progress_check_interval if progress_seconds is None else progress_seconds
    box: dict[str, Context] = {}
    try:
        asyncio.run(_work(config, target, backfill_id, options, (start, end, planned_at), box,
                          (on_progress, seconds), stop))
    except DatabaseUnavailable as exc:
        exc.backfill_id = backfill_id
        raise
    except KeyboardInterrupt:
        raise BackfillInterrupted(backfill_id) from None
    ctx = box["ctx"]
    summary = _abort(target, backfill_id, ctx, started) if ctx.abort_reason else finalize(
        config, target, backfill_id, started)
    if summary.status in ("aborted", "failed") and ctx.abort_reason != STOP_REASON:
        alerts.alert(config, f"backfill_{summary.status}", backfill_id=backfill_id, error=summary.error,
                     items=summary.items)
    return summary


async def _work(config: Config, target: Target, backfill_id: str, options: Options,
                window: tuple[dt.date, dt.date, dt.datetime], box: dict[str, Context],
                progress: tuple[ProgressHandler | None, float], stop: Stop | None = None) -> None:
    # live pages are stamped by the runner's clock, so an injected one (COFFEE_NOW) puts them on the
    # day the item is for
    async with PoliteClient(config.http, config.user_agent, clock=clock.now, budget=SharedBudget(target.url)) as client:
        archive = Archive(client, config.archive_url, client.gate(ARCHIVE_KEY, config.archive_rate_limit_rps),
                          *window[:2], api=config.archive_api)
        ctx = box["ctx"] = Context(config, target, backfill_id, options, client, archive, window[2])
        reporter = Reporter(ctx, *progress)
        reporting = asyncio.create_task(reporter.run())
        workers = [asyncio.create_task(Worker(ctx, n).run()) for n in range(options.concurrency)]
        watching = asyncio.create_task(_watch(ctx, stop, workers)) if stop is not None else None
        try:
            await _until_done_or_deadline(ctx, workers)
        finally:
            for task in (reporting, watching):
                if task is not None:
                    task.cancel()
            await asyncio.gather(*(t for t in (reporting, watching) if t is not None), return_exceptions=True)
            counts = await ctx.refresh_counts()
            if not ctx.stopping:  # after an abort, final numbers only: the outcome is decided
                await reporter.report(counts)
            await ctx.close()


async def _watch(ctx: Context, stop: Stop, workers: list[asyncio.Task]) -> None:
    """On `stop`: no new claims; in-flight items get the grace period, then are cancelled."""
    while not stop.event.is_set():
        await asyncio.sleep(STOP_POLL_SECONDS)
    ctx.abort(STOP_REASON)
    _, pending = await asyncio.wait(workers, timeout=stop.grace)
    for task in pending:
        task.cancel()


async def _until_done_or_deadline(ctx: Context, workers: list[asyncio.Task]) -> None:
    done, pending = await asyncio.wait(workers, timeout=ctx.options.timeout_seconds)
    if pending:  # the deadline: stop in-flight items; they roll back and stay claimable
        ctx.abort(f"timeout: over {ctx.options.timeout_seconds:g} s")
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    # retrieve every worker's exception (asyncio would log the others at exit)
    errors = [error for task in done if not task.cancelled() and (error := task.exception()) is not None]
    if errors:
        raise errors[0]


def _abort(target: Target, backfill_id: str, ctx: Context, started: float) -> Summary:
    with connect(target, autocommit=True) as conn:
        ledger.mark_aborted(conn, backfill_id, ctx.abort_reason)
        counts = ledger.item_counts(conn, backfill_id)
        summary = ledger.summary(conn, backfill_id, time.monotonic() - started)
    summary.items = counts  # with the open (pending, running) items a resume will work
    ctx.log.write("backfill_aborted", backfill_id=backfill_id, reason=ctx.abort_reason, items=counts)
    return summary


# --- finishing: one dbt build for the affected range, then the gaps left ------------------------

def finalize(config: Config, target: Target, backfill_id: str, started: float) -> Summary:
    """One process finalizes at a time; one that joined the backfill waits for it and then
    reports the same outcome (or finishes the job if the finalizer died)."""
    events = event_log()
    with connect(target, autocommit=True) as conn:
        ledger.lock_finalize(conn, backfill_id)
        status, start, end, roaster_ids = ledger.stored(conn, backfill_id)
        counts = ledger.item_counts(conn, backfill_id)
        if counts["pending"] or counts["running"]:
            return Summary(backfill_id, "running", counts, error="items still open in another process")
        if status in ("done", "failed"):
            return ledger.summary(conn, backfill_id, time.monotonic() - started)
        _build_and_record(config, target, conn, backfill_id, (start, end, roaster_ids), counts, events)
        summary = ledger.summary(conn, backfill_id, time.monotonic() - started)
    events.write("backfill_finished", backfill_id=backfill_id, status=summary.status, items=summary.items,
                 gaps_before=summary.gaps_before, gaps_after=summary.gaps_after)
    return summary


def _build_and_record(config: Config, target: Target, conn: psycopg.Connection, backfill_id: str,
                      stored: tuple[dt.date, dt.date, list[str] | None], counts: dict[str, int],
                      events: EventLog) -> None:
    """The final build over the backfill's range, the gaps left, and the outcome in the ledger."""
    start, end, roaster_ids = stored
    known = {c.id for c in config.roasters}
    roasters = [config.roaster(r) for r in roaster_ids or [] if r in known]
    dbt_result = _final_build(target, backfill_id, ledger.worked_range(conn, backfill_id), events,
                              (start, end, roasters))
    gaps_after = _gaps_after(target, start, end, roasters, built=bool(dbt_result.get("ok"))) if roasters else 0
    failed = counts["failed"] > 0 or bool(dbt_result and not dbt_result["ok"])
    ledger.record_outcome(conn, backfill_id, "failed" if failed else "done", gaps_after, dbt_result,
                          _failure_text(counts, dbt_result))


def _final_build(target: Target, backfill_id: str, worked: tuple, events: EventLog,
                 planned: tuple[dt.date, dt.date, list[Roaster]]) -> dict[str, Any]:
    """When any item brought data: one `dbt build` over the backfill's whole range and
    roasters (not only the worked days), so the coverage it builds is the one the gaps
    left are read from; the build is idempotent, days without new data come out the same."""
    if worked[0] is None:
        return {}
    first, last, roasters = planned
    ids = sorted({r.id for r in roasters} | set(worked[2]))
    events.write("dbt_started", backfill_id=backfill_id, start=first, end=last, roasters=ids)
    result = run_dbt(target, [*BUILD], range_vars(first.isoformat(), last.isoformat(), ids))
    events.write("dbt_finished", backfill_id=backfill_id, ok=result.ok, counts=result.counts,
                 elapsed_seconds=result.elapsed_seconds)
    return result.as_dict()


def _gaps_after(target: Target, start: dt.date, end: dt.date, roasters: list[Roaster], *, built: bool) -> int:
    days = coverage(target, start, end, roasters, materialize=True, built=built)
    return sum(1 for d in days if d.is_open_gap)


def _failure_text(counts: dict[str, int], dbt_result: dict[str, Any]) -> str | None:
    parts = []
    if counts["failed"]:
        parts.append(f"{counts['failed']} item(s) failed")
    if dbt_result and not dbt_result["ok"]:
        parts.append("dbt build failed")
    return "; ".join(parts) or None
