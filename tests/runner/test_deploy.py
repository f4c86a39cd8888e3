"""deploy/coffee-scraper.service: checked by systemd itself, and run as systemd would run it."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from runner.sandbox.simulator import Simulator
from tests.runner.helpers import CLOCK, TODAY, service_config, wait_for

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "coffee-scraper.service"
ENV_EXAMPLE = REPO / "deploy" / "coffee-scraper.env.example"
INSTALLED = "/opt/coffee-runner/.venv/bin/coffee-runner"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def _here(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this venv's coffee-runner (systemd checks it exists)."""
    local = tmp_path / UNIT.name
    local.write_text(UNIT.read_text().replace(INSTALLED, str(Path(sys.executable).with_name("coffee-runner"))))
    return local


def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    verify = subprocess.run([shutil.which("systemd-analyze") or "systemd-analyze", "verify", str(_here(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and verify.stderr == "" and verify.stdout == "", verify.stderr


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path):
    """The check above can fail: a misspelt key and a missing binary are reported."""
    broken = _here(tmp_path)
    broken.write_text(broken.read_text().replace("Restart=", "Restrat=").replace(
        str(Path(sys.executable).with_name("coffee-runner")), "/nonexistent/coffee-runner"))
    verify = subprocess.run(["systemd-analyze", "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert verify.returncode != 0 and "Restrat" in verify.stderr and "/nonexistent" in verify.stderr


def test_the_unit_restarts_on_failure_and_waits_longer_than_the_grace():
    service = _unit()["Service"]
    assert service["ExecStart"].startswith(INSTALLED + " serve")
    assert service["Restart"] == "on-failure" and service["KillSignal"] == "SIGTERM"
    assert float(service["TimeoutStopSec"]) > 30  # ServiceSettings.shutdown_grace
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    names = {line.split("=")[0] for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line and line[0] != "#"}
    assert {"COFFEE_DATABASE_URL", "COFFEE_ROASTERS", "COFFEE_HOME"} <= names


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_exec_start_as_systemd_runs_it_health_reload_and_stop(tmp_path, db, db_url):
    """ExecStart with the unit's and the environment file's variables: /health answers as the
    runbook's `curl -f`, SIGHUP (ExecReload) rereads the config, SIGTERM (systemctl stop)
    exits 0; the journal gets one JSON object per line, and the log file the same events
    with the backfill, roaster and day on each item's line."""
    port = _free_port()
    unit = _unit()["Service"]
    argv = shlex.split(unit["ExecStart"].replace(INSTALLED, "coffee-runner").replace("8000", str(port)))
    log_dir = tmp_path / "var-log"  # the unit's /var/log (LogsDirectory=)
    unit_env = dict(pair.split("=", 1) for pair in shlex.split(unit["Environment"].replace("/var/log", str(log_dir))))
    with Simulator(today=TODAY) as sim:
        config = service_config(sim, tmp_path)
        env = {**os.environ, **unit_env, "COFFEE_DATABASE_URL": db_url, "COFFEE_ROASTERS": str(config),
               "COFFEE_HOME": str(tmp_path / "home"), "COFFEE_NOW": CLOCK.isoformat(),
               "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        log = tmp_path / "journal.log"
        with open(log, "w") as journal:
            proc = subprocess.Popen(argv, env=env, stdout=journal, stderr=journal)
        try:
            def healthy() -> bool:
                try:
                    answer = httpx.get(f"http://localhost:{port}/health", timeout=30)
                except httpx.TransportError:
                    return False
                return answer.status_code == 200 and all(
                    r["state"] == "done" for r in answer.json()["scheduler"]["roasters"].values())
            wait_for(healthy, "curl -f /health", timeout=120)
            config.write_text(config.read_text().replace("tick_seconds: 0.3", "tick_seconds: 0.4"))
            proc.send_signal(signal.SIGHUP)
            wait_for(lambda: "config reloaded" in log.read_text(), "the reload", timeout=30)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    assert "stopped" in log.read_text()
    journal = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]  # each line one object
    assert {"at", "level", "message"} <= set(journal[0])
    assert any(j["message"].startswith("config reloaded") for j in journal)
    events = [json.loads(line) for line in Path(unit_env["COFFEE_LOG_FILE"]).read_text().splitlines()]
    items = [e for e in events if e["event"].startswith("item_")]
    assert len(items) >= 4 and all({"backfill_id", "roaster", "day"} <= set(e) for e in items)
    assert {e["roaster"] for e in items} == set(sim.state.shops)
