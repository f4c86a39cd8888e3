"""The raw store: runs and artifacts, written append-only.

Each artifact is one INSERT in autocommit, so a page is either wholly visible or not
at all; its body goes into raw.bodies first (once per distinct sha256), so a visible
capture always finds its body. A run holds a session advisory lock on its id while it works; a run found
`running` whose lock is free belongs to a process that died, and is marked `fail`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Protocol

import psycopg
from psycopg.types.json import Jsonb

from runner.core.config import Roaster
from runner.core.exchange import Exchange, Previous, Recorder, archive_timestamp
from runner.store.bodies import BODY_SQL, INSERT_BODY, insert_bodies, stored_body
from runner.store.db import connect_async, one_row

RUN_LOCK_SQL = "select pg_advisory_lock(hashtextextended(%s::text, 0))"
# A (roaster, day) unit being fetched: held by a backfill item (runner/backfill/ledger.py)
# and by a live `fetch` run, so two processes never fetch the same unit at once.
UNIT_LOCK_SQL = "hashtextextended(%s || '/' || %s::text, 7)"
RUN_UNLOCK_SQL = "select pg_advisory_unlock(hashtextextended(%s::text, 0))"
MAX_ERROR_CHARS = 2000  # an error summary, not a log dump

INSERT_ARTIFACT = """
insert into raw.scrape_artifacts (
    id, run_id, roaster_id, url, requested_url, resource, page, attempt, source, http_status,
    content_type, headers, sha256, byte_length, captured_at, archive_timestamp, elapsed_ms, error,
    status_line, response_headers, request, byte_exact)
values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
def artifact_params(run_id: uuid.UUID, roaster_id: str, source: str, resource: str, page: int | None,
                    exchange: Exchange, artifact_id: uuid.UUID | None = None) -> list[object]:
    """The INSERT_ARTIFACT parameters for one exchange; the id is new unless given, the rest is the payload."""
    return [
        artifact_id or uuid.uuid4(), run_id, roaster_id, exchange.url, exchange.requested_url, resource, page,
        exchange.attempt, source, exchange.status, exchange.content_type, Jsonb(exchange.headers),
        exchange.sha256, exchange.byte_length, exchange.captured_at,
        archive_timestamp(exchange.url) if source == "archive" else None, exchange.elapsed_ms, exchange.error,
        exchange.status_line, Jsonb(exchange.response_headers) if exchange.status_line else None,
        Jsonb(exchange.request) if exchange.request else None, exchange.byte_exact,
    ]


async def insert_artifact(conn: psycopg.AsyncConnection, run_id: uuid.UUID, roaster_id: str, source: str,
                          resource: str, page: int | None, exchange: Exchange, *, body_stored: bool = False) -> None:
    """One capture: its body into raw.bodies unless stored already, then the capture's row."""
    if not body_stored:
        await insert_bodies(conn, [exchange])
    await conn.execute(INSERT_ARTIFACT, artifact_params(run_id, roaster_id, source, resource, page, exchange))


@dataclass(frozen=True)
class Added:
    capture: bool  # the capture is new
    body: bool  # its body is new


def insert_capture(conn: psycopg.Connection, artifact_id: uuid.UUID, run_id: uuid.UUID, roaster_id: str,
                   source: str, resource: str, page: int | None, exchange: Exchange) -> Added:
    """A capture with a known id (an import), unless stored already: what was new."""
    body = 0
    if exchange.body is not None:
        body = conn.execute(INSERT_BODY, stored_body(exchange.body).params).rowcount
    cur = conn.execute(INSERT_ARTIFACT + " on conflict (id) do nothing",
                       artifact_params(run_id, roaster_id, source, resource, page, exchange, artifact_id))
    return Added(cur.rowcount == 1, body == 1)


# The newest live capture of a URL that carried its page (a 200, or a 304 that stood for
# the one before), whole: its validators and its body. The roaster's newest captures first
# (scrape_artifacts_roaster_captured): the URL was fetched in its last run, a few rows back;
# an index on the URL would cost every capture some 100 bytes more.
PREVIOUS_SQL = """
select sha256, headers ->> 'etag', headers ->> 'last-modified' from raw.scrape_artifacts
 where roaster_id = %s and requested_url = %s and source = 'live' and byte_exact and error is null
   and sha256 is not null and http_status in (200, 304)
 order by captured_at desc limit 1
"""


class RunHandle:
    """One scrape run in progress; counts what it stored."""

    def __init__(self, store: RawStore, run_id: uuid.UUID, roaster: Roaster, source: str) -> None:
        self.store = store
        self.id = run_id
        self.roaster = roaster
        self.source = source
        self.artifacts = 0

    def recorder(self, resource: str, page: int | None) -> Recorder:
        async def record(exchange: Exchange) -> None:
            await self.store.add_artifact(self, resource, page, exchange)
            self.artifacts += 1

        return record


class RawStore:
    """Async writer on one connection: writes are tiny, so one connection serves all shops."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> RawStore:
        conn = await connect_async(url)
        return cls(conn)

    async def close(self) -> None:
        await self.conn.close()

    async def try_lock_unit(self, roaster_id: str, day: dt.date) -> bool:
        """The unit lock, if nobody else (a backfill item, another fetch) holds it."""
        async with self._lock:
            cur = await self.conn.execute(f"select pg_try_advisory_lock({UNIT_LOCK_SQL})", (roaster_id, day))
            return bool((one_row(await cur.fetchone()))[0])

    async def unlock_unit(self, roaster_id: str, day: dt.date) -> None:
        async with self._lock:
            await self.conn.execute(f"select pg_advisory_unlock({UNIT_LOCK_SQL})", (roaster_id, day))

    async def start_run(self, roaster: Roaster, kind: str, target_day: dt.date | None = None) -> RunHandle:
        run_id = uuid.uuid4()
        async with self._lock:
            # Lock before the row exists, so a reaper never sees a running run without its lock.
            await self.conn.execute(RUN_LOCK_SQL, (run_id,))
            await self.conn.execute(
                """insert into raw.scrape_runs (id, roaster_id, kind, status, target_day, host, pid)
                   values (%s, %s, %s, 'running', %s, %s, %s)""",
                (run_id, roaster.id, kind, target_day, socket.gethostname(), os.getpid()),
            )
        return RunHandle(self, run_id, roaster, kind)

    async def add_artifact(self, run: RunHandle, resource: str, page: int | None,
                           exchange: Exchange) -> None:
        async with self._lock:
            await insert_artifact(self.conn, run.id, run.roaster.id, run.source, resource, page, exchange)

    async def previous(self, roaster_id: str, url: str) -> Previous | None:
        """The last live capture of this URL that carried the page, if the shop sent validators
        with it (ETag, Last-Modified): a conditional request can then be made."""
        async with self._lock:
            cur = await self.conn.execute(PREVIOUS_SQL, (roaster_id, url))
            row = await cur.fetchone()
        return Previous(row[0], row[1], row[2]) if row and (row[1] or row[2]) else None

    async def body(self, sha256: str) -> bytes | None:
        async with self._lock:
            cur = await self.conn.execute(BODY_SQL, (sha256,))
            row = await cur.fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    async def finish_run(self, run: RunHandle, status: str, pages: int, error: str | None) -> None:
        async with self._lock:
            await self.conn.execute(
                """update raw.scrape_runs
                      set status = %s, finished_at = now(), pages = %s, artifacts = %s, error = %s
                    where id = %s and status = 'running'""",
                (status, pages, run.artifacts, _clip(error), run.id),
            )
            await self.conn.execute(RUN_UNLOCK_SQL, (run.id,))


class FinishedRun(Protocol):
    """What insert_run needs of a run (a backfill's BufferedRun is one)."""

    id: uuid.UUID
    roaster: Roaster
    source: str
    status: str
    day: dt.date
    started_at: dt.datetime
    finished_at: dt.datetime | None
    pages: int
    exchanges: list
    error: str | None


async def insert_run(conn: psycopg.AsyncConnection, run: FinishedRun) -> None:
    """A run written whole, when it is over (a backfill item commits it with its artifacts)."""
    await conn.execute(
        """insert into raw.scrape_runs (id, roaster_id, kind, status, target_day, started_at, finished_at,
                                        pages, artifacts, error, host, pid)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (run.id, run.roaster.id, run.source, run.status, run.day, run.started_at, run.finished_at,
         run.pages, len(run.exchanges), run.error, socket.gethostname(), os.getpid()))


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - 1] + "…"


# --- reads: what other modules ask of the raw tables ------------------------------------

ALL = None  # every roaster, where a function takes roaster ids


def run_counts(conn: psycopg.Connection, roaster_ids: list[str] | None = ALL) -> dict[str, int]:
    """Runs by status."""
    return dict(conn.execute("""select status, count(*) from raw.scrape_runs
                                 where %(ids)s::text[] is null or roaster_id = any(%(ids)s)
                                 group by status order by 1""", {"ids": roaster_ids}).fetchall())


def row_counts(conn: psycopg.Connection, roaster_ids: list[str]) -> dict[str, int]:
    """Raw runs and artifacts of these roasters."""
    runs, artifacts = one_row(conn.execute(
        """select (select count(*) from raw.scrape_runs where roaster_id = any(%(ids)s)),
                  (select count(*) from raw.scrape_artifacts where roaster_id = any(%(ids)s))""",
        {"ids": roaster_ids}).fetchone())
    return {"scrape_runs": int(runs), "scrape_artifacts": int(artifacts)}


def latest_runs(conn: psycopg.Connection, roaster_ids: list[str], limit: int) -> list[tuple]:
    """(id, roaster_id, kind, status, target_day, created_at, error), newest first."""
    return conn.execute("""select id, roaster_id, kind, status, target_day, created_at, error from raw.scrape_runs
                            where roaster_id = any(%s) order by created_at desc limit %s""",
                        (roaster_ids, limit)).fetchall()


def run_day_span(conn: psycopg.Connection, roaster_ids: list[str]) -> dict[str, tuple[dt.date, dt.date]]:
    """Each roaster's first and last target day."""
    return {r: (first, last) for r, first, last in conn.execute(
        """select roaster_id, min(target_day), max(target_day) from raw.scrape_runs
            where roaster_id = any(%s) group by roaster_id""", (roaster_ids,)).fetchall()}


def last_ok_run_at(conn: psycopg.Connection) -> dict[str, dt.datetime]:
    return dict(conn.execute("""select roaster_id, max(coalesce(finished_at, created_at)) from raw.scrape_runs
                                 where status = 'ok' group by roaster_id""").fetchall())


def failures_since(conn: psycopg.Connection, window: dt.timedelta) -> tuple[int, int]:
    """(runs, failed runs) created in the window; a failed run that a later ok run of the
    same roaster-day made good no longer counts as failed."""
    total, failed = one_row(conn.execute(
        """select count(*),
                  count(*) filter (where r.status = 'fail' and not exists (
                      select 1 from raw.scrape_runs ok where ok.roaster_id = r.roaster_id
                         and ok.target_day = r.target_day and ok.status = 'ok' and ok.created_at > r.created_at))
             from raw.scrape_runs r where r.created_at > now() - %s""", (window,)).fetchone())
    return int(total), int(failed)


def fetch_request_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Live requests by result (success: the page came, 2xx; not_modified: a 304 stood for the
    previous capture; fail: anything else), quarantined captures included, so counts only grow."""
    return {result: int(n) for result, n in conn.execute(
        """select case when error is null and http_status between 200 and 299 then 'success'
                       when error is null and http_status = 304 and sha256 is not null then 'not_modified'
                       else 'fail' end, count(*)
             from (select error, http_status, sha256 from raw.scrape_artifacts where source = 'live'
                   union all
                   select error, http_status, sha256 from quarantine.scrape_artifacts where source = 'live') as a
            group by 1 order by 1""").fetchall()}


def mean_run_seconds(conn: psycopg.Connection) -> dict[str, float]:
    """Mean duration of ok runs, by kind (live, archive)."""
    return {kind: float(seconds) for kind, seconds in conn.execute(
        """select kind, avg(extract(epoch from finished_at - started_at)) from raw.scrape_runs
            where status = 'ok' and finished_at is not null group by kind""").fetchall()}


@dataclass(frozen=True)
class UnitRuns:
    """What the raw tables say of one (roaster, day): for the service's due and retry checks."""

    ok: bool = False  # an ok run exists
    running: bool = False  # a run is in progress (a `fetch`, or a run not reaped yet)
    failures: int = 0  # finished runs that were not ok (fail, partial)
    seconds_since_failure: float | None = None  # by the database's clock, since the last one was written
    retry_after: str | None = None  # the Retry-After header of the last failed run's last throttle


def unit_runs(conn: psycopg.Connection, units: list[tuple[str, dt.date]]) -> dict[tuple[str, dt.date], UnitRuns]:
    """UnitRuns of each (roaster, day) asked for (an empty UnitRuns where nothing ran)."""
    rows = conn.execute(
        """with units as (select * from unnest(%s::text[], %s::date[]) as u (roaster_id, day)),
                runs as (
                    select u.roaster_id, u.day, r.id, r.status, r.finished_at, r.created_at
                    from units as u join raw.scrape_runs as r on r.roaster_id = u.roaster_id and r.target_day = u.day
                ),
                last_failed as (
                    select distinct on (roaster_id, day) roaster_id, day, id from runs
                    where status in ('fail', 'partial') order by roaster_id, day, finished_at desc nulls last
                )
           select runs.roaster_id, runs.day, bool_or(status = 'ok'), bool_or(status = 'running'),
                  count(*) filter (where status in ('fail', 'partial')),
                  extract(epoch from now() - max(greatest(finished_at, created_at))
                                  filter (where status in ('fail', 'partial')))::float8,
                  (select a.headers ->> 'retry-after' from raw.scrape_artifacts as a
                     join last_failed as f on f.id = a.run_id
                    where f.roaster_id = runs.roaster_id and f.day = runs.day and a.headers ? 'retry-after'
                    order by a.captured_at desc limit 1)
             from runs group by runs.roaster_id, runs.day""",
        ([u[0] for u in units], [u[1] for u in units])).fetchall()
    found = {(r[0], r[1]): UnitRuns(bool(r[2]), bool(r[3]), int(r[4]), r[5], r[6]) for r in rows}
    return {unit: found.get(unit, UnitRuns()) for unit in units}


async def has_ok_run_since(conn: psycopg.AsyncConnection, roaster_id: str, day: dt.date,
                           since: dt.datetime) -> bool:
    """Did an ok run for this (roaster, day) finish after `since`? (A `fetch` that started
    before a plan and finished after it counts: its pages are newer than the plan.)"""
    cur = await conn.execute("""select exists (select 1 from raw.scrape_runs
                                                where roaster_id = %s and target_day = %s and status = 'ok'
                                                  and greatest(finished_at, created_at) > %s)""",
                             (roaster_id, day, since))
    return bool((one_row(await cur.fetchone()))[0])


# --- synchronous housekeeping ----------------------------------------------------------

def dead_runs(conn: psycopg.Connection) -> list[uuid.UUID]:
    """Running runs whose owner no longer holds the lease (probed, nothing changed)."""
    dead = []
    for (run_id,) in conn.execute("select id from raw.scrape_runs where status = 'running'").fetchall():
        if one_row(conn.execute("select pg_try_advisory_lock(hashtextextended(%s::text, 0))", (run_id,)).fetchone())[0]:
            conn.execute(RUN_UNLOCK_SQL, (run_id,))
            dead.append(run_id)
    return dead


def reap_dead_runs(conn: psycopg.Connection) -> int:
    """Mark `fail` every running run whose owner no longer holds its lock.

    A process killed with SIGKILL loses its connection and with it the lock, so this
    finds dead runs on any machine without guessing from timestamps.
    """
    running = conn.execute("select id from raw.scrape_runs where status = 'running'").fetchall()
    reaped = 0
    for (run_id,) in running:
        got = one_row(conn.execute("select pg_try_advisory_lock(hashtextextended(%s::text, 0))",
                           (run_id,)).fetchone())[0]
        if not got:
            continue
        try:
            with conn.transaction():
                cur = conn.execute(
                    """update raw.scrape_runs
                          set status = 'fail', finished_at = now(),
                              -- what it stored before it died, so the record matches raw
                              artifacts = (select count(*) from raw.scrape_artifacts where run_id = %s),
                              error = coalesce(error || '; ', '')
                                      || 'interrupted: the process ended before the run finished'
                        where id = %s and status = 'running'""",
                    (run_id, run_id),
                )
                reaped += cur.rowcount
        finally:
            conn.execute(RUN_UNLOCK_SQL, (run_id,))
    return reaped
