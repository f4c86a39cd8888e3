"""Health checks and Prometheus metrics: what `GET /health` and `GET /metrics` answer
(runner/web/app.py serves them) and what `coffee-runner health` prints. `Watch` alerts the
webhook once when health turns bad.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from runner.backfill import ledger
from runner.core.config import Config
from runner.core.errors import DatabaseUnavailable
from runner.ops import alerts, restore
from runner.store import pauses
from runner.store import raw as store
from runner.store.db import Target, coffee_home, one_row, pending_migrations
from runner.store.pool import Connections, direct

FAILURE_WINDOW = dt.timedelta(hours=24)

log = logging.getLogger(__name__)


def health(config: Config, target: Target, connections: Connections | None = None) -> dict[str, Any]:
    """Every check with ok true/false; healthy when all are ok."""
    checks: dict[str, Any] = {}
    try:
        with (connections or direct(target))() as conn:
            checks["database"] = {"ok": True, "url": target.safe_url,
                                  "server_version": conn.info.server_version}
            pending = [m.version for m in pending_migrations(conn)]
            checks["migrations"] = {"ok": not pending, "pending": pending}
            if not pending:
                checks.update(_data_checks(config, conn))
    except DatabaseUnavailable as exc:
        checks["database"] = {"ok": False, "error": str(exc)}
    checks["disk"] = _disk(config)
    return {"healthy": all(c["ok"] for c in checks.values()), "checked_at": _now().isoformat(), "checks": checks}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _data_checks(config: Config, conn: psycopg.Connection) -> dict[str, Any]:
    m = config.monitoring
    limit = dt.timedelta(hours=m.cadence_hours + m.cadence_grace_hours)
    last_ok = store.last_ok_run_at(conn)
    current = pauses.active(conn)
    roasters = {}
    for r in config.roasters:
        if not r.active:
            continue
        when = last_ok.get(r.id)
        age = (_now() - when).total_seconds() if when else None
        paused = pauses.reason_paused(current, r.id)  # a paused shop is not overdue: nobody fetches it
        roasters[r.id] = {"ok": paused is not None or (age is not None and age <= limit.total_seconds()),
                          "last_ok_run_age_seconds": round(age, 1) if age is not None else None,
                          "cadence_seconds": limit.total_seconds(), "paused": paused}
    total, failed = store.failures_since(conn, FAILURE_WINDOW)  # failures made good do not count
    rate = failed / total if total else 0.0
    stale = ledger.stale_backfills(conn, m.timeout_threshold)
    open_backfills = ledger.unfinished_backfills(conn)
    return {
        "roasters": {"ok": all(v["ok"] for v in roasters.values()), "roasters": roasters},
        "failure_rate": {"ok": rate <= m.failure_threshold, "rate_24h": round(rate, 4), "runs_24h": total,
                         "failed_24h": failed, "threshold": m.failure_threshold},
        "backfills": {"ok": stale == 0, "stale": stale, "open": open_backfills},
        "pauses": {"ok": True, "paused": [p.as_dict() for p in current]},
        "restore": _restore_check(conn),
    }


def _restore_check(conn: psycopg.Connection) -> dict[str, Any]:
    """Ok unless a restore's rebuild is pending (the marts do not show the restored data
    yet); lists the schemas restores set aside either way."""
    state = restore.state(conn)
    return {"ok": state["pending_rebuild"] is None, **state}


def _disk(config: Config) -> dict[str, Any]:
    home = coffee_home()
    existing = next(p for p in [home, *home.parents] if p.exists())
    free = shutil.disk_usage(existing).free
    return {"ok": free >= config.monitoring.min_free_disk_bytes, "path": str(home), "free_bytes": free,
            "min_free_bytes": config.monitoring.min_free_disk_bytes}


def metrics(config: Config, target: Target) -> str:
    """The Prometheus text format of one fresh report, as /metrics answers it."""
    registry = CollectorRegistry(auto_describe=False)
    families = metric_families(direct(target), health(config, target))
    registry.register(Families(lambda: families))
    return generate_latest(registry).decode("utf-8")


def metric_families(connections: Connections, report: dict[str, Any],
                    scheduler: dict[str, Any] | None = None) -> list[Metric]:
    """Health, runs, gaps, last ok run age, backfill items, pauses; under `serve`, the
    scheduler's state too."""
    return _families(connections, report) + (_scheduler_families(scheduler) if scheduler else [])


def _scheduler_families(view: dict[str, Any]) -> list[Metric]:
    roasters = view.get("roasters", {})
    next_runs = [(r, dt.datetime.fromisoformat(v["next_run_at"]).timestamp()) for r, v in roasters.items()
                 if v.get("next_run_at")]
    states = GaugeMetricFamily("coffee_scheduler_roaster_state", "1 for each roaster's state of its local today "
                               "(due, scheduled, retry_wait, done, running, paused).", labels=["roaster", "state"])
    for roaster_id, v in roasters.items():
        states.add_metric([roaster_id, v["state"]], 1.0)
    return [
        _gauge("coffee_scheduler_next_run_timestamp_seconds", "When each roaster's next scrape or retry is due.",
               "roaster", next_runs),
        states,
        _gauge("coffee_scheduler_catch_up_queue", "Open gaps of past days the last catch-up pass planned.", None,
               [(None, view.get("catch_up_queue", 0))]),
        _gauge("coffee_scheduler_batches", "Batches this service instance has run.", None,
               [(None, view.get("batches", 0))]),
    ]


class Families:
    """A prometheus_client collector: the families `make` gives at each scrape."""

    def __init__(self, make: Callable[[], list[Metric]]) -> None:
        self.make = make

    def collect(self) -> Iterator[Metric]:
        return iter(self.make())


def _gauge(name: str, help_text: str, label: str | None, samples: Sequence[tuple[Any, float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=[label] if label else None)
    for key, value in samples:
        family.add_metric([str(key)] if label else [], float(value))
    return family


def _families(connections: Connections, report: dict[str, Any]) -> list[Metric]:
    families: list[Metric] = [_gauge("coffee_healthy", "1 when every health check passes.", None,
                       [(None, 1 if report["healthy"] else 0)])]
    if not report["checks"].get("migrations", {}).get("ok"):
        return families
    with connections() as conn:
        runs = list(store.run_counts(conn).items())
        requests = store.fetch_request_counts(conn)
        gaps = []
        if one_row(conn.execute("select to_regclass('ops.gaps') is not null").fetchone())[0]:
            gaps = conn.execute("""select status, count(*) from ops.gaps where is_open_gap
                                    group by status order by 1""").fetchall()
        items = list(ledger.items_by_state(conn).items())
    roasters = report["checks"].get("roasters", {}).get("roasters", {})
    ages = [(r, v["last_ok_run_age_seconds"]) for r, v in roasters.items() if v["last_ok_run_age_seconds"] is not None]
    return [
        *families,
        _gauge("coffee_scrape_runs", "Scrape runs by status.", "status", runs),
        _requests_counter(requests),
        _gauge("coffee_gaps", "Open gaps (not complete, not acknowledged) by status, as of the last coverage build.",
               "status", gaps),
        _gauge("coffee_backfill_items", "Backfill items by state, all backfills.", "state", items),
        _paused_gauge(report["checks"].get("pauses", {}).get("paused", [])),
        _gauge("coffee_last_ok_run_age_seconds", "Seconds since each active roaster's last ok run.", "roaster", ages),
    ]


def _requests_counter(counts: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily("coffee_fetch_requests", "Live requests to shops by result: success (the page "
                                 "came), not_modified (a 304 stood for the previous capture), fail.",
                                 labels=["result"])
    for result in ("success", "not_modified", "fail"):
        family.add_metric([result], float(counts.get(result, 0)))
    return family


def _paused_gauge(paused: list[dict[str, Any]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily("coffee_paused", "1 per pause set by `coffee-runner pause` (scope * is every roaster).",
                               labels=["scope", "reason"])
    for p in paused:
        family.add_metric([p["scope"], p["reason"]], 1.0)
    return family


class Watch:
    """Remembers the last verdict; alerts once when health turns from good to bad."""

    def __init__(self, config: Config, target: Target, connections: Connections | None = None) -> None:
        self.config, self.target, self.connections = config, target, connections
        self.healthy: bool | None = None
        self._lock = threading.Lock()

    def check(self) -> dict[str, Any]:
        report = health(self.config, self.target, self.connections)
        with self._lock:
            turned_bad = report["healthy"] is False and self.healthy is not False
            self.healthy = report["healthy"]
        if turned_bad:
            failing = [name for name, c in report["checks"].items() if not c["ok"]]
            alerts.alert(self.config, "unhealthy", failing=failing, report=report)
        return report
