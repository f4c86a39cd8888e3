"""One request budget per shop and one for the web archive, shared by every process that
uses the same database (the service, `fetch`, backfill workers, on any machine).

`control.request_budget` holds, per key (a roaster id, or ARCHIVE_KEY), the earliest moment
the next request may go (`next_slot`) and the moment a throttling answer blocks the key
until. A request takes the key's turn right before its bytes go out (runner/acquire/client.py,
ShopGate.on_the_wire): a session advisory lock on the key, then a wait until the later of
next_slot and the block; it gives the turn back once its headers are written, moving
next_slot one interval past that moment. So two requests to one shop, from any processes,
are never closer than the interval, however late a busy machine wakes a sleeper: the
next one cannot start counting before the last one is out. Times are the database's
(clock_timestamp()), so skewed machine clocks do not matter. A process that dies holding
a turn loses its session, and with it the lock; a block lasts as long as the shop asked.
"""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg

from runner.store.db import connect_async

ARCHIVE_KEY = "__archive__"
CONNECT_TIMEOUT_SECONDS = 5  # shorter than store.db's: a fetch waits on it
OUTAGE_SECONDS = 30.0  # after a database error, this process keeps its own limits this long, then tries again

log = logging.getLogger(__name__)

LOCK_KEY_SQL = "hashtextextended('budget/' || %(key)s, 17)"
TRY_TURN_SQL = f"select pg_try_advisory_lock({LOCK_KEY_SQL})"
WAIT_SQL = """
select extract(epoch from greatest(b.next_slot, b.blocked_until, clock_timestamp()) - clock_timestamp())::float8
from control.request_budget as b where b.key = %(key)s
"""
SENT_SQL = """
insert into control.request_budget as b (key, next_slot, updated_at)
values (%(key)s, clock_timestamp() + make_interval(secs => %(interval)s), clock_timestamp())
on conflict (key) do update
set next_slot = greatest(b.next_slot, clock_timestamp() + make_interval(secs => %(interval)s)),
    updated_at = clock_timestamp()
"""
# a statement of its own, after SENT_SQL has committed: unlocked inside the same statement, the
# next holder could read next_slot before the update is visible
GIVE_BACK_SQL = f"select pg_advisory_unlock({LOCK_KEY_SQL})"
TURN_POLL_SECONDS = 0.005  # while another process holds a key's turn
TURN_TIMEOUT_SECONDS = 120.0  # a turn never given back (a stuck process): go by our own limits

BLOCK_SQL = """
insert into control.request_budget as b (key, blocked_until, blocked_reason)
values (%(key)s, clock_timestamp() + make_interval(secs => %(seconds)s), %(reason)s)
on conflict (key) do update
set blocked_until = greatest(b.blocked_until, excluded.blocked_until),
    blocked_reason = excluded.blocked_reason,
    updated_at = clock_timestamp()
"""


class SharedBudget:
    """The budget as one process sees it: one connection, one statement at a time.

    While the database is unreachable (a restart, dropped connections) requests go out
    under this process's own limits (ShopGate) rather than fail: the budget is politeness
    across processes, and a process that cannot reach the database stores nothing anyway."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._down_until = 0.0

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await connect_async(self.url, timeout=CONNECT_TIMEOUT_SECONDS)
        return self._conn

    async def take_turn(self, key: str) -> bool:
        """Hold `key`'s turn and wait until its next slot; False when the database is out of
        reach or the turn never came (the caller then goes by its own limits). give_back()
        must follow a True. Cancelled while waiting, it gives the turn back itself."""
        deadline = time.monotonic() + TURN_TIMEOUT_SECONDS
        while True:
            row = await self._execute(TRY_TURN_SQL, {"key": key}, fetch=True)
            if row is None:
                return False
            if row[0]:
                break
            if time.monotonic() > deadline:
                log.warning("no turn for %s within %g s: going by this process's own limits", key,
                            TURN_TIMEOUT_SECONDS)
                return False
            await asyncio.sleep(TURN_POLL_SECONDS)
        try:
            row = await self._execute(WAIT_SQL, {"key": key}, fetch=True)
            if row is not None and row[0] > 0:
                await asyncio.sleep(row[0])
        except BaseException:  # cancelled (a request deadline): the turn must not stay held
            await self._execute(GIVE_BACK_SQL, {"key": key}, fetch=False)
            raise
        return True

    async def give_back(self, key: str, interval: float) -> None:
        """The request is out: the next one may go `interval` from now; the turn is free."""
        await self._execute(SENT_SQL, {"key": key, "interval": interval}, fetch=False)
        await self._execute(GIVE_BACK_SQL, {"key": key}, fetch=False)

    async def block(self, key: str, seconds: float, reason: str) -> None:
        """Nobody sends to `key` for `seconds` (a 429's Retry-After, or our backoff after one)."""
        await self._execute(BLOCK_SQL, {"key": key, "seconds": seconds, "reason": reason}, fetch=False)

    async def _execute(self, query: str, params: dict, *, fetch: bool) -> tuple | None:
        if time.monotonic() < self._down_until:
            return None
        async with self._lock:
            try:
                conn = await self._connection()
                cur = await conn.execute(query, params)
                return await cur.fetchone() if fetch else None
            except psycopg.OperationalError as exc:
                self._down_until = time.monotonic() + OUTAGE_SECONDS
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                log.warning("request budget unreachable (%s): own limits for %g s", first, OUTAGE_SECONDS)
                return None

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
