"""Backfills: plan, record the plan as a checkpoint ledger, work it, rebuild, verify.

    plan.py     which (roaster, day)s need work and what to do for each; the estimate
    estimate.py seconds a plan takes, from measured times, else defaults
    ledger.py   control.backfills and control.backfill_items: the plan as rows, claims,
                item states, counts, the stored summary, the options and their limits
    worker.py   one item at a time: fetch (live or archive), then run + artifacts +
                item state in one transaction; reconnects after a lost connection
    context.py  what one process's workers share; the abort thresholds
    engine.py   start, resume or join; the workers of this process; the final dbt
                build and the gaps left
    events.py   the event log (JSON lines) and the progress snapshots the CLI draws

Safety rests on three mechanisms: the ledger is written in one transaction before any
work starts; a worker claims items `FOR UPDATE SKIP LOCKED` and holds a session advisory
lock on the unit (roaster, day) for as long as its connection lives; and an item's run,
artifacts and new state are committed together.

May import `core`, `store`, `acquire`, `transform` and `ops` (alerts).
"""

from runner.backfill.context import abort_reason
from runner.backfill.engine import finalize, resume_backfill, start_backfill, work
from runner.backfill.events import Progress, event_log
from runner.backfill.ledger import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_FAILURE_RATE,
    DEFAULT_TIMEOUT_SECONDS,
    Options,
    Summary,
    record_plan,
)

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_MAX_FAILURE_RATE", "DEFAULT_TIMEOUT_SECONDS", "Options", "Progress",
           "Summary", "abort_reason", "event_log", "finalize", "record_plan", "resume_backfill", "start_backfill",
           "work"]
