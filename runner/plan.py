"""Which (roaster, day)s need work, what to do for each, and how long it will take.

Coverage comes from the dbt model `ops.coverage_daily`. `gaps` and `backfill` build it
for the range (a write to derived tables only); `plan` compiles it and runs its SELECT,
so planning writes nothing at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from runner.config import Config, Roaster
from runner.db import Target, connect
from runner.dbt import range_vars, run_dbt
from runner.errors import InputError
from runner.store import mean_run_seconds, sync_roasters

STRATEGIES = ("incremental", "full", "validation")
ACTIONS = ("reparse", "refetch_live", "refetch_archive", "unrecoverable")
# Seconds per item when no earlier backfill or run says otherwise: an archive day is a
# few CDX lookups and captures at the archive's polite rate; a reparse is SQL only.
DEFAULT_ITEM_SECONDS = {"reparse": 0.05, "refetch_live": 5.0, "refetch_archive": 8.0, "unrecoverable": 0.0}
DEFAULT_DBT_SECONDS = 30.0
RECENT_BUILDS = 5  # the estimate's build time: the mean of this many last final builds
MAX_RANGE_DAYS = 3660  # ten years: a typo guard, not a limit anyone should meet

log = logging.getLogger(__name__)

Only = set[tuple[str, dt.date]]  # (roaster_id, day)s a plan is limited to


@dataclass(frozen=True)
class DayStatus:
    roaster_id: str
    day: dt.date
    status: str
    acknowledged: bool = False
    reason: str | None = None  # why the day is not complete (coverage_daily.reason)
    is_open_gap: bool = False  # coverage_daily.is_open_gap: not complete, not acknowledged


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


def check_range(start: dt.date, end: dt.date) -> None:
    if start > end:
        raise InputError(f"--start {start} is after --end {end}")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise InputError(f"range {start}..{end} is longer than {MAX_RANGE_DAYS} days")


# --- coverage ----------------------------------------------------------------------------

COVERAGE_COLUMNS = "roaster_id, day, status, acknowledged, reason, is_open_gap"


def coverage(target: Target, start: dt.date, end: dt.date, roasters: list[Roaster], *,
             materialize: bool, preview: Config | None = None, built: bool = False) -> list[DayStatus]:
    """Day statuses in [start, end] for these roasters, from the dbt coverage model.

    materialize=True runs the model for this range first. materialize=False computes them
    without writing anything; `preview` then shows the configured roasters as registered
    (a first `plan` before any fetch sees every day). built=True reads the table as it
    is: the caller's own `dbt build` of exactly this range and these roasters just ran it."""
    ids = [r.id for r in roasters]
    variables = range_vars(start.isoformat(), end.isoformat(), ids)
    ensure_built(target)
    if built:
        sql = f"select {COVERAGE_COLUMNS} from ops.coverage_daily"
    elif materialize:
        _dbt_or_fail(target, ["run", "--select", "coverage_daily", "gaps"], variables)
        sql = f"select {COVERAGE_COLUMNS} from ops.coverage_daily"
    else:
        sql = f"select {COVERAGE_COLUMNS} from ({_compiled_coverage(target, variables)}) as coverage"
    query = sql + " where day between %s and %s and roaster_id = any(%s) order by day, roaster_id"
    with connect(target) as conn, conn.transaction(force_rollback=True):
        if preview is not None:  # roasters as a writing command would register them, then rolled back
            sync_roasters(conn, preview)
        rows = conn.execute(query, (start, end, ids)).fetchall()
    return [DayStatus(*row) for row in rows]


def _compiled_coverage(target: Target, variables: dict[str, Any]) -> str:
    """The coverage model's SELECT, compiled by dbt but not run into a table."""
    result = _dbt_or_fail(target, ["compile", "--select", "coverage_daily", "--quiet"], variables)
    path = _compiled_path(result.target_path, "models/ops/coverage_daily.sql")
    return path.read_text(encoding="utf-8")


def ensure_built(target: Target) -> None:
    """Coverage reads the marts: on a database where dbt never ran, build them all once.
    A coverage table built before a column this module reads existed is rebuilt whole
    (it is derived; the model's on_schema_change='fail' would stop every later build)."""
    with connect(target) as conn:
        built = conn.execute("select to_regclass('ops.gaps') is not null and to_regclass('marts.products') "
                             "is not null").fetchone()[0]
        have = {row[0] for row in conn.execute(
            """select column_name from information_schema.columns
                where table_schema = 'ops' and table_name = 'coverage_daily'""").fetchall()}
    if not built:
        log.info("derived tables do not exist yet: building them once")
        _dbt_or_fail(target, ["seed"], {})  # reference data (currencies) the models read
        _dbt_or_fail(target, ["run"], {})
    elif missing := [c for c in COVERAGE_COLUMNS.split(", ") if c not in have]:
        log.info("ops.coverage_daily lacks %s (built by an earlier version): rebuilding it", ", ".join(missing))
        _dbt_or_fail(target, ["run", "--full-refresh", "--select", "coverage_daily+"], {})


def _compiled_path(target_path: Path, model: str) -> Path:
    return target_path / "compiled" / "coffee" / model


def _dbt_or_fail(target: Target, args: list[str], variables: dict[str, Any]):
    result = run_dbt(target, args, variables)
    if not result.ok:
        tail = [line for line in result.output.strip().splitlines() if line.strip()][-3:]
        raise InputError(f"dbt {' '.join(args)} failed: {' | '.join(tail)}")
    return result


# --- actions -------------------------------------------------------------------------------

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
               roasters: list[Roaster], *, materialize: bool, only: Only | None = None) -> Plan:
    """The plan for [start, end]. `only`: just these (roaster, day)s (the days a code version
    built: `--built-by`), each reparsed at least, even when it is complete."""
    if strategy not in STRATEGIES:
        raise InputError(f"--strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    check_range(start, end)
    by_id = {r.id: r for r in roasters}
    plan = Plan(strategy, start, end, [r.id for r in roasters])
    days = coverage(target, start, end, roasters, materialize=materialize,
                    preview=None if materialize else config)
    plan.gaps = sum(1 for d in days if d.is_open_gap)
    for d in days:
        if only is not None and (d.roaster_id, d.day) not in only:
            continue
        if d.acknowledged and d.status != "complete" and strategy != "validation":
            continue  # an operator said nothing can fill it
        action = action_for(d.status, d.day, by_id[d.roaster_id], strategy)
        if action is None and only is not None:
            action = "reparse"  # complete now, but the operator named the code that built it
        if action is not None:
            plan.items.append(PlanItem(d.roaster_id, d.day, d.status, action, d.reason))
    with connect(target) as conn:
        plan.estimate_seconds = estimate_seconds(conn, plan.items, concurrency=1)
    return plan


def estimate_seconds(conn: psycopg.Connection, items: list[PlanItem], concurrency: int) -> float:
    """The estimate from this database's history (see `estimate`)."""
    from runner.backfill import ledger  # the ledger records plans, so it imports this module

    measured = {("refetch_live" if kind == "live" else "refetch_archive"): seconds
                for kind, seconds in mean_run_seconds(conn).items()}
    measured.update(ledger.mean_item_seconds(conn))
    return estimate(items, concurrency, measured, ledger.mean_build_seconds(conn, RECENT_BUILDS))


def estimate(items: list[PlanItem], concurrency: int, item_seconds: dict[str, float],
             dbt_seconds: float | None) -> float:
    """Seconds a backfill of `items` takes: each action's measured time (from earlier
    backfills, else earlier runs, else DEFAULT_ITEM_SECONDS) spread over the workers, plus
    one dbt build (the mean of the last ones, else DEFAULT_DBT_SECONDS). Nothing to do: 0."""
    if not items:
        return 0.0
    per_item = {**DEFAULT_ITEM_SECONDS, **item_seconds}
    work = sum(per_item[i.action] for i in items) / max(1, concurrency)
    return work + (DEFAULT_DBT_SECONDS if dbt_seconds is None else dbt_seconds)
