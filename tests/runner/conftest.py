"""Shared fixtures: a real PostgreSQL and real simulator servers on 127.0.0.1.

PostgreSQL is the embedded server (pgserver) in a temporary directory, or the server
named by COFFEE_TEST_DATABASE_URL (whose user must be allowed to create databases).
Each test gets a fresh database copied from a template, so tests never see each other's
rows and the copy costs milliseconds. The plain template is migrated and built (see
`db_template`); a module can ask for a richer one (`history_template`: days of fetched
raw and built marts), built once per worker and copied per test, by defining the
`history` fixture on top of `db_url`.

Nothing outlives the session: every embedded server a test starts under its temporary
directory is stopped when the test ends, the session's own server when the session ends,
and the session then fails if any PostgreSQL server, simulator or child process it
started is still alive.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from runner.sandbox.simulator import Simulator
from runner.store.db import Target, migrate, start_embedded, stop_embedded
from runner.transform import dbt_worker as dbt_worker_module
from runner.transform.dbt_runner import run_dbt
from tests.runner.helpers import TODAY, Serve, with_database
from tests.runner.leftovers import child_processes, embedded_servers_under

UNBUILT_TEMPLATE = f"coffee_tpl_{os.getpid()}_unbuilt"  # migrated only
TEMPLATE = f"coffee_tpl_{os.getpid()}"  # migrated, then `dbt seed` and `dbt run` on no data
WORKER_DATABASE = f"coffee_t{os.getpid()}"  # every test's database in this worker (see db_url)
PARSE_FILE = "partial_parse.msgpack"
RENAME_WAIT_MS = 10_000  # dbt's saved parse, in its target path
_session_servers: list[Path] = []  # data folders of servers this session started outside its tmp root

Builder = Callable[[Target, pytest.MonkeyPatch], None]  # build(target, env)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--dist loadgroup`: the tests of an `xdist_group` (the modules that share a history
    template) go to one worker, and go first, so the longest units start before the short
    ones and do not finish last. pytest-xdist 3.8 names a grouped test `<id>@<group>` by
    writing `item._nodeid`, which pytest 9 no longer reads (a node's id is `item._id`):
    without this, the groups were spread over every worker and each built its template."""
    if not getattr(config.option, "loadgroup", False):
        return
    grouped = []
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid and hasattr(item, "_id"):
            from _pytest.nodeid import NodeId  # pytest >= 9

            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(names)}")
        grouped.append(bool(names))
    items[:] = [item for item, g in zip(items, grouped, strict=True) if g] + \
               [item for item, g in zip(items, grouped, strict=True) if not g]


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


@pytest.fixture(scope="session", autouse=True)
def dbt_worker(leaves_nothing_running: None) -> Iterator[str | None]:
    """One long-lived dbt per pytest worker (runner/transform/dbt_worker.py), used by every process
    the tests start: dbt's imports and parse are paid once, not once per invocation.
    COFFEE_TEST_DBT_WORKER=0 runs each invocation in a fresh dbt process instead, as a
    user without a service does (tests/runner/test_dbt_worker.py checks both agree)."""
    if os.environ.get("COFFEE_TEST_DBT_WORKER") == "0":
        yield None
        return
    with dbt_worker_module.running() as socket_path:
        assert socket_path is not None, "the dbt worker did not start"
        yield socket_path


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
        if not external:
            _throwaway_settings(admin)
        _create(admin, UNBUILT_TEMPLATE)
        with psycopg.connect(with_database(admin, UNBUILT_TEMPLATE), autocommit=True) as conn:
            migrate(conn)
        _create(admin, WORKER_DATABASE, UNBUILT_TEMPLATE)
        _build_derived(with_database(admin, WORKER_DATABASE), Path(tempfile.mkdtemp(prefix="coffee-test-home-")))
        _rename(admin, WORKER_DATABASE, TEMPLATE)
        yield admin
        _drop(admin, TEMPLATE)
        _drop(admin, UNBUILT_TEMPLATE)
    finally:
        if pgdata is not None:
            stop_embedded(pgdata)
            shutil.rmtree(folder, ignore_errors=True)


# The session's own server holds only copies that die with the session: it need not
# survive a crash, so commits do not wait for the disk. An external server is left as it is.
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def _throwaway_settings(admin: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        for name, value in THROWAWAY_SETTINGS.items():
            conn.execute(sql.SQL("alter system set {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("select pg_reload_conf()")


def _build_derived(url: str, home: Path) -> None:
    """What any database holds after its first command: the seeds and every model, empty."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COFFEE_HOME", str(home))
        for args in (["seed"], ["run"]):
            result = run_dbt(Target(url=url, embedded=False), args, echo=False)
            assert result.ok, result.output[-3000:]
    shutil.rmtree(home, ignore_errors=True)


def _create(admin: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        statement = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(statement)


def _rename(admin: str, name: str, new_name: str) -> None:
    """Templates are built under the name every test's database has (WORKER_DATABASE), then
    renamed: dbt's parse is keyed on the database name, so the dbt worker keeps one parse
    for the builds and the tests instead of parsing again at every switch (about 8 s each)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(pid, %s) from pg_stat_activity where datname = %s",
                     (RENAME_WAIT_MS, name))  # waits for each session to end: a rename needs none left
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(new_name)))
        conn.execute(sql.SQL("alter database {} rename to {}").format(sql.Identifier(name), sql.Identifier(new_name)))


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
            _create(pg_admin_url, WORKER_DATABASE, TEMPLATE)  # built under the tests' name (see _rename)
            url = with_database(pg_admin_url, WORKER_DATABASE)
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("COFFEE_DATABASE_URL", url)
                mp.setenv("COFFEE_HOME", str(tmp_path_factory.mktemp(f"tpl-{key}") / "home"))
                build(Target(url=url, embedded=False), mp)
            _rename(pg_admin_url, WORKER_DATABASE, name)
            built[key] = name  # no connection stays open: a template with sessions cannot be copied
        return built[key]

    yield template
    for name in built.values():
        _drop(pg_admin_url, name)


@pytest.fixture
def db_template(request: pytest.FixtureRequest) -> str:
    """The plain template (migrated, dbt's seeds and models built on no data); a test
    marked `unbuilt` gets the only-migrated one, tests of a module with a `history`
    fixture get its template."""
    if "history" in request.fixturenames:
        return request.getfixturevalue("history_template")
    if request.node.get_closest_marker("unbuilt"):
        return UNBUILT_TEMPLATE
    return TEMPLATE


@pytest.fixture(scope="session")
def parse_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This worker's last dbt partial-parse file (see db_url)."""
    return tmp_path_factory.mktemp("dbt-parse") / PARSE_FILE


@pytest.fixture
def db_url(pg_admin_url: str, db_template: str, parse_cache: Path, monkeypatch: pytest.MonkeyPatch,
           tmp_path: Path) -> Iterator[str]:
    """A fresh database copied from the template; COFFEE_DATABASE_URL and COFFEE_HOME point at it.

    The database has the same name in every test of a worker (tests of one worker run one
    after another), because dbt keys its saved parse on the connection, database name
    included: with one name, a test's first dbt command starts from the worker's last
    parse (copied into the test's fresh COFFEE_HOME) instead of a 3-5 s full parse."""
    name = WORKER_DATABASE
    _create(pg_admin_url, name, db_template)
    url = with_database(pg_admin_url, name)
    home = tmp_path / "home"
    monkeypatch.setenv("COFFEE_DATABASE_URL", url)
    monkeypatch.setenv("COFFEE_HOME", str(home))
    monkeypatch.delenv("COFFEE_ROASTERS", raising=False)
    saved = home / "dbt" / "target" / PARSE_FILE
    if parse_cache.exists():
        saved.parent.mkdir(parents=True)
        shutil.copyfile(parse_cache, saved)
    yield url
    if saved.exists():
        shutil.copyfile(saved, parse_cache)
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


@pytest.fixture
def serve(db_url: str) -> Iterator[Callable[..., Serve]]:
    """serve(config, env): a `coffee-runner serve` process on this test's database, killed
    at the test's end if the test did not stop it."""
    started: list[Serve] = []

    def start(config: Path, env: dict[str, str] | None = None) -> Serve:
        process = Serve(config, db_url, env or {}, str(len(started)))
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=30)
