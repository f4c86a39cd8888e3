"""The database password never shows: not on stdout or stderr, not in --json, not in
error messages, not in the runner's or dbt's logs, not on /health or /metrics. Only the
0600 pgpass file libpq reads holds it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
import pytest

from runner.service.run import serve_web
from runner.store.pool import direct
from tests.runner.helpers import run_process, sim_config, with_database

PASSWORD = "Sekr1t:pw@/#?&x"
USER = f"coffee_secret_{os.getpid()}"


@pytest.fixture(params=["userinfo", "query", "PGPASSWORD"])
def secret_url(request, pg_admin_url, tmp_path, monkeypatch):
    """A role with a password, owning a database of its own; the password given in each of
    the forms libpq reads: the URL's user info, its password= parameter, or PGPASSWORD."""
    name = f"coffee_secret_db_{os.getpid()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(f"drop database if exists {name} with (force)")
        admin.execute(f"drop role if exists {USER}")
        admin.execute(f"create role {USER} login password %s".replace("%s", "'" + PASSWORD + "'"))
        admin.execute(f"create database {name} owner {USER}")
    parts = urllib.parse.urlsplit(with_database(pg_admin_url, name))
    secret = f":{urllib.parse.quote(PASSWORD, safe='')}" if request.param == "userinfo" else ""
    netloc = f"{USER}{secret}@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    query = parts.query
    if request.param == "query":
        query = "&".join(q for q in (query, urllib.parse.urlencode({"password": PASSWORD})) if q)
    if request.param == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", PASSWORD)
    url = urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))
    monkeypatch.setenv("COFFEE_DATABASE_URL", url)
    monkeypatch.setenv("COFFEE_HOME", str(tmp_path / "home"))
    yield url
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(f"drop database if exists {name} with (force)")
        admin.execute(f"drop role if exists {USER}")


def _forms() -> list[str]:
    return [PASSWORD, urllib.parse.quote(PASSWORD, safe=""), urllib.parse.quote_plus(PASSWORD)]


def _assert_clean(text: str, where: str) -> None:
    for form in _forms():
        assert form not in text, f"password leaked in {where}"


# what each command must answer (init, env and plan succeed; fetch and health may find a
# failing shop or stale roaster on this day; a reversed range is bad input)
EXPECTED_CODES = {"fetch": {0, 1}, "health": {0, 1}, "backfill": {2}}


def test_password_never_in_output_logs_or_errors(secret_url, sim, tmp_path):
    path, _ = sim_config(sim, tmp_path, since=None)
    runs = [
        ("init",), ("fetch", "--json"), ("health", "--json"), ("env",), ("assess", "--json"),
        ("plan", "--start", "2026-11-18", "--end", "2026-11-19", "--json"),  # dbt runs, logs
        ("backfill", "--start", "2026-11-19", "--end", "2026-11-18"),  # bad input
    ]
    for args in runs:
        result = run_process("--config", str(path), *args, timeout=300)
        _assert_clean(result.stdout + result.stderr, " ".join(args))
        expected = EXPECTED_CODES.get(args[0], {0})
        assert result.returncode in expected, (args, result.returncode, result.stderr[-500:])
    # a database that cannot be reached: the error names it, without the password
    bad = secret_url.replace("host=", "port=1&host=") if "host=" in secret_url else secret_url
    down = urllib.parse.urlunsplit(urllib.parse.urlsplit(bad)._replace(path="/nope"))
    for args in (("health", "--json"), ("fetch",), ("backfill", "--resume")):
        result = run_process("--config", str(path), *args, env={"COFFEE_DATABASE_URL": down + "&connect_timeout=2"})
        assert result.returncode == 1, (args, result.stderr[-500:])  # unhealthy / cannot connect
        _assert_clean(result.stdout + result.stderr, "error for " + " ".join(args))
    # every file the runner and dbt wrote, except the pgpass file meant for libpq
    home = Path(os.environ["COFFEE_HOME"])
    files = [p for p in home.rglob("*") if p.is_file() and p.name != "pgpass" and "pg" not in p.parts]
    assert any("logs" in p.parts for p in files)
    for file in files:
        _assert_clean(file.read_bytes().decode("utf-8", "replace"), str(file.relative_to(home)))
    pgpass = home / "pgpass"
    assert pgpass.exists() and oct(pgpass.stat().st_mode & 0o777) == "0o600"


def test_password_never_on_health_or_metrics(secret_url, sim, tmp_path):
    from runner.core.config import load_config
    from runner.store.db import resolve_target

    path, _ = sim_config(sim, tmp_path)
    config, target = load_config(str(path)), resolve_target()
    with serve_web(config, target, "127.0.0.1", 0, threading.Event(), direct(target)) as base:
        seen = {}
        for route in ("/health", "/metrics"):
            try:  # 503 when unhealthy: the body still must be clean, and /metrics still read
                with urllib.request.urlopen(f"{base}{route}", timeout=30) as response:
                    status, body = response.status, response.read().decode()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read().decode()
            _assert_clean(body, route)
            seen[route] = (status, body)
        assert seen["/health"][0] in (200, 503) and '"checks"' in seen["/health"][1]
        assert seen["/metrics"][0] == 200 and "coffee_" in seen["/metrics"][1]


def test_a_crash_report_would_not_carry_it(secret_url, tmp_path):
    """Even an unexpected exception's message goes through the one-line error path."""
    code = ("import psycopg, os, sys\n"
            "from runner.store.db import resolve_target, redact\n"
            "t = resolve_target()\n"
            "print(t.safe_url)\n"
            "print(redact(os.environ['COFFEE_DATABASE_URL']))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ})
    assert out.returncode == 0, out.stderr
    _assert_clean(out.stdout + out.stderr, "safe_url/redact")
    assert USER in out.stdout
