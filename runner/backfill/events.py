"""What a backfill reports: events as JSON lines in $COFFEE_HOME/logs/backfill.log, and
progress snapshots for whoever shows them (the CLI draws a bar or writes log lines)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.store.db import coffee_home

TERMINAL_STATES = ("done", "failed", "skipped", "unrecoverable")  # an item in one of these is finished


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
