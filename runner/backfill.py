"""Backfills: record a plan as a checkpoint ledger, work it, rebuild, verify.

Safety rests on three mechanisms:

* The ledger: `control.backfills` and one `control.backfill_items` row per
  (roaster, day), written in one transaction before any work starts.
* Claiming: a worker selects open items `FOR UPDATE SKIP LOCKED` and takes a session
  advisory lock on the *unit* (roaster, day). The lock lives as long as the worker's
  connection, so a `running` item whose lock is free belongs to a dead worker and is
  claimable again, and two backfills over the same unit never work it at once.
* Commit together: an item's run, artifacts and new state are written in one
  transaction. A crash before it leaves the item claimable; after it, done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from runner import alerts
from runner.archive import Archive, NoCapture, fetch_archived_day
from runner.config import Config, Monitoring, Roaster
from runner.db import Target, coffee_home, connect
from runner.dbt import range_vars, run_dbt
from runner.errors import (
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_OK,
    DatabaseUnavailable,
    FetchError,
    InputError,
    RobotsDisallowed,
)
from runner.fetch import prepare, walk_catalog
from runner.http import Exchange, PoliteClient, Recorder
from runner.plan import Plan, build_plan, coverage
from runner.sources import CatalogResult
from runner.store import insert_artifact

DEFAULT_CONCURRENCY = 4
# the thresholds' defaults are the config's (monitoring.failure_threshold, timeout_threshold)
DEFAULT_MAX_FAILURE_RATE = Monitoring.failure_threshold
DEFAULT_TIMEOUT_SECONDS = Monitoring.timeout_threshold
MIN_ITEMS_FOR_FAILURE_RATE = 10  # a rate over fewer items is noise
MAX_ITEM_ATTEMPTS = 3  # a failed item is retried on resume until it has failed this often
CLAIM_BATCH = 16
CLAIM_POLL_SECONDS = 0.5  # waiting for units another worker or backfill holds
PROGRESS_TTY_SECONDS = 0.5
UNIT_LOCK_SQL = "hashtextextended(%s || '/' || %s::text, 7)"
FINALIZE_LOCK_SQL = "hashtextextended(%s::text, 11)"
TERMINAL_STATES = ("done", "failed", "skipped", "unrecoverable")
DB_CONNECT_TIMEOUT_SECONDS = 10
DB_RECONNECT_DELAYS = (0.2, 0.5, 1, 2, 4, 8, 15)  # about 30 s: a server restart fits, an outage does not
DB_STEP_ATTEMPTS = 3  # reconnects one database step may use before the worker gives up

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    concurrency: int = DEFAULT_CONCURRENCY
    max_failure_rate: float = DEFAULT_MAX_FAILURE_RATE
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    def check(self) -> None:
        if not 1 <= self.concurrency <= 64:
            raise InputError("--concurrency must be between 1 and 64")
        if not 0 <= self.max_failure_rate <= 1:
            raise InputError("--max-failure-rate must be between 0 and 1")
        if self.timeout_seconds <= 0:
            raise InputError("--timeout must be a positive number of seconds")


@dataclass
class Summary:
    backfill_id: str
    status: str
    items: dict[str, int] = field(default_factory=dict)
    gaps_before: int | None = None
    gaps_after: int | None = None
    dbt: dict[str, Any] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    error: str | None = None
    unrecoverable: list[dict[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {"done": EXIT_OK, "aborted": EXIT_ABORTED}.get(self.status, EXIT_FAILED)

    def as_dict(self) -> dict[str, Any]:
        return {"backfill_id": self.backfill_id, "status": self.status, "items": self.items,
                "gaps_before": self.gaps_before, "gaps_after": self.gaps_after, "dbt": self.dbt,
                "elapsed_seconds": self.elapsed_seconds, "error": self.error,
                "unrecoverable": self.unrecoverable}


# --- starting and resuming ---------------------------------------------------------------------

def start_backfill(config: Config, target: Target, strategy: str, start: dt.date, end: dt.date,
                   roasters: list[Roaster], options: Options) -> Summary:
    options.check()
    with connect(target, autocommit=True) as conn:
        prepare(conn, config)
        planned_at = conn.execute("select now()").fetchone()[0]  # the database's clock, as runs use
    plan = build_plan(config, target, strategy, start, end, roasters, materialize=True)
    backfill_id = record_plan(target, plan, options, planned_at)
    log.info("backfill %s: %d items (%s)", backfill_id, len(plan.items),
             ", ".join(f"{k} {v}" for k, v in sorted(plan.counts.items())) or "nothing to do")
    return work(config, target, backfill_id, options)


def resume_backfill(config: Config, target: Target, backfill_id: str | None,
                    overrides: dict[str, Any] | None = None) -> Summary:
    """Continue (or join) a backfill with its stored options, except `overrides`."""
    with connect(target, autocommit=True) as conn:
        prepare(conn, config)
        row = _find_backfill(conn, backfill_id)
        found_id = str(row[0])
        options = Options(**{"concurrency": row[1], "max_failure_rate": row[2], "timeout_seconds": row[3],
                             **(overrides or {})})
        options.check()
        with conn.transaction():
            # Failed items get another chance, up to MAX_ITEM_ATTEMPTS in all.
            conn.execute("""update control.backfill_items set state = 'pending', error = null
                             where backfill_id = %s and state = 'failed' and attempts < %s""",
                         (found_id, MAX_ITEM_ATTEMPTS))
            conn.execute("update control.backfills set status = 'running', finished_at = null, error = null "
                         "where id = %s", (found_id,))
    log.info("resuming backfill %s", found_id)
    return work(config, target, found_id, options)


def _find_backfill(conn: psycopg.Connection, backfill_id: str | None) -> tuple:
    if backfill_id:
        try:
            uuid.UUID(backfill_id)
        except ValueError:
            raise InputError(f"--resume {backfill_id!r} is not a backfill id") from None
        row = conn.execute("""select id, concurrency, max_failure_rate, timeout_seconds, status
                                from control.backfills where id = %s""", (backfill_id,)).fetchone()
        if row is None:
            raise InputError(f"no backfill {backfill_id}")
        return row
    row = conn.execute("""select id, concurrency, max_failure_rate, timeout_seconds, status
                            from control.backfills where status <> 'done'
                           order by created_at desc limit 1""").fetchone()
    if row is None:
        raise InputError("no unfinished backfill to resume")
    return row


def record_plan(target: Target, plan: Plan, options: Options, planned_at: dt.datetime | None = None) -> str:
    """The backfill and every item, in one transaction, before any work."""
    backfill_id = str(uuid.uuid4())
    with connect(target) as conn, conn.transaction():
        conn.execute(
            """insert into control.backfills (id, strategy, start_day, end_day, roasters, status,
                   max_failure_rate, timeout_seconds, concurrency, gaps_before, planned_at)
               values (%s, %s, %s, %s, %s, 'running', %s, %s, %s, %s, coalesce(%s, now()))""",
            (backfill_id, plan.strategy, plan.start, plan.end, plan.roasters, options.max_failure_rate,
             options.timeout_seconds, options.concurrency, plan.gaps, planned_at))
        with conn.cursor() as cur:
            cur.executemany(
                """insert into control.backfill_items (backfill_id, roaster_id, day, status_before, action)
                   values (%s, %s, %s, %s, %s)""",
                [(backfill_id, i.roaster_id, i.day, i.status, i.action) for i in plan.items])
    event_log().write("backfill_started", backfill_id=backfill_id, strategy=plan.strategy,
                         start=plan.start, end=plan.end, items=len(plan.items), counts=plan.counts)
    return backfill_id


# --- the event log ----------------------------------------------------------------------------

class EventLog:
    """JSON lines in $COFFEE_HOME/logs/backfill.log: what happened, when, to what."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, **fields: Any) -> None:
        record = {"at": dt.datetime.now(dt.timezone.utc).isoformat(), "event": event, "pid": os.getpid(), **fields}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")


def event_log() -> EventLog:
    return EventLog(coffee_home() / "logs" / "backfill.log")


# --- working the items ---------------------------------------------------------------------

@dataclass
class Claimed:
    roaster_id: str
    day: dt.date
    action: str
    attempts: int


@dataclass
class Outcome:
    state: str
    error: str | None
    run: BufferedRun | None
    elapsed_ms: int


class Worker:
    """One connection, one item at a time; several workers share one HTTP client."""

    def __init__(self, ctx: Context, number: int) -> None:
        self.ctx = ctx
        self.name = f"{socket.gethostname()}:{os.getpid()}:{number}"
        self.conn: psycopg.AsyncConnection | None = None

    async def run(self) -> None:
        # Autocommit, with explicit transaction blocks where statements belong together.
        await self.connect()
        try:
            while not self.ctx.stopping:
                item = await self.retrying(self.claim)
                if item is None:
                    if await self.retrying(lambda: self.ctx.open_items(self.conn)) == 0:
                        return
                    await asyncio.sleep(CLAIM_POLL_SECONDS)
                    continue
                await self.work(item)
                await self.retrying(lambda: self.ctx.update_counts(self.conn))
        finally:
            if self.conn is not None:
                await self.conn.close()  # an uncommitted item rolls back and its lock frees

    async def connect(self) -> None:
        self.conn = await psycopg.AsyncConnection.connect(self.ctx.target.url, autocommit=True,
                                                          connect_timeout=DB_CONNECT_TIMEOUT_SECONDS)

    async def reconnect(self, exc: psycopg.OperationalError) -> None:
        """The server restarted or dropped us: wait for it (bounded), then carry on."""
        log.warning("worker %s lost its database connection (%s); reconnecting", self.name,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        if self.conn is not None:
            await self.conn.close()
        for delay in DB_RECONNECT_DELAYS:
            await asyncio.sleep(delay)
            try:
                await self.connect()
                return
            except psycopg.OperationalError:
                continue
        raise DatabaseUnavailable(f"database connection lost for over {sum(DB_RECONNECT_DELAYS):g} s; "
                                  f"resume with: coffee-runner backfill --resume {self.ctx.backfill_id}")

    def lost_connection(self, exc: psycopg.OperationalError) -> bool:
        """A broken connection is worth a reconnect; a cancelled statement (statement_timeout,
        pg_cancel_backend) is not: repeating it would be cancelled again."""
        return not isinstance(exc, psycopg.errors.QueryCanceled) and (self.conn is None or self.conn.broken
                                                                      or self.conn.closed)

    async def retrying(self, step: Any) -> Any:
        """Run an idempotent database step (reads, the claim transaction) across reconnects."""
        for _ in range(DB_STEP_ATTEMPTS):
            try:
                return await step()
            except psycopg.OperationalError as exc:
                if not self.lost_connection(exc):
                    raise
                await self.reconnect(exc)
        return await step()

    async def work(self, item: Claimed) -> None:
        """Fetch, then commit, surviving a lost connection: the unit lock is taken again
        and the commit is only repeated when it did not land (it carries the run's id)."""
        outcome: Outcome | None = None
        for _ in range(DB_STEP_ATTEMPTS):
            try:
                if outcome is None:
                    outcome = await self.execute_timed(item)
                await self.commit(item, outcome)
                self.ctx.log.write(f"item_{outcome.state}", backfill_id=self.ctx.backfill_id,
                                   roaster_id=item.roaster_id, day=item.day, action=item.action,
                                   error=outcome.error, elapsed_ms=outcome.elapsed_ms,
                                   run_id=outcome.run.id if outcome.run else None)
                await self.unlock(item)
                return
            except psycopg.OperationalError as exc:
                if not self.lost_connection(exc):
                    raise
                await self.reconnect(exc)
                if not await self.retrying(lambda: self.relock(item)):
                    return  # another worker holds the unit now; it will finish it
                if await self.retrying(lambda done=outcome: self.landed(item, done)):
                    await self.unlock(item)
                    return
        raise DatabaseUnavailable(f"item {item.roaster_id} {item.day}: the database kept dropping the connection")

    async def relock(self, item: Claimed) -> bool:
        cur = await self.conn.execute(f"select pg_try_advisory_lock({UNIT_LOCK_SQL})", (item.roaster_id, item.day))
        return bool((await cur.fetchone())[0])

    async def unlock(self, item: Claimed) -> None:
        await self.conn.execute(f"select pg_advisory_unlock({UNIT_LOCK_SQL})", (item.roaster_id, item.day))

    async def landed(self, item: Claimed, outcome: Outcome | None) -> bool:
        """Did this item's commit reach the database before the connection went?"""
        cur = await self.conn.execute(
            """select state, run_id from control.backfill_items
                where backfill_id = %s and roaster_id = %s and day = %s""",
            (self.ctx.backfill_id, item.roaster_id, item.day))
        state, run_id = await cur.fetchone()
        if state not in ("pending", "running"):
            return True
        return outcome is not None and outcome.run is not None and run_id == outcome.run.id

    async def claim(self) -> Claimed | None:
        assert self.conn is not None
        async with self.conn.transaction():
            cur = await self.conn.execute(
                """select roaster_id, day, action, attempts from control.backfill_items
                    where backfill_id = %s and state in ('pending', 'running')
                    order by day, roaster_id
                    for update skip locked
                    limit %s""", (self.ctx.backfill_id, CLAIM_BATCH))
            for roaster_id, day, action, attempts in await cur.fetchall():
                got = await (await self.conn.execute(f"select pg_try_advisory_lock({UNIT_LOCK_SQL})",
                                                     (roaster_id, day))).fetchone()
                if not got[0]:
                    continue  # another worker, here or in another backfill, has this unit
                await self.conn.execute(
                    """update control.backfill_items
                          set state = 'running', attempts = attempts + 1, claimed_by = %s, claimed_at = now()
                        where backfill_id = %s and roaster_id = %s and day = %s""",
                    (self.name, self.ctx.backfill_id, roaster_id, day))
                return Claimed(roaster_id, day, action, attempts + 1)
        return None

    async def execute_timed(self, item: Claimed) -> Outcome:
        started = time.monotonic()
        roaster = self.ctx.config.roaster(item.roaster_id)
        buffered: BufferedRun | None = None
        try:
            state, error, buffered = await self.execute(item, roaster)
        except (FetchError, OSError, ValueError) as exc:
            state, error = "failed", f"{type(exc).__name__}: {exc}"
        return Outcome(state, error, buffered, int((time.monotonic() - started) * 1000))

    async def execute(self, item: Claimed, roaster: Roaster) -> tuple[str, str | None, BufferedRun | None]:
        if item.action == "reparse":
            return "done", None, None  # the dbt build at the end does the work
        if item.action == "unrecoverable":
            return "unrecoverable", "nothing can supply this day", None
        if await self.already_filled(item):
            return "skipped", "complete raw data arrived after the plan", None
        if item.action == "refetch_live" and roaster.today() == item.day:
            run = BufferedRun(roaster, "live", item.day)
            try:
                result = await walk_catalog(self.ctx.client, run, roaster)
            except RobotsDisallowed as exc:
                result = CatalogResult(failures=[f"robots: {exc}"])
            run.finish(result)
            return ("done" if run.status == "ok" else "failed"), run.error, run
        if not roaster.archive:
            return "unrecoverable", "the day is past and the roaster does not allow the archive", None
        run = BufferedRun(roaster, "archive", item.day)
        try:
            result = await fetch_archived_day(self.ctx.archive, roaster, item.day, run)
        except NoCapture as exc:
            return "unrecoverable", str(exc), None
        run.finish(result)
        return ("done" if run.status == "ok" else "failed"), run.error, run

    async def already_filled(self, item: Claimed) -> bool:
        """Another backfill (or a scheduled fetch) completed this unit after our plan."""
        assert self.conn is not None
        cur = await self.conn.execute(
            """select exists (select 1 from raw.scrape_runs
                               where roaster_id = %s and target_day = %s and status = 'ok'
                                 and created_at > (select coalesce(planned_at, created_at)
                                                     from control.backfills where id = %s))""",
            (item.roaster_id, item.day, self.ctx.backfill_id))
        return bool((await cur.fetchone())[0])

    async def commit(self, item: Claimed, outcome: Outcome) -> None:
        """The run, its artifacts and the item's new state: one transaction."""
        assert self.conn is not None
        state, error, run, elapsed_ms = outcome.state, outcome.error, outcome.run, outcome.elapsed_ms
        async with self.conn.transaction():
            if run is not None:
                await run.insert(self.conn)
            await self.conn.execute(
                """update control.backfill_items
                      set state = %s, error = %s, finished_at = now(), elapsed_ms = %s, run_id = %s
                    where backfill_id = %s and roaster_id = %s and day = %s""",
                (state, error, elapsed_ms, run.id if run else None, self.ctx.backfill_id, item.roaster_id,
                 item.day))


class BufferedRun:
    """A run whose artifacts wait in memory until the item commits them all at once."""

    def __init__(self, roaster: Roaster, kind: str, day: dt.date) -> None:
        self.id = uuid.uuid4()
        self.roaster = roaster
        self.source = kind
        self.day = day
        self.started_at = dt.datetime.now(dt.timezone.utc)
        self.finished_at: dt.datetime | None = None
        self.exchanges: list[tuple[str, int | None, Exchange]] = []
        self.status = "running"
        self.pages = 0
        self.error: str | None = None

    def recorder(self, resource: str, page: int | None) -> Recorder:
        async def record(exchange: Exchange) -> None:
            self.exchanges.append((resource, page, exchange))

        return record

    def finish(self, result: CatalogResult) -> None:
        self.status, self.pages = result.status, result.pages
        self.error = "; ".join(result.failures) or None
        self.finished_at = dt.datetime.now(dt.timezone.utc)

    async def insert(self, conn: psycopg.AsyncConnection) -> None:
        await conn.execute(
            """insert into raw.scrape_runs (id, roaster_id, kind, status, target_day, started_at, finished_at,
                                            pages, artifacts, error, host, pid)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (self.id, self.roaster.id, self.source, self.status, self.day, self.started_at, self.finished_at,
             self.pages, len(self.exchanges), self.error, socket.gethostname(), os.getpid()))
        for resource, page, exchange in self.exchanges:
            await insert_artifact(conn, self.id, self.roaster.id, self.source, resource, page, exchange)


# --- one process's share of a backfill --------------------------------------------------------

class Context:
    def __init__(self, config: Config, target: Target, backfill_id: str, options: Options,
                 client: PoliteClient, archive: Archive) -> None:
        self.config, self.target, self.backfill_id, self.options = config, target, backfill_id, options
        self.client, self.archive = client, archive
        self.log = event_log()
        self.stopping = False
        self.abort_reason: str | None = None
        self.started = time.monotonic()
        self.counts: dict[str, int] = {}
        self._counts_conn: psycopg.AsyncConnection | None = None

    async def open_items(self, conn: psycopg.AsyncConnection) -> int:
        cur = await conn.execute("""select count(*) from control.backfill_items
                                     where backfill_id = %s and state in ('pending', 'running')""",
                                 (self.backfill_id,))
        return int((await cur.fetchone())[0])

    async def update_counts(self, conn: psycopg.AsyncConnection) -> dict[str, int]:
        """Item counts over every process working this backfill; then the thresholds."""
        cur = await conn.execute(
            "select state, count(*) from control.backfill_items where backfill_id = %s group by state",
            (self.backfill_id,))
        self.counts = {state: int(n) for state, n in await cur.fetchall()}
        self.check_thresholds()
        return self.counts

    async def refresh_counts(self) -> dict[str, int]:
        """Counts for progress; after a lost connection, reconnects once and otherwise keeps
        the last counts (progress is a report, the workers decide what happens)."""
        for _ in range(2):
            if self._counts_conn is None or self._counts_conn.closed or self._counts_conn.broken:
                try:
                    self._counts_conn = await psycopg.AsyncConnection.connect(
                        self.target.url, autocommit=True, connect_timeout=DB_CONNECT_TIMEOUT_SECONDS)
                except psycopg.OperationalError:
                    return self.counts
            try:
                return await self.update_counts(self._counts_conn)
            except psycopg.OperationalError:
                await self._counts_conn.close()
        return self.counts

    def check_thresholds(self) -> None:
        """Stop (resumably) when too many items fail or the time is up."""
        if self.stopping:
            return
        failed = self.counts.get("failed", 0)
        finished = sum(self.counts.get(s, 0) for s in TERMINAL_STATES)
        if finished >= MIN_ITEMS_FOR_FAILURE_RATE and failed / finished > self.options.max_failure_rate:
            self.abort(f"failure rate {failed}/{finished} is over {self.options.max_failure_rate:.0%}")
        elif time.monotonic() - self.started > self.options.timeout_seconds:
            self.abort(f"timeout: over {self.options.timeout_seconds:g} s")

    def abort(self, reason: str) -> None:
        self.stopping, self.abort_reason = True, reason
        log.warning("aborting backfill %s: %s", self.backfill_id, reason)

    async def close(self) -> None:
        if self._counts_conn is not None:
            await self._counts_conn.close()


class Progress:
    """A bar on a terminal, periodic lines otherwise; both on stderr."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tty = sys.stderr.isatty()

    async def run(self) -> None:
        # a bar redraws often; log lines come every monitoring.progress_check_interval
        interval = PROGRESS_TTY_SECONDS if self.tty else max(0.5, self.ctx.config.monitoring.progress_check_interval)
        while True:
            await asyncio.sleep(interval)
            await self.tick()

    async def tick(self) -> None:
        counts = await self.ctx.refresh_counts()
        total = sum(counts.values())
        finished = sum(counts.get(s, 0) for s in TERMINAL_STATES)
        elapsed = time.monotonic() - self.ctx.started
        rate = finished / elapsed if elapsed > 0 else 0.0
        eta = (total - finished) / rate if rate > 0 else float("nan")
        text = (f"{finished}/{total} done={counts.get('done', 0)} failed={counts.get('failed', 0)} "
                f"unrecoverable={counts.get('unrecoverable', 0)} skipped={counts.get('skipped', 0)} "
                f"{rate:.2f} items/s eta {eta:.0f}s")
        if self.tty:
            width = 24
            filled = int(width * finished / total) if total else width
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}   ")
            sys.stderr.flush()
        else:
            log.info("progress %s", text)
        self.ctx.log.write("progress", backfill_id=self.ctx.backfill_id, counts=counts, rate=round(rate, 3))

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def work(config: Config, target: Target, backfill_id: str, options: Options) -> Summary:
    started = time.monotonic()
    with connect(target) as conn:
        row = conn.execute("select start_day, end_day from control.backfills where id = %s",
                           (backfill_id,)).fetchone()
    ctx_box: dict[str, Context] = {}
    try:
        asyncio.run(_work(config, target, backfill_id, options, row[0], row[1], ctx_box))
    except KeyboardInterrupt:
        log.warning("interrupted: resume with coffee-runner backfill --resume %s", backfill_id)
        raise
    ctx = ctx_box["ctx"]
    summary = _abort(target, backfill_id, ctx, started) if ctx.abort_reason else finalize(
        config, target, backfill_id, started)
    if summary.status in ("aborted", "failed"):
        alerts.alert(config, f"backfill_{summary.status}", backfill_id=backfill_id, error=summary.error,
                     items=summary.items)
    return summary


async def _work(config: Config, target: Target, backfill_id: str, options: Options, start: dt.date,
                end: dt.date, box: dict[str, Context]) -> None:
    async with PoliteClient(config.http, config.user_agent) as client:
        archive = Archive(client, config.archive_url, client.gate("__archive__", config.archive_rate_limit_rps),
                          start, end)
        ctx = Context(config, target, backfill_id, options, client, archive)
        box["ctx"] = ctx
        progress = Progress(ctx)
        reporter = asyncio.create_task(progress.run())
        workers = [asyncio.create_task(Worker(ctx, n).run()) for n in range(options.concurrency)]
        remaining = options.timeout_seconds
        try:
            done, pending = await asyncio.wait(workers, timeout=remaining)
            if pending:  # the deadline: stop in-flight items; they roll back and stay claimable
                ctx.abort(f"timeout: over {options.timeout_seconds:g} s")
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            # retrieve every worker's exception (asyncio would log the others at exit)
            errors = [task.exception() for task in done if task.exception() is not None]
            if errors:
                raise errors[0]
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            if ctx.stopping:
                await ctx.refresh_counts()  # final numbers only: the abort is already decided
            else:
                await progress.tick()
            progress.done()
            await ctx.close()


def _abort(target: Target, backfill_id: str, ctx: Context, started: float) -> Summary:
    with connect(target, autocommit=True) as conn:
        conn.execute("update control.backfills set status = 'aborted', error = %s, finished_at = now() "
                     "where id = %s", (ctx.abort_reason, backfill_id))
        counts = _item_counts(conn, backfill_id)
    ctx.log.write("backfill_aborted", backfill_id=backfill_id, reason=ctx.abort_reason, items=counts)
    return Summary(backfill_id, "aborted", counts, elapsed_seconds=round(time.monotonic() - started, 2),
                   error=f"{ctx.abort_reason}; resume with: coffee-runner backfill --resume {backfill_id}")


def _item_counts(conn: psycopg.Connection, backfill_id: str) -> dict[str, int]:
    counts = {"done": 0, "failed": 0, "skipped": 0, "unrecoverable": 0, "pending": 0, "running": 0}
    for state, n in conn.execute("select state, count(*) from control.backfill_items where backfill_id = %s "
                                 "group by state", (backfill_id,)).fetchall():
        counts[state] = int(n)
    return counts


# --- finishing: one dbt build for the affected range, then verification -------------------------

def finalize(config: Config, target: Target, backfill_id: str, started: float) -> Summary:
    log_ = event_log()
    with connect(target, autocommit=True) as conn:
        # One process finalizes at a time; one that joined the backfill waits for it and
        # then reports the same outcome (or finishes the job if the finalizer died).
        conn.execute(f"select pg_advisory_lock({FINALIZE_LOCK_SQL})", (backfill_id,))
        row = conn.execute(
            """select status, gaps_before, strategy, start_day, end_day, roasters from control.backfills
                where id = %s""", (backfill_id,)).fetchone()
        counts = _item_counts(conn, backfill_id)
        if counts["pending"] or counts["running"]:
            return Summary(backfill_id, "running", counts, error="items still open in another process")
        if row[0] in ("done", "failed"):
            return _stored_summary(conn, backfill_id, started)
        days = conn.execute(
            """select min(day), max(day), array_agg(distinct roaster_id) from control.backfill_items
                where backfill_id = %s and state in ('done', 'skipped')""", (backfill_id,)).fetchone()
        dbt_result: dict[str, Any] = {}
        if days[0] is not None:
            log_.write("dbt_started", backfill_id=backfill_id, start=days[0], end=days[1], roasters=days[2])
            result = run_dbt(target, ["build"], range_vars(days[0].isoformat(), days[1].isoformat(),
                                                           sorted(days[2])))
            dbt_result = result.as_dict()
            log_.write("dbt_finished", backfill_id=backfill_id, ok=result.ok, counts=result.counts,
                       elapsed_seconds=result.elapsed_seconds)
        roasters = [config.roaster(r) for r in row[5] or [] if r in {c.id for c in config.roasters}]
        gaps_after = _gaps_after(target, row[3], row[4], roasters) if roasters else 0
        failed = counts["failed"] > 0 or (dbt_result and not dbt_result["ok"])
        status = "failed" if failed else "done"
        conn.execute("""update control.backfills set status = %s, gaps_after = %s, dbt = %s, finished_at = now(),
                               error = %s where id = %s""",
                     (status, gaps_after, json.dumps(dbt_result), _failure_text(counts, dbt_result), backfill_id))
        summary = _stored_summary(conn, backfill_id, started)
    log_.write("backfill_finished", backfill_id=backfill_id, status=summary.status, items=summary.items,
               gaps_before=summary.gaps_before, gaps_after=summary.gaps_after)
    return summary


def _gaps_after(target: Target, start: dt.date, end: dt.date, roasters: list[Roaster]) -> int:
    days = coverage(target, start, end, roasters, materialize=True)
    return sum(1 for d in days if d.status != "complete" and not d.acknowledged)


def _failure_text(counts: dict[str, int], dbt_result: dict[str, Any]) -> str | None:
    parts = []
    if counts["failed"]:
        parts.append(f"{counts['failed']} item(s) failed")
    if dbt_result and not dbt_result["ok"]:
        parts.append("dbt build failed")
    return "; ".join(parts) or None


def _stored_summary(conn: psycopg.Connection, backfill_id: str, started: float) -> Summary:
    status, gaps_before, gaps_after, dbt_doc, error = conn.execute(
        "select status, gaps_before, gaps_after, dbt, error from control.backfills where id = %s",
        (backfill_id,)).fetchone()
    counts = _item_counts(conn, backfill_id)
    unrecoverable = [{"roaster_id": r, "day": d.isoformat(), "reason": e or ""} for r, d, e in conn.execute(
        """select roaster_id, day, error from control.backfill_items
            where backfill_id = %s and state = 'unrecoverable' order by day, roaster_id""",
        (backfill_id,)).fetchall()]
    return Summary(backfill_id, status, {k: counts[k] for k in ("done", "failed", "skipped", "unrecoverable")},
                   gaps_before, gaps_after, dbt_doc or {}, round(time.monotonic() - started, 2), error,
                   unrecoverable)
