"""Which (roaster, day)s need work, what to do for each, and how long it will take.

The day statuses come from `runner.transform.coverage`; the time from
`runner.backfill.estimate`, computed here once per plan.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from runner.backfill.estimate import estimate_seconds
from runner.core.clock import check_range
from runner.core.config import Config, Roaster
from runner.core.errors import InputError
from runner.store.db import Target, connect
from runner.transform import provenance
from runner.transform.bootstrap import prepared
from runner.transform.coverage import DayStatus, coverage
from runner.transform.provenance import VersionFilter

STRATEGIES = ("incremental", "full", "validation")
ACTIONS = ("reparse", "refetch_live", "refetch_archive", "unrecoverable")

log = logging.getLogger(__name__)

Only = set[tuple[str, dt.date]]  # (roaster_id, day)s a plan is limited to


@dataclass(frozen=True)
class PlanItem:
    roaster_id: str
    day: dt.date
    status: str
    action: str
    reason: str | None = None  # coverage_daily.reason (a stale day: which code built it)


@dataclass
class Plan:
    strategy: str
    start: dt.date
    end: dt.date
    roasters: list[str]
    items: list[PlanItem] = field(default_factory=list)
    estimate_seconds: float = 0.0
    gaps: int = 0
    origin: str = "cli"  # "service": a batch of the scraper service
    owner: str | None = None  # the service instance running it

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(i.action for i in self.items))

    def as_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "roasters": self.roasters, "items": [{**asdict(i), "day": i.day.isoformat()} for i in self.items],
                "counts": self.counts, "gaps": self.gaps, "estimate_seconds": round(self.estimate_seconds, 1)}


def action_for(status: str, day: dt.date, roaster: Roaster, strategy: str,
               now: dt.datetime | None = None) -> str | None:
    """What a backfill does for one (roaster, day); None when it leaves the day alone."""
    if strategy == "validation":
        return "reparse"  # re-validate and test: rebuild from raw, never fetch
    if status == "complete":
        return "reparse" if strategy == "full" else None
    if status in ("unprocessed", "stale"):
        return "reparse"  # raw is enough
    today = roaster.today(now)
    if day == today:
        return "refetch_live"
    if day < today and roaster.archive:
        return "refetch_archive"
    return "unrecoverable"


def build_plan(config: Config, target: Target, strategy: str, start: dt.date, end: dt.date,
               roasters: list[Roaster], *, materialize: bool, only: Only | None = None,
               concurrency: int = 1) -> Plan:
    """The plan for [start, end] and its estimate for `concurrency` workers. `only`: just
    these (roaster, day)s (the days a code version built: `--built-by`), each reparsed at
    least, even when it is complete."""
    if strategy not in STRATEGIES:
        raise InputError(f"--strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    check_range(start, end)
    by_id = {r.id: r for r in roasters}
    plan = Plan(strategy, start, end, [r.id for r in roasters])
    days = coverage(target, start, end, roasters, materialize=materialize,
                    preview=None if materialize else config)
    plan.gaps = sum(1 for d in days if d.is_open_gap)
    plan.items = [item for d in days if (item := _item(d, by_id[d.roaster_id], strategy, only)) is not None]
    with connect(target) as conn:
        plan.estimate_seconds = estimate_seconds(conn, [i.action for i in plan.items], concurrency)
    return plan


def _item(d: DayStatus, roaster: Roaster, strategy: str, only: Only | None) -> PlanItem | None:
    """One day's item of the plan, or None when the plan leaves the day alone."""
    if only is not None and (d.roaster_id, d.day) not in only:
        return None
    if d.acknowledged and d.status != "complete" and strategy != "validation":
        return None  # an operator said nothing can fill it
    action = action_for(d.status, d.day, roaster, strategy)
    if action is None and only is not None:
        action = "reparse"  # complete now, but the operator named the code that built it
    return PlanItem(d.roaster_id, d.day, d.status, action, d.reason) if action is not None else None


def planned_days(config: Config, target: Target, roasters: list[Roaster], start: dt.date | None,
                 end: dt.date | None, wanted: VersionFilter | None) -> tuple[dt.date, dt.date, Only | None]:
    """The range and, with a version filter, the (roaster, day)s a plan covers. No range:
    the version's days, else every day of the roasters' calendars."""
    if (start is None) != (end is None):
        raise InputError("give both --start and --end, or neither")
    with prepared(config, target) as conn:
        only = None
        if wanted is not None:
            only = provenance.days_built(conn, provenance.resolve(conn, wanted), [r.id for r in roasters])
        if start is None or end is None:
            if only:
                start, end = min(day for _, day in only), max(day for _, day in only)
            else:
                start, end = provenance.calendar_range(conn, roasters)
    check_range(start, end)
    return start, end, only


def preview_plan(config: Config, target: Target, strategy: str, start: dt.date | None, end: dt.date | None,
                 roasters: list[Roaster], concurrency: int, wanted: VersionFilter | None = None) -> Plan:
    """`plan` and `backfill --dry-run`: the plan and its estimate, nothing written."""
    first, last, only = planned_days(config, target, roasters, start, end, wanted)
    return build_plan(config, target, strategy, first, last, roasters, materialize=False, only=only,
                      concurrency=concurrency)
