"""One worker: claims an item, fetches its day (live or from the archive), and commits the
run, its artifacts and the item's new state in one transaction. A crash before the commit
leaves the item claimable; after it, done. Several workers share one HTTP client."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from runner.acquire.client import Exchange, Recorder
from runner.acquire.fetch import walk_catalog
from runner.acquire.platforms import CatalogResult
from runner.acquire.web_archive import NoCapture, fetch_archived_day
from runner.backfill import ledger
from runner.backfill.context import Context
from runner.backfill.ledger import Claimed
from runner.core.config import Roaster
from runner.core.errors import DatabaseUnavailable, FetchError, RobotsDisallowed
from runner.core.logs import bound
from runner.store.db import connect_async
from runner.store.raw import has_ok_run_since, insert_artifact, insert_bodies, insert_run

CLAIM_POLL_SECONDS = 0.5  # waiting for units another worker or backfill holds
DB_RECONNECT_DELAYS = (0.2, 0.5, 1, 2, 4, 8, 15)  # about 30 s: a server restart fits, an outage does not
DB_STEP_ATTEMPTS = 3  # reconnects one database step may use before the worker gives up

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    state: str
    error: str | None
    run: BufferedRun | None
    elapsed_ms: int


class Worker:
    """One connection, one item at a time."""

    def __init__(self, ctx: Context, number: int) -> None:
        self.ctx = ctx
        self.name = f"{socket.gethostname()}:{os.getpid()}:{number}"
        self.conn: psycopg.AsyncConnection | None = None

    @property
    def db(self) -> psycopg.AsyncConnection:
        """The worker's connection (made by `connect`, before any item)."""
        if self.conn is None:
            raise DatabaseUnavailable("the worker has no database connection")
        return self.conn

    async def run(self) -> None:
        # Autocommit, with explicit transaction blocks where statements belong together.
        await self.connect()
        try:
            while not self.ctx.stopping:
                item = await self.retrying(lambda: ledger.claim(self.db, self.ctx.backfill_id, self.name))
                if item is None:
                    if await self.retrying(lambda: ledger.open_items(self.db, self.ctx.backfill_id)) == 0:
                        return
                    await asyncio.sleep(CLAIM_POLL_SECONDS)
                    continue
                with bound(roaster=item.roaster_id, day=item.day):
                    await self.work(item)
                await self.retrying(lambda: self.ctx.update_counts(self.db))
        finally:
            if self.conn is not None:
                await self.conn.close()  # an uncommitted item rolls back and its lock frees

    async def connect(self) -> None:
        self.conn = await connect_async(self.ctx.target.url)

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
        raise DatabaseUnavailable(f"database connection lost for over {sum(DB_RECONNECT_DELAYS):g} s")

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
                await ledger.unlock_unit(self.db, item.roaster_id, item.day)
                return
            except psycopg.OperationalError as exc:
                if not self.lost_connection(exc):
                    raise
                await self.reconnect(exc)
                if not await self.retrying(lambda: ledger.lock_unit(self.db, item.roaster_id, item.day)):
                    return  # another worker holds the unit now; it will finish it
                if await self.retrying(lambda done=outcome: self.landed(item, done)):
                    await ledger.unlock_unit(self.db, item.roaster_id, item.day)
                    return
        raise DatabaseUnavailable(f"item {item.roaster_id} {item.day}: the database kept dropping the connection")

    async def landed(self, item: Claimed, outcome: Outcome | None) -> bool:
        """Did this item's commit reach the database before the connection went?"""
        state, run_id = await ledger.item_state(self.db, self.ctx.backfill_id, item)
        if state not in ("pending", "running"):
            return True
        return outcome is not None and outcome.run is not None and run_id == outcome.run.id

    async def execute_timed(self, item: Claimed) -> Outcome:
        started = time.monotonic()
        roaster = self.ctx.config.roaster(item.roaster_id)
        buffered: BufferedRun | None = None
        try:
            state, error, buffered = await self.execute(item, roaster)
        except (FetchError, OSError, ValueError) as exc:
            state, error = "failed", f"{type(exc).__name__}: {exc}"
        return Outcome(state, error, buffered, int((time.monotonic() - started) * 1000))

    async def _live(self, item: Claimed, roaster: Roaster) -> tuple[str, str | None, BufferedRun | None]:
        """Today's catalog, live."""
        run = BufferedRun(roaster, "live", item.day)
        try:
            result = await walk_catalog(self.ctx.client, run, roaster)
        except RobotsDisallowed as exc:
            result = CatalogResult(failures=[f"robots: {exc}"])
        run.finish(result)
        return ("done" if run.status == "ok" else "failed"), run.error, run

    async def execute(self, item: Claimed, roaster: Roaster) -> tuple[str, str | None, BufferedRun | None]:
        if item.action == "reparse":
            return "done", None, None  # the dbt build at the end does the work
        if item.action == "unrecoverable":
            return "unrecoverable", "nothing can supply this day", None
        if await has_ok_run_since(self.db, item.roaster_id, item.day, self.ctx.planned_at):
            return "skipped", "complete raw data arrived after the plan", None
        if item.action == "refetch_live" and roaster.today() == item.day:
            return await self._live(item, roaster)
        if not roaster.archive:
            return "unrecoverable", "the day is past and the roaster does not allow the archive", None
        run = BufferedRun(roaster, "archive", item.day)
        try:
            result = await fetch_archived_day(self.ctx.archive, roaster, item.day, run)
        except NoCapture as exc:
            return "unrecoverable", str(exc), None
        run.finish(result)
        return ("done" if run.status == "ok" else "failed"), run.error, run

    async def commit(self, item: Claimed, outcome: Outcome) -> None:
        """The run, its artifacts and the item's new state: one transaction."""
        assert self.conn is not None
        run = outcome.run
        async with self.conn.transaction():
            if run is not None:
                await run.insert(self.conn)
            await ledger.set_state(self.conn, self.ctx.backfill_id, item, outcome.state, outcome.error,
                                   outcome.elapsed_ms, run.id if run else None)


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
        await insert_run(conn, self)
        await insert_bodies(conn, [exchange for _, _, exchange in self.exchanges])
        for resource, page, exchange in self.exchanges:
            await insert_artifact(conn, self.id, self.roaster.id, self.source, resource, page, exchange,
                                  body_stored=True)
