"""Shared fixtures: a real PostgreSQL and real simulator servers on 127.0.0.1.

PostgreSQL is the embedded server (pgserver) in a temporary directory, or the server
named by COFFEE_TEST_DATABASE_URL (whose user must be allowed to create databases).
Each test gets a fresh database copied from a template, so tests never see each other's
rows and the copy costs milliseconds. The plain template is only migrated; a module can
ask for a richer one (`history_template`: days of fetched raw and built marts), built
once per worker and copied per test, by defining the `history` fixture on top of
`db_url`.

Nothing outlives the session: every embedded server a test starts under its temporary
directory is stopped when the test ends, the session's own server when the session ends,
and the session then fails if any PostgreSQL server, simulator or child process it
started is still alive.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from runner.db import Target, migrate, start_embedded, stop_embedded
from runner.simulator import Simulator
from tests.runner.helpers import TODAY, with_database
from tests.runner.leftovers import child_processes, embedded_servers_under

TEMPLATE = f"coffee_tpl_{os.getpid()}"
_counter = itertools.count()
_session_servers: list[Path] = []  # data folders of servers this session started outside its tmp root

Builder = Callable[[Target, pytest.MonkeyPatch], None]  # build(target, env)


@pytest.fixture(scope="session", autouse=True)
def leaves_nothing_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Set up first, torn down last: what the session started must be gone by then."""
    yield
    base = tmp_path_factory.getbasetemp()
    servers = [s for folder in [base, *_session_servers] for s in embedded_servers_under(folder)]
    left = {"postgres": servers, "simulators": Simulator.running(),
            "processes": child_processes()}
    left = {kind: found for kind, found in left.items() if found}
    assert not left, f"the session left running: {left}"


@pytest.fixture(autouse=True)
def stops_its_servers(tmp_path: Path) -> Iterator[None]:
    """An embedded PostgreSQL a test started (a demo, a CLI child) stops with the test."""
    yield
    for pgdata in embedded_servers_under(tmp_path):
        stop_embedded(pgdata)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """The session's server. Its data lives outside pytest's temporary root: every pytest
    session that starts removes group and other access from that root (pytest-of-<user>),
    and the embedded server runs as its own user, so a second session on the machine
    would cut a running server off from its files."""
    external = os.environ.get("COFFEE_TEST_DATABASE_URL")
    folder = None if external else Path(tempfile.mkdtemp(prefix="coffee-test-pg-"))
    pgdata = folder / "pg" if folder else None
    _session_servers.extend([folder] if folder else [])
    try:
        admin = external or with_database(start_embedded(pgdata).url, "postgres")
        _create(admin, TEMPLATE)
        with psycopg.connect(with_database(admin, TEMPLATE), autocommit=True) as conn:
            migrate(conn)
        yield admin
        _drop(admin, TEMPLATE)
    finally:
        if pgdata is not None:
            stop_embedded(pgdata)
            shutil.rmtree(folder, ignore_errors=True)


def _create(admin: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        statement = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(statement)


def _drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def templates(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, Builder], str]]:
    """templates(key, build): a database built once per worker by build(target, env), as a template."""
    built: dict[str, str] = {}

    def template(key: str, build: Builder) -> str:
        if key not in built:
            name = f"{TEMPLATE}_{key}"
            _create(pg_admin_url, name, TEMPLATE)
            url = with_database(pg_admin_url, name)
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("COFFEE_DATABASE_URL", url)
                mp.setenv("COFFEE_HOME", str(tmp_path_factory.mktemp(f"tpl-{key}") / "home"))
                build(Target(url=url, embedded=False), mp)
            built[key] = name  # no connection stays open: a template with sessions cannot be copied
        return built[key]

    yield template
    for name in built.values():
        _drop(pg_admin_url, name)


@pytest.fixture
def db_template(request: pytest.FixtureRequest) -> str:
    """The plain migrated template; tests of a module with a `history` fixture get its template."""
    if "history" in request.fixturenames:
        return request.getfixturevalue("history_template")
    return TEMPLATE


@pytest.fixture
def db_url(pg_admin_url: str, db_template: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A fresh database copied from the template; COFFEE_DATABASE_URL and COFFEE_HOME point at it."""
    name = f"coffee_t{os.getpid()}_{next(_counter)}"
    _create(pg_admin_url, name, db_template)
    url = with_database(pg_admin_url, name)
    monkeypatch.setenv("COFFEE_DATABASE_URL", url)
    monkeypatch.setenv("COFFEE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("COFFEE_ROASTERS", raising=False)
    yield url
    _drop(pg_admin_url, name)


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


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[Simulator]:
    """One default simulator per worker, for template builds and the tests on their copies
    (the raw data names its URL); `reset()` before each use."""
    with Simulator() as server:
        yield server
