"""Health, metrics and alerts over real HTTP."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from runner.core.config import parse_config
from runner.sandbox.simulator import Fault, Simulator
from runner.service.run import serve_web
from runner.store.db import Target
from runner.store.pool import direct
from tests.runner.helpers import run_cli, sim_config


class Webhook:
    """A local server that records every JSON alert POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def _with_monitoring(path, **monitoring):
    doc = yaml.safe_load(path.read_text())
    doc.setdefault("monitoring", {}).update(monitoring)
    path.write_text(yaml.safe_dump(doc))
    return parse_config(path.read_text(), path)


def _health(path) -> tuple[int, dict]:
    result = run_cli("--config", str(path), "health", "--json")
    return result.exit_code, json.loads(result.stdout)


def test_unhealthy_on_missed_cadence_and_failure_rate_then_healthy_after_backfill(tmp_path, db):
    with Simulator(faults=[Fault("429", shop="blue-peak")]) as sim:
        path, config = sim_config(sim, tmp_path, max_attempts=2)
        run_cli("--config", str(path), "fetch")
        code, report = _health(path)
        assert code == 1 and not report["healthy"]
        checks = report["checks"]
        assert not checks["roasters"]["ok"] and not checks["roasters"]["roasters"]["blue-peak"]["ok"]
        assert checks["roasters"]["roasters"]["aurora-beans"]["ok"]
        assert not checks["failure_rate"]["ok"] and checks["failure_rate"]["rate_24h"] == 0.25
        assert checks["database"]["ok"] and checks["migrations"]["ok"] and checks["disk"]["ok"]
        sim.set_faults([])
        today = config.roaster("blue-peak").today()
        backfill = run_cli("--config", str(path), "backfill", "--start", str(today), "--end", str(today),
                           "--roaster", "blue-peak")
        assert backfill.exit_code == 0, backfill.output[-2000:]
        code, report = _health(path)
        assert code == 0 and report["healthy"], report
        # a cadence shorter than the age of the last ok run: stale again
        _with_monitoring(path, cadence_hours=0, cadence_grace_hours=0)
        code, report = _health(path)
        assert code == 1 and not report["checks"]["roasters"]["ok"]


def test_health_and_metrics_over_http_and_one_alert_when_turning_unhealthy(tmp_path, db_url, webhook):
    with Simulator() as sim:
        path, _ = sim_config(sim, tmp_path)
        run_cli("--config", str(path), "fetch")
        config = _with_monitoring(path, alert_webhook=webhook.url, progress_check_interval=3600)
        target = Target(db_url, False)
        with serve_web(config, target, "127.0.0.1", 0, threading.Event(), direct(target)) as base:
            healthy = httpx.get(f"{base}/health", timeout=30)
            assert healthy.status_code == 200 and healthy.json()["healthy"]
            metrics = httpx.get(f"{base}/metrics", timeout=30)
            assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
            text = metrics.text
            assert 'coffee_scrape_runs{status="ok"} 4' in text and "coffee_healthy 1" in text
            assert 'coffee_last_ok_run_age_seconds{roaster="cedar-roast"}' in text
            assert "# TYPE coffee_backfill_items gauge" in text
            parsed = {f.name: f for f in text_string_to_metric_families(text)}  # a scraper can read it
            assert {"coffee_healthy", "coffee_scrape_runs", "coffee_gaps", "coffee_backfill_items",
                    "coffee_last_ok_run_age_seconds"} <= set(parsed)
            assert sum(s.value for s in parsed["coffee_scrape_runs"].samples) == 4
            assert webhook.received == []
            # the roasters now miss a zero-hour cadence: 503, and one alert however often it is asked
            config.monitoring.__dict__["cadence_hours"] = 0
            config.monitoring.__dict__["cadence_grace_hours"] = 0
            for _ in range(3):
                assert httpx.get(f"{base}/health", timeout=30).status_code == 503
            from runner.ops import alerts

            alerts.flush()
    assert [a["event"] for a in webhook.received] == ["unhealthy"]
    assert webhook.received[0]["failing"] == ["roasters"]


def test_webhook_receives_one_alert_per_abort(tmp_path, db, webhook):
    with Simulator(archive_coverage=1.0, faults=[Fault("latency", resource="archive", arg=0.5)]) as sim:
        path, config = sim_config(sim, tmp_path)
        _with_monitoring(path, alert_webhook=webhook.url)
        today = config.roaster("aurora-beans").today()
        import datetime as dt

        start = today - dt.timedelta(days=6)
        args = ["--config", str(path), "backfill", "--start", str(start), "--end", str(today - dt.timedelta(days=1)),
                "--roaster", "aurora-beans", "--concurrency", "1", "--timeout", "1", "--json"]
        first = run_cli(*args)
        assert first.exit_code == 3
        second = run_cli("--config", str(path), "backfill", "--resume", "--timeout", "1", "--json")
        assert second.exit_code == 3
    events = [a for a in webhook.received if a["event"] == "backfill_aborted"]
    assert len(events) == 2 and {e["backfill_id"] for e in events} == {json.loads(first.stdout)["backfill_id"]}
    assert "timeout" in events[0]["error"]
