"""Day statuses per (roaster, day), read from the dbt model `ops.coverage_daily`.

`gaps` and `backfill` build the model for the range (a write to derived tables only);
`plan` compiles it and runs its SELECT, so planning writes nothing at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.core.config import Config, Roaster
from runner.core.errors import InputError
from runner.store.db import Target, connect, one_row
from runner.store.roasters import sync_roasters
from runner.transform.dbt_runner import DbtResult, range_vars, run_dbt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DayStatus:
    roaster_id: str
    day: dt.date
    status: str
    acknowledged: bool = False
    reason: str | None = None  # why the day is not complete (coverage_daily.reason)
    is_open_gap: bool = False  # coverage_daily.is_open_gap: not complete, not acknowledged


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
        built = one_row(conn.execute("select to_regclass('ops.gaps') is not null and to_regclass('marts.products') "
                             "is not null").fetchone())[0]
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


def _dbt_or_fail(target: Target, args: list[str], variables: dict[str, Any]) -> DbtResult:
    result = run_dbt(target, args, variables)
    if not result.ok:
        tail = [line for line in result.output.strip().splitlines() if line.strip()][-3:]
        raise InputError(f"dbt {' '.join(args)} failed: {' | '.join(tail)}")
    return result
