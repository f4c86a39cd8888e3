"""The checkpoint ledger: `control.backfills` (one row per backfill, with its options and
outcome) and `control.backfill_items` (one row per (roaster, day)). Every statement on
those two tables lives here: recording a plan, claiming items, their states, the counts
and the stored summary.

A claimed unit is also held by a session advisory lock on (roaster, day): it lives as
long as the worker's connection, so a `running` item whose lock is free belongs to a dead
worker and is claimable again, and two backfills over the same unit never work it at once.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from runner.backfill.plan import Plan
from runner.core.config import DEFAULT_FAILURE_THRESHOLD, DEFAULT_TIMEOUT_THRESHOLD
from runner.core.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_OK, InputError
from runner.store.db import Target, connect, one_row
from runner.store.raw import UNIT_LOCK_SQL

DEFAULT_CONCURRENCY = 4
# the thresholds' defaults are the config's (monitoring.failure_threshold, timeout_threshold)
DEFAULT_MAX_FAILURE_RATE = DEFAULT_FAILURE_THRESHOLD
DEFAULT_TIMEOUT_SECONDS = DEFAULT_TIMEOUT_THRESHOLD
MAX_CONCURRENCY = 64
MAX_ITEM_ATTEMPTS = 3  # a failed item is retried on resume until it has failed this often
CLAIM_BATCH = 16
FINALIZE_LOCK_SQL = "hashtextextended(%s::text, 11)"
OWNER_LOCK_SQL = "hashtextextended(%s::text, 13)"
ITEM_STATES = ("done", "failed", "skipped", "unrecoverable", "pending", "running")
RESUMABLE_STATUSES = ("aborted", "failed")  # "running": other processes still work it


@dataclass(frozen=True)
class Options:
    concurrency: int = DEFAULT_CONCURRENCY
    max_failure_rate: float = DEFAULT_MAX_FAILURE_RATE
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    def check(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise InputError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
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

    @property
    def resumable(self) -> bool:
        """`backfill --resume ID` has something to do: open or failed items, or the final build
        (a backfill still `running` elsewhere needs nobody to resume it)."""
        return self.status in RESUMABLE_STATUSES

    def as_dict(self) -> dict[str, Any]:
        return {"backfill_id": self.backfill_id, "status": self.status, "items": self.items,
                "gaps_before": self.gaps_before, "gaps_after": self.gaps_after, "dbt": self.dbt,
                "elapsed_seconds": self.elapsed_seconds, "error": self.error,
                "unrecoverable": self.unrecoverable, "resumable": self.resumable}


@dataclass
class Claimed:
    roaster_id: str
    day: dt.date
    action: str
    attempts: int


# --- the backfill row ------------------------------------------------------------------------

def record_plan(target: Target, plan: Plan, options: Options, planned_at: dt.datetime | None = None) -> str:
    """The backfill and every item, in one transaction, before any work."""
    backfill_id = str(uuid.uuid4())
    with connect(target) as conn, conn.transaction():
        conn.execute(
            """insert into control.backfills (id, strategy, start_day, end_day, roasters, status,
                   max_failure_rate, timeout_seconds, concurrency, gaps_before, planned_at, origin, owner)
               values (%s, %s, %s, %s, %s, 'running', %s, %s, %s, %s, coalesce(%s, now()), %s, %s)""",
            (backfill_id, plan.strategy, plan.start, plan.end, plan.roasters, options.max_failure_rate,
             options.timeout_seconds, options.concurrency, plan.gaps, planned_at, plan.origin, plan.owner))
        with conn.cursor() as cur:
            cur.executemany(
                """insert into control.backfill_items (backfill_id, roaster_id, day, status_before, action)
                   values (%s, %s, %s, %s, %s)""",
                [(backfill_id, i.roaster_id, i.day, i.status, i.action) for i in plan.items])
    return backfill_id


def find_backfill(conn: psycopg.Connection, backfill_id: str | None) -> tuple[str, Options]:
    """The given backfill (else the latest unfinished one) and its stored options."""
    columns = "select id, concurrency, max_failure_rate, timeout_seconds from control.backfills"
    if backfill_id:
        try:
            uuid.UUID(backfill_id)
        except ValueError:
            raise InputError(f"--resume {backfill_id!r} is not a backfill id") from None
        row = conn.execute(columns + " where id = %s", (backfill_id,)).fetchone()
        if row is None:
            raise InputError(f"no backfill {backfill_id}")
    else:
        # a person's: the service plans its own unfinished days again
        row = conn.execute(columns + " where status <> 'done' and origin = 'cli' order by created_at desc limit 1"
                           ).fetchone()
        if row is None:
            raise InputError("no unfinished backfill to resume")
    return str(row[0]), Options(concurrency=row[1], max_failure_rate=row[2], timeout_seconds=row[3])


def reopen(conn: psycopg.Connection, backfill_id: str) -> None:
    """For a resume: failed items get another chance, up to MAX_ITEM_ATTEMPTS in all."""
    with conn.transaction():
        conn.execute("""update control.backfill_items set state = 'pending', error = null
                         where backfill_id = %s and state = 'failed' and attempts < %s""",
                     (backfill_id, MAX_ITEM_ATTEMPTS))
        conn.execute("update control.backfills set status = 'running', finished_at = null, error = null "
                     "where id = %s", (backfill_id,))


def window(conn: psycopg.Connection, backfill_id: str) -> tuple[dt.date, dt.date, dt.datetime]:
    """First and last day, and the moment the plan was made (data after it was not planned for)."""
    return one_row(conn.execute("select start_day, end_day, coalesce(planned_at, created_at) from control.backfills "
                        "where id = %s", (backfill_id,)).fetchone())


def mark_aborted(conn: psycopg.Connection, backfill_id: str, reason: str | None) -> None:
    conn.execute("update control.backfills set status = 'aborted', error = %s, finished_at = now() "
                 "where id = %s", (reason, backfill_id))


def lock_finalize(conn: psycopg.Connection, backfill_id: str) -> None:
    """One process finalizes a backfill at a time (held until the connection closes)."""
    conn.execute(f"select pg_advisory_lock({FINALIZE_LOCK_SQL})", (backfill_id,))


def stored(conn: psycopg.Connection, backfill_id: str) -> tuple[str, dt.date, dt.date, list[str]]:
    """status, start_day, end_day, roasters."""
    return one_row(conn.execute("select status, start_day, end_day, roasters from control.backfills where id = %s",
                        (backfill_id,)).fetchone())


def worked_range(conn: psycopg.Connection, backfill_id: str) -> tuple[dt.date | None, dt.date | None, list[str]]:
    """First and last day, and the roasters, of items whose data the final build must read."""
    return one_row(conn.execute(
        """select min(day), max(day), array_agg(distinct roaster_id) from control.backfill_items
            where backfill_id = %s and state in ('done', 'skipped')""", (backfill_id,)).fetchone())


def record_outcome(conn: psycopg.Connection, backfill_id: str, status: str, gaps_after: int,
                   dbt_result: dict[str, Any], error: str | None) -> None:
    conn.execute("""update control.backfills set status = %s, gaps_after = %s, dbt = %s, finished_at = now(),
                           error = %s where id = %s""",
                 (status, gaps_after, json.dumps(dbt_result), error, backfill_id))


def item_counts(conn: psycopg.Connection, backfill_id: str) -> dict[str, int]:
    counts = dict.fromkeys(ITEM_STATES, 0)
    for state, n in conn.execute("select state, count(*) from control.backfill_items where backfill_id = %s "
                                 "group by state", (backfill_id,)).fetchall():
        counts[state] = int(n)
    return counts


def summary(conn: psycopg.Connection, backfill_id: str, elapsed_seconds: float) -> Summary:
    status, gaps_before, gaps_after, dbt_doc, error = one_row(conn.execute(
        "select status, gaps_before, gaps_after, dbt, error from control.backfills where id = %s",
        (backfill_id,)).fetchone())
    counts = item_counts(conn, backfill_id)
    unrecoverable = [{"roaster_id": r, "day": d.isoformat(), "reason": e or ""} for r, d, e in conn.execute(
        """select roaster_id, day, error from control.backfill_items
            where backfill_id = %s and state = 'unrecoverable' order by day, roaster_id""",
        (backfill_id,)).fetchall()]
    return Summary(backfill_id, status, {k: counts[k] for k in ("done", "failed", "skipped", "unrecoverable")},
                   gaps_before, gaps_after, dbt_doc or {}, round(elapsed_seconds, 2), error, unrecoverable)


def item_outcomes(conn: psycopg.Connection, backfill_id: str) -> list[tuple[str, dt.date, str, str, str | None]]:
    """(roaster_id, day, action, state, error) of every item."""
    return conn.execute("""select roaster_id, day, action, state, error from control.backfill_items
                             where backfill_id = %s order by day, roaster_id""", (backfill_id,)).fetchall()


# --- service instances: their backfills outlive them only as `aborted` ---------------------------

def hold_owner(conn: psycopg.Connection, owner: str) -> None:
    """Held by a service instance for its lifetime (a session lock: it goes with the process)."""
    conn.execute(f"select pg_advisory_lock({OWNER_LOCK_SQL})", (owner,))


def abort_abandoned(conn: psycopg.Connection, own: str | None = None) -> int:
    """Running service backfills whose owner is gone: aborted (their open items roll back
    to claimable, and the next catch-up plans their days again). Returns how many."""
    abandoned = 0
    rows = conn.execute("""select id, owner from control.backfills
                            where origin = 'service' and status = 'running' and owner is not null""").fetchall()
    for backfill_id, owner in rows:
        if owner == own:  # this session holds its own lock: a try would succeed
            continue
        if one_row(conn.execute(f"select pg_try_advisory_lock({OWNER_LOCK_SQL})", (owner,)).fetchone())[0]:
            conn.execute(f"select pg_advisory_unlock({OWNER_LOCK_SQL})", (owner,))
            mark_aborted(conn, str(backfill_id), f"the service instance {owner} that ran it stopped")
            abandoned += 1
    return abandoned


# --- items, from a worker's (async) connection --------------------------------------------------

async def open_items(conn: psycopg.AsyncConnection, backfill_id: str) -> int:
    cur = await conn.execute("""select count(*) from control.backfill_items
                                 where backfill_id = %s and state in ('pending', 'running')""", (backfill_id,))
    return int((one_row(await cur.fetchone()))[0])


async def state_counts(conn: psycopg.AsyncConnection, backfill_id: str) -> dict[str, int]:
    cur = await conn.execute(
        "select state, count(*) from control.backfill_items where backfill_id = %s group by state", (backfill_id,))
    return {state: int(n) for state, n in await cur.fetchall()}


async def claim(conn: psycopg.AsyncConnection, backfill_id: str, worker: str) -> Claimed | None:
    """The first open item whose unit no other worker (of any backfill) holds: locked, running."""
    async with conn.transaction():
        cur = await conn.execute(
            """select roaster_id, day, action, attempts from control.backfill_items
                where backfill_id = %s and state in ('pending', 'running')
                order by day, roaster_id
                for update skip locked
                limit %s""", (backfill_id, CLAIM_BATCH))
        for roaster_id, day, action, attempts in await cur.fetchall():
            if not await lock_unit(conn, roaster_id, day):
                continue  # another worker, here or in another backfill, has this unit
            await conn.execute(
                """update control.backfill_items
                      set state = 'running', attempts = attempts + 1, claimed_by = %s, claimed_at = now()
                    where backfill_id = %s and roaster_id = %s and day = %s""",
                (worker, backfill_id, roaster_id, day))
            return Claimed(roaster_id, day, action, attempts + 1)
    return None


async def lock_unit(conn: psycopg.AsyncConnection, roaster_id: str, day: dt.date) -> bool:
    cur = await conn.execute(f"select pg_try_advisory_lock({UNIT_LOCK_SQL})", (roaster_id, day))
    return bool((one_row(await cur.fetchone()))[0])


async def unlock_unit(conn: psycopg.AsyncConnection, roaster_id: str, day: dt.date) -> None:
    await conn.execute(f"select pg_advisory_unlock({UNIT_LOCK_SQL})", (roaster_id, day))


async def item_state(conn: psycopg.AsyncConnection, backfill_id: str, item: Claimed) -> tuple[str, uuid.UUID | None]:
    cur = await conn.execute(
        """select state, run_id from control.backfill_items
            where backfill_id = %s and roaster_id = %s and day = %s""", (backfill_id, item.roaster_id, item.day))
    return one_row(await cur.fetchone())


async def set_state(conn: psycopg.AsyncConnection, backfill_id: str, item: Claimed, state: str,
                    error: str | None, elapsed_ms: int, run_id: uuid.UUID | None) -> None:
    await conn.execute(
        """update control.backfill_items
              set state = %s, error = %s, finished_at = now(), elapsed_ms = %s, run_id = %s
            where backfill_id = %s and roaster_id = %s and day = %s""",
        (state, error, elapsed_ms, run_id, backfill_id, item.roaster_id, item.day))


# --- reads for health, metrics and the estimate ---------------------------------------------

def stale_backfills(conn: psycopg.Connection, idle_seconds: float) -> int:
    """Running backfills with no item claimed or finished for longer than idle_seconds."""
    return int(one_row(conn.execute(
        """select count(*) from control.backfills b
            where b.status = 'running'
              and greatest(b.created_at, (select max(coalesce(i.finished_at, i.claimed_at))
                                            from control.backfill_items i where i.backfill_id = b.id))
                  < now() - make_interval(secs => %s)""", (idle_seconds,)).fetchone())[0])


def unfinished_backfills(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute("select status, count(*) from control.backfills where status <> 'done' "
                             "group by status").fetchall())


def items_by_state(conn: psycopg.Connection) -> dict[str, int]:
    """Items of every backfill, by state."""
    return dict(conn.execute("select state, count(*) from control.backfill_items group by state order by 1"
                             ).fetchall())
