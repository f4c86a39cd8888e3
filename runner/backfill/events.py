"""What a backfill reports: events, through the runner's log pipeline (runner.core.logs:
JSON lines in the log file, and on stderr under COFFEE_LOG_FORMAT=json), and progress
snapshots for whoever shows them (the CLI draws a bar or writes log lines)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

events = logging.getLogger("runner.events")
TERMINAL_STATES = ("done", "failed", "skipped", "unrecoverable")  # an item in one of these is finished


class EventLog:
    """What happened, to what: one log record per event, its fields beside the bound ones."""

    def write(self, event: str, **fields: Any) -> None:
        events.info(event, extra={"event": event, "fields": fields})


def event_log() -> EventLog:
    return EventLog()



def finished_count(counts: dict[str, int]) -> int:
    """Items in a terminal state, from a count per state."""
    return sum(counts.get(s, 0) for s in TERMINAL_STATES)

@dataclass(frozen=True)
class Progress:
    """Item counts over every process working a backfill, as one process sees them."""

    backfill_id: str
    counts: dict[str, int]
    elapsed_seconds: float

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return finished_count(self.counts)

    @property
    def rate(self) -> float:
        """Finished items per second since this process started."""
        return self.finished / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float:
        return (self.total - self.finished) / self.rate if self.rate > 0 else float("nan")


ProgressHandler = Callable[[Progress], None]
