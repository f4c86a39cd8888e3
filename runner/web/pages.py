"""Each dashboard page's data: a plain dict, rendered as HTML or answered as JSON.

The functions read through `queries` and the rules the commands use (`cells` for a
cell's status, `plan.action_for` for what a backfill would do, the engine's failure
counting); they never write.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from runner.backfill.events import finished_count
from runner.backfill.plan import action_for
from runner.core import clock
from runner.core.config import Config, Roaster
from runner.core.errors import PageNotFound
from runner.store import pauses
from runner.store import raw as store
from runner.web import queries
from runner.web.cells import BY_NAME, STATUSES, Cell, display_status, fill
from runner.web.params import Query


def _paused_since(conn: psycopg.Connection, roasters: list[Roaster]) -> dict[str, tuple[dt.date, str]]:
    """Each paused roaster's local day of its pause (its own, else the global one) and why."""
    by_scope = {p.scope: p for p in pauses.active(conn)}
    found = {}
    for r in roasters:
        p = by_scope.get(r.id) or by_scope.get(pauses.ALL)
        if p is not None:
            found[r.id] = (p.paused_at.astimezone(ZoneInfo(r.timezone)).date(), p.reason)
    return found


def heatmap(config: Config, conn: psycopg.Connection, q: Query) -> dict[str, Any]:
    """`/`: every (roaster, day) cell of the range, totals per status, per roaster its open
    gaps and last ok run. A day outside a roaster's calendar (before its first day, after
    its today) has no cell (null)."""
    now = clock.now()
    days = [q.start + dt.timedelta(days=i) for i in range((q.end - q.start).days + 1)]
    built = queries.is_built(conn)
    rows = queries.coverage_rows(conn, q.start, q.end, [r.id for r in q.roasters]) if built else []
    paused = _paused_since(conn, q.roasters)
    last_ok = store.last_ok_run_at(conn)
    roasters = {r.id: r for r in q.roasters}
    todays = {r.id: r.today(now) for r in q.roasters}
    by_roaster: dict[str, dict[dt.date, Cell]] = defaultdict(dict)
    for row in rows:
        cell = _cell(config, roasters[row[0]], row, todays[row[0]], paused.get(row[0]), now)
        by_roaster[cell.roaster_id][cell.day] = cell
    totals = Counter(c.status for cells in by_roaster.values() for c in cells.values())
    return {
        "page": "heatmap", "start": q.start, "end": q.end, "now": now, "built": built, "days": days,
        "statuses": _legend(totals),
        "roasters": [_roaster_row(r, by_roaster[r.id], days, last_ok.get(r.id), paused.get(r.id)) for r in q.roasters],
    }


def _legend(totals: Counter[str]) -> list[dict[str, Any]]:
    return [{"name": s.name, "code": s.code, "colour": s.colour, "meaning": s.meaning,
             "count": totals.get(s.name, 0)} for s in STATUSES]


def _cell(config: Config, roaster: Roaster, row: tuple[Any, ...], today: dt.date,
          paused: tuple[dt.date, str] | None, now: dt.datetime) -> Cell:
    """One heatmap cell from its coverage row: the status shown (paused, not yet due...) and why."""
    rid, day, status, ack, reason, rows_, pages, open_gap, usual_rows, usual_pages = row
    due = config.due_at(roaster, day) if status == "missing" and day == today else None
    shown = status if status == "complete" else display_status(status, ack, day, paused and paused[0], due, now)
    if shown == "paused" and paused is not None:
        reason = paused[1]
    elif shown == "not_yet_due" and due is not None:
        reason = f"scheduled at {due.isoformat(timespec='minutes')}"
    return Cell(rid, day, shown, status, reason or "", fill(status, rows_, pages, usual_rows, usual_pages), open_gap)


def _roaster_row(r: Roaster, cells: dict[dt.date, Cell], days: list[dt.date], last_ok: dt.datetime | None,
                 paused: tuple[dt.date, str] | None) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "timezone": r.timezone,
            "open_gaps": sum(c.is_open_gap for c in cells.values()), "last_ok_run": last_ok,
            "paused": paused[1] if paused else None, "cells": [cells.get(d) for d in days]}


def repair_command(roaster_id: str, day: dt.date, action: str | None) -> str | None:
    """The exact command that repairs one (roaster, day), as an operator would type it."""
    if action is None:
        return None
    span = f"--roaster {roaster_id} --start {day} --end {day}"
    if action == "unrecoverable":
        return f"coffee-runner gaps --acknowledge {span} --reason 'not archived'"
    return f"coffee-runner backfill {span}"


def day_page(config: Config, conn: psycopg.Connection, roaster: Roaster, day: dt.date) -> dict[str, Any]:
    """`/day/<roaster>/<date>`: its status and reason, every run with its artifacts and
    rejected items, the action a plan would take and the command that repairs it."""
    coverage = queries.day_coverage(conn, roaster.id, day) if queries.is_built(conn) else None
    if coverage is None:
        raise PageNotFound(f"no coverage row for {roaster.id} on {day} (outside its calendar, or not built yet)")
    now = clock.now()
    paused = _paused_since(conn, [roaster]).get(roaster.id)
    due = config.due_at(roaster, day) if day == roaster.today(now) else None
    shown = display_status(coverage["status"], coverage["acknowledged"], day, paused[0] if paused else None,
                           due, now)
    action = None if coverage["acknowledged"] else action_for(coverage["status"], day, roaster, "incremental", now)
    runs = _runs_with_artifacts(conn, roaster, day)
    return {"page": "day", "roaster": {"id": roaster.id, "name": roaster.name, "timezone": roaster.timezone},
            "day": day, "status": shown, "colour": BY_NAME[shown].colour, "coverage": coverage,
            "paused": paused[1] if paused else None, "due_at": due if shown == "not_yet_due" else None,
            "action": action, "command": repair_command(roaster.id, day, action), "runs": runs}


def _runs_with_artifacts(conn: psycopg.Connection, roaster: Roaster, day: dt.date) -> list[dict[str, Any]]:
    """The day's runs, each with its artifacts and rejected items."""
    runs = queries.day_runs(conn, roaster.id, day)
    ids = [r["id"] for r in runs]
    artifacts, rejected = queries.day_artifacts(conn, ids), queries.day_rejected(conn, ids)
    for run in runs:
        run["artifacts"] = [a for a in artifacts if a["run_id"] == run["id"]]
        run["rejected"] = [x for x in rejected if x["run_id"] == run["id"]]
    return runs


def progress(b: dict[str, Any]) -> dict[str, Any]:
    """A backfill's progress: share finished, rate, ETA, failure rate against its threshold
    (the engine's counting: failed over finished items)."""
    items, total = b["items"], b["total"]
    finished = finished_count(items)
    ended = b["finished_at"] or b["read_at"]
    elapsed = max(0.0, (ended - b["created_at"]).total_seconds())
    rate = finished / elapsed if elapsed > 0 else 0.0
    running = b["status"] == "running"
    return {"finished": finished, "total": total, "share": finished / total if total else 1.0,
            "elapsed_seconds": round(elapsed, 1), "items_per_second": round(rate, 3),
            "eta_seconds": round((total - finished) / rate, 1) if running and rate > 0 else None,
            "failure_rate": items.get("failed", 0) / finished if finished else 0.0,
            "max_failure_rate": b["max_failure_rate"]}


def backfills_page(conn: psycopg.Connection) -> dict[str, Any]:
    rows = queries.backfills(conn)
    return {"page": "backfills", "now": clock.now(), "backfills": [{**b, "progress": progress(b)} for b in rows]}


def backfill_page(conn: psycopg.Connection, backfill_id: str) -> dict[str, Any]:
    b = queries.backfill(conn, backfill_id)
    if b is None:
        raise PageNotFound(f"no backfill {backfill_id}")
    return {"page": "backfill", "now": clock.now(), "backfill": {**b, "progress": progress(b)},
            "items": queries.backfill_items(conn, backfill_id)}


def roaster_page(config: Config, conn: psycopg.Connection, roaster: Roaster, q: Query) -> dict[str, Any]:
    """`/roasters/<id>`: price history per variant, stock-outs and sales, the gap days."""
    points = queries.price_history(conn, roaster.id, q.start, q.end)
    series: dict[str, dict[str, Any]] = {}
    for p in points:
        s = series.setdefault(p["variant_id"], {"variant_id": p["variant_id"], "currency": p["currency"],
                                                "title": f"{p['product_title']} / {p['variant_title']}",
                                                "points": []})
        s["points"].append({k: p[k] for k in ("day", "price", "compare_at_price", "is_sale", "in_stock")})
    heat = heatmap(config, conn, Query(q.start, q.end, [roaster], q.format))
    gaps = [c for c in heat["roasters"][0]["cells"] if c is not None and c.status != "complete"]
    return {"page": "roaster", "roaster": {"id": roaster.id, "name": roaster.name, "timezone": roaster.timezone,
                                           "currency": roaster.currency},
            "start": q.start, "end": q.end, "series": list(series.values()),
            "gaps": [{"day": c.day, "status": c.status, "reason": c.reason} for c in gaps]}
