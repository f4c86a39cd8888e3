"""What one process's workers share while they work a backfill, and when it must stop."""

from __future__ import annotations

import datetime as dt
import logging
import time

import psycopg

from runner.acquire.client import PoliteClient
from runner.acquire.web_archive import Archive
from runner.backfill import ledger
from runner.backfill.events import EventLog, event_log, finished_count
from runner.backfill.ledger import Options
from runner.core.config import Config
from runner.store.db import Target, connect_async

MIN_ITEMS_FOR_FAILURE_RATE = 10  # a rate over fewer items is noise

log = logging.getLogger(__name__)


def abort_reason(counts: dict[str, int], elapsed_seconds: float, options: Options) -> str | None:
    """Why a backfill must stop (resumably) now, if it must: too many failed items, or time is up."""
    failed = counts.get("failed", 0)
    finished = finished_count(counts)
    if finished >= MIN_ITEMS_FOR_FAILURE_RATE and failed / finished > options.max_failure_rate:
        return f"failure rate {failed}/{finished} is over {options.max_failure_rate:.0%}"
    if elapsed_seconds > options.timeout_seconds:
        return f"timeout: over {options.timeout_seconds:g} s"
    return None


class Context:
    """What this process's workers share: the backfill, the HTTP client, the counts, the stop flag."""

    def __init__(self, config: Config, target: Target, backfill_id: str, options: Options,
                 client: PoliteClient, archive: Archive, planned_at: dt.datetime) -> None:
        self.config, self.target, self.backfill_id, self.options = config, target, backfill_id, options
        self.client, self.archive = client, archive
        self.log: EventLog = event_log()
        self.stopping = False
        self.abort_reason: str | None = None
        self.started = time.monotonic()
        self.counts: dict[str, int] = {}
        self.planned_at = planned_at  # raw data newer than this was not planned for
        self._counts_conn: psycopg.AsyncConnection | None = None

    async def update_counts(self, conn: psycopg.AsyncConnection) -> dict[str, int]:
        """Item counts over every process working this backfill; then the thresholds."""
        self.counts = await ledger.state_counts(conn, self.backfill_id)
        if not self.stopping and (reason := abort_reason(self.counts, self.elapsed(), self.options)):
            self.abort(reason)
        return self.counts

    async def refresh_counts(self) -> dict[str, int]:
        """Counts for progress; after a lost connection, reconnects once and otherwise keeps
        the last counts (progress is a report, the workers decide what happens)."""
        for _ in range(2):
            if self._counts_conn is None or self._counts_conn.closed or self._counts_conn.broken:
                try:
                    self._counts_conn = await connect_async(self.target.url)
                except psycopg.OperationalError:
                    return self.counts
            try:
                return await self.update_counts(self._counts_conn)
            except psycopg.OperationalError:
                await self._counts_conn.close()
        return self.counts

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def abort(self, reason: str) -> None:
        self.stopping, self.abort_reason = True, reason
        log.warning("aborting backfill %s: %s", self.backfill_id, reason)

    async def close(self) -> None:
        if self._counts_conn is not None:
            await self._counts_conn.close()
