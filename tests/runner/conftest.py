"""Shared fixtures: a real PostgreSQL and real simulator servers on 127.0.0.1.

PostgreSQL is the embedded server (pgserver) in a temporary directory, or the server
named by COFFEE_TEST_DATABASE_URL (whose user must be allowed to create databases).
Each test gets a fresh database copied from a migrated template, so tests never see
each other's rows and the copy costs milliseconds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from click.testing import CliRunner, Result
from psycopg import sql

from runner.cli import cli
from runner.config import Config, parse_config
from runner.db import Target, migrate, start_embedded
from runner.simulator import Simulator

TEMPLATE = f"coffee_tpl_{os.getpid()}"
_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("COFFEE_TEST_DATABASE_URL")
    if external:
        admin = external
    else:
        target = start_embedded(tmp_path_factory.mktemp("pg") / "pg")
        admin = with_database(target.url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(TEMPLATE)))
    with psycopg.connect(with_database(admin, TEMPLATE), autocommit=True) as conn:
        migrate(conn)
    yield admin
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(TEMPLATE)))


@pytest.fixture
def db_url(pg_admin_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database; COFFEE_DATABASE_URL and COFFEE_HOME point at it."""
    name = f"coffee_t{os.getpid()}_{next(_counter)}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE)))
    url = with_database(pg_admin_url, name)
    monkeypatch.setenv("COFFEE_DATABASE_URL", url)
    monkeypatch.setenv("COFFEE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COFFEE_ROASTERS", raising=False)
    yield url
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def target(db_url: str) -> Target:
    return Target(url=db_url, embedded=False)


TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(today=TODAY) as server:
        yield server


def sim_config(sim: Simulator, tmp_path: Path, **http: float) -> tuple[Path, Config]:
    """Write the simulator's own config (optionally with http overrides) and load it."""
    import yaml

    doc = yaml.safe_load(sim.roasters_yaml())
    doc["http"].update(http)
    path = tmp_path / "roasters.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path, parse_config(path.read_text(encoding="utf-8"), path)


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_process(*args: str, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process (exit codes, stdout purity)."""
    return subprocess.run([sys.executable, "-m", "runner", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
