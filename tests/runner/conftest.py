"""Shared fixtures: a real PostgreSQL and real simulator servers on 127.0.0.1.

PostgreSQL is the embedded server (pgserver) in a temporary directory, or the server
named by COFFEE_TEST_DATABASE_URL (whose user must be allowed to create databases).
Each test gets a fresh database copied from a migrated template, so tests never see
each other's rows and the copy costs milliseconds.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from runner.db import Target, migrate, start_embedded
from runner.simulator import Simulator
from tests.runner.helpers import TODAY, with_database

TEMPLATE = f"coffee_tpl_{os.getpid()}"
_counter = itertools.count()


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


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(today=TODAY) as server:
        yield server
