"""One request budget per shop and one for the web archive, shared by every process that
uses the same database (the service, `fetch`, backfill workers, on any machine).

`control.request_budget` holds, per key (a roaster id, or ARCHIVE_KEY), the next free send
slot and the moment a throttling answer blocks the key until. A request reserves its slot
in one short statement right before its bytes go out (runner/http.py, ShopGate.on_the_wire):
the slot is the later of the next free one, the block, and now; the next free one moves one
interval on. Times are the database's (clock_timestamp()), so machines with skewed clocks
still space their requests. A process that dies leaves at most the one slot it reserved,
which passes by itself; a block lasts as long as the shop asked.
"""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg

ARCHIVE_KEY = "__archive__"
CONNECT_TIMEOUT_SECONDS = 5
OUTAGE_SECONDS = 30.0  # after a database error, this process keeps its own limits this long, then tries again

log = logging.getLogger(__name__)

RESERVE_SQL = """
insert into control.request_budget as b (key, next_slot, updated_at)
values (%(key)s, clock_timestamp() + make_interval(secs => %(interval)s), clock_timestamp())
on conflict (key) do update
set next_slot = greatest(b.next_slot, b.blocked_until, clock_timestamp()) + make_interval(secs => %(interval)s),
    updated_at = clock_timestamp()
returning extract(epoch from next_slot - make_interval(secs => %(interval)s) - clock_timestamp())::float8
"""

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
            self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True,
                                                               connect_timeout=CONNECT_TIMEOUT_SECONDS)
        return self._conn

    async def reserve(self, key: str, interval: float) -> float:
        """Reserve the key's next send slot; the seconds to wait for it (0 when it is now)."""
        row = await self._execute(RESERVE_SQL, {"key": key, "interval": interval}, fetch=True)
        return max(0.0, float(row[0])) if row else 0.0

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
