"""Operations: the runbook's assessment, verification and gap acknowledgement."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from runner.core import clock
from runner.core.clock import check_range
from runner.core.config import Config, Roaster
from runner.core.errors import InputError
from runner.ops import alerts, restore
from runner.store import raw as store
from runner.store.db import Target, coffee_home, connect, one_row
from runner.transform.coverage import DayStatus, coverage
from runner.transform.dbt_runner import DbtResult, range_vars, run_dbt

DEFAULT_ASSESS_DAYS = 30
LATEST_RUNS = 10

# The runbook's integrity checks are dbt tests (models/marts/_marts__models.yml and
# tests/*.sql), their one definition; `verify` runs them and reports each one's failing
# rows from dbt's results. The names are verify's; the values start the tests' node ids.
INTEGRITY_TESTS = {
    "prices_without_variant": "test.coffee.integrity_prices_without_variant.",
    "variants_without_roaster": "test.coffee.integrity_variants_without_roaster.",
    "artifacts_without_run": "test.coffee.integrity_artifacts_without_run.",
    "prices_from_invalid_artifacts": "test.coffee.assert_prices_follow_from_valid_artifacts",
}


def failing_rows(result: DbtResult, node_prefix: str) -> int:
    """Failing rows of the dbt tests whose node id starts with `node_prefix` (a passing test has none)."""
    return sum(int(f["failures"] or 0) for f in result.failures if str(f["node"]).startswith(node_prefix))


def integrity_counts(result: DbtResult) -> dict[str, int]:
    """Failing rows per integrity check, from a `dbt test` run."""
    return {name: failing_rows(result, prefix) for name, prefix in INTEGRITY_TESTS.items()}


def default_range(start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    today = clock.now().date()
    if (start is None) != (end is None):
        raise InputError("--start and --end go together")
    return (start, end) if start and end else (today - dt.timedelta(days=DEFAULT_ASSESS_DAYS - 1), today)


def assess(config: Config, target: Target, start: dt.date, end: dt.date, roasters: list[Roaster]) -> dict[str, Any]:
    """The pre-backfill assessment in one report."""
    check_range(start, end)
    ids = [r.id for r in roasters]
    days = coverage(target, start, end, roasters, materialize=True)
    report: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat(), "roasters": ids}
    with connect(target) as conn:
        report["counts"] = {
            **store.row_counts(conn, ids),
            "variants": _one(conn, "select count(*) from marts.variants where roaster_id = any(%s)", ids),
            "prices": _one(conn, "select count(*) from marts.prices where roaster_id = any(%s)", ids),
        }
        report["runs_by_status"] = store.run_counts(conn, ids)
        report["artifacts_by_validation"] = dict(conn.execute(
            """select validation_status, count(*) from marts.scrape_artifacts where roaster_id = any(%s)
                group by validation_status order by 1""", (ids,)).fetchall())
        report["latest_runs"] = [_run_row(r) for r in store.latest_runs(conn, ids, LATEST_RUNS)]
        first_last = store.run_day_span(conn, ids)
        report["disk"] = disk_report(target, conn)
        report["restore"] = restore.state(conn)
    report["per_roaster"] = {r.id: _roaster_coverage([d for d in days if d.roaster_id == r.id],
                                                     first_last.get(r.id, (None, None))) for r in roasters}
    report["gaps"] = sum(1 for d in days if d.is_open_gap)
    return report


def _run_row(r: tuple[Any, ...]) -> dict[str, Any]:
    return {"id": str(r[0]), "roaster_id": r[1], "kind": r[2], "status": r[3],
            "day": r[4].isoformat() if r[4] else None, "created_at": r[5].isoformat(), "error": r[6]}


def _roaster_coverage(days: list[DayStatus], first_last: tuple[dt.date | None, dt.date | None]) -> dict[str, Any]:
    statuses = Counter(d.status for d in days)
    first, last = first_last
    return {"first_day": first.isoformat() if first else None, "last_day": last.isoformat() if last else None,
            "coverage": dict(sorted(statuses.items())),
            "complete_share": round(statuses.get("complete", 0) / max(1, sum(statuses.values())), 3)}


def _one(conn: psycopg.Connection, sql: str, *params: Any) -> int:
    return int(one_row(conn.execute(sql, params).fetchone())[0])


def disk_report(target: Target, conn: psycopg.Connection) -> dict[str, Any]:
    """Free space where the data lives, and the database's own size."""
    places = {"coffee_home": coffee_home()}
    if target.embedded:
        places["database"] = coffee_home() / "pg"
    report: dict[str, Any] = {}
    for name, path in places.items():
        existing = next((p for p in [Path(path), *Path(path).parents] if p.exists()), Path("/"))
        usage = shutil.disk_usage(existing)
        report[name] = {"path": str(path), "free_bytes": usage.free, "total_bytes": usage.total}
    report["database_bytes"] = _one(conn, "select pg_database_size(current_database())")
    return report


def verify(config: Config, target: Target, start: dt.date, end: dt.date, roasters: list[Roaster]) -> dict[str, Any]:
    """dbt tests for the range, the runbook's integrity queries, coverage.

    Unacknowledged gaps fail verify through `gaps` below, so dbt's no_gaps test runs at its
    default severity (warn): passing strict_gaps would change --vars and cost dbt a full
    re-parse.
    """
    check_range(start, end)
    ids = [r.id for r in roasters]
    days = coverage(target, start, end, roasters, materialize=True)
    variables = range_vars(start.isoformat(), end.isoformat(), ids)
    shapes = run_dbt(target, ["run", "--select", "page_shapes", "shape_drift"], variables)
    result = run_dbt(target, ["test"], variables)
    integrity = integrity_counts(result)
    drift = shape_drift(target, start, end, ids) if shapes.ok else []
    for row in drift:
        alerts.alert(config, "shape_drift", **row)
    gaps = [{"roaster_id": d.roaster_id, "day": d.day.isoformat(), "status": d.status}
            for d in days if d.is_open_gap]
    acknowledged = len([d for d in days if d.status != "complete" and d.acknowledged])
    ok = all((result.ok, shapes.ok, not any(integrity.values()), not gaps))
    return {"start": start.isoformat(), "end": end.isoformat(), "ok": ok, "dbt": result.as_dict(),
            "shape_drift": drift,
            "integrity": integrity, "coverage": dict(Counter(d.status for d in days)), "gaps": gaps,
            "acknowledged_gaps": acknowledged, "rejected_items": rejected_summary(target, start, end, ids, result)}


def shape_drift(target: Target, start: dt.date, end: dt.date, ids: list[str]) -> list[dict[str, Any]]:
    """The (roaster, day)s whose pages changed shape (ops.shape_drift, warned by the dbt test
    assert_no_shape_drift): which usual keys they lost, which top-level keys they gained."""
    with connect(target) as conn:
        rows = conn.execute("""select roaster_id, day, lost_keys, gained_keys from ops.shape_drift
                                where day between %s and %s and roaster_id = any(%s)
                                order by roaster_id, day""", (start, end, ids)).fetchall()
    return [{"roaster_id": r, "day": d.isoformat(), "lost_keys": lost, "gained_keys": gained}
            for r, d, lost, gained in rows]


def rejected_summary(target: Target, start: dt.date, end: dt.date, ids: list[str], result: DbtResult) -> dict[str, Any]:
    """Offers left out of prices one by one (their pages stay valid), by reason, and the
    (roaster, day)s whose share of them is far above the roaster's usual (the dbt test
    assert_rejected_share_is_usual, a warning: a parser break or a shop's format change)."""
    with connect(target) as conn:
        rows = conn.execute("""select reason, count(*) from marts.rejected_items
                                where day between %s and %s and roaster_id = any(%s)
                                group by reason order by reason""", (start, end, ids)).fetchall()
    unusual = failing_rows(result, "test.coffee.assert_rejected_share_is_usual")
    return {"total": sum(n for _, n in rows), "by_reason": dict(rows), "unusual_days": unusual}


def acknowledge(target: Target, roaster: Roaster, start: dt.date, end: dt.date, reason: str) -> dict[str, Any]:
    """Record that nothing can fill these days, so the no_gaps test passes honestly."""
    check_range(start, end)
    reason = reason.strip()
    if not reason:
        raise InputError("--reason must say why these days cannot be filled")
    with connect(target) as conn, conn.transaction():
        conn.execute(
            """insert into control.acknowledged_gaps (roaster_id, start_day, end_day, reason)
               values (%s, %s, %s, %s)
               on conflict (roaster_id, start_day, end_day) do update
                   set reason = excluded.reason, acknowledged_at = now()""",
            (roaster.id, start, end, reason))
    return {"roaster_id": roaster.id, "start": start.isoformat(), "end": end.isoformat(), "reason": reason}


def gaps(target: Target, start: dt.date, end: dt.date, roasters: list[Roaster]) -> dict[str, Any]:
    """Every (roaster, day) in the range that is not complete (coverage built for the range)."""
    check_range(start, end)
    found = [d for d in coverage(target, start, end, roasters, materialize=True) if d.status != "complete"]
    return {"start": start.isoformat(), "end": end.isoformat(),
            "gaps": [{"roaster_id": d.roaster_id, "day": d.day.isoformat(), "status": d.status,
                      "acknowledged": d.acknowledged, "reason": d.reason}
                     for d in found],
            "counts": dict(sorted(Counter(d.status for d in found).items())),
            "open": sum(1 for d in found if d.is_open_gap)}
