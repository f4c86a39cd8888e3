"""Backup and restore that cannot lose data: a file that is no coffee-runner backup is
refused before anything changes; a restore killed in its transaction leaves the old data;
one killed during its rebuild leaves the restored data, which the next writing command
finishes; a killed backup leaves no file under a backup's name; set-aside schemas are
listed and dropped only on purpose. The kills are SIGKILLs of the whole process group
(the runner and its pg_restore, psql, pg_dump or dbt), each at a moment the test
observed: a child session blocked on a lock the test holds."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from runner.ops.backup import BACKUP_RE, BACKUP_SCHEMAS, dump_schemas, pg_tool
from runner.store.db import Target
from tests.runner.helpers import (
    CLOCK,
    days_from,
    dbt,
    fetch_days,
    run_process,
    sim_config,
    snapshot_tables,
    wait_for,
    with_database,
)
from tests.runner.leftovers import child_processes

DAYS = days_from(dt.date(2026, 4, 6), 2)
RAW = {"raw.roasters": "id", "raw.scrape_runs": "id", "raw.scrape_artifacts": "id"}
NO_WORKER = {"COFFEE_DBT_WORKER": ""}  # dbt as the runner's own child, so the kill reaches it


def _raw(db) -> dict[str, list]:
    return {t: db.execute(f"select * from {t} order by {k}").fetchall() for t, k in RAW.items()}


def _schemas(db) -> list[str]:
    return [r[0] for r in db.execute("select nspname from pg_namespace where nspname !~ '^pg_' order by 1")]


pytestmark = pytest.mark.xdist_group("restore_history")  # one worker builds the module's template once


@pytest.fixture(scope="session")
def restore_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("restore-history")


@pytest.fixture(scope="session")
def history_template(templates, shared_sim, restore_folder):
    """Two days fetched and built, once per worker, and a backup of them beside it."""
    def build(target, env):
        env.setenv("COFFEE_NOW", CLOCK.isoformat())  # coverage's calendar ends on a fixed today
        shared_sim.reset()
        _, config = sim_config(shared_sim, restore_folder)
        fetch_days(shared_sim, config, target, DAYS)
        assert dbt(target, "build").ok
        dump_schemas(target, list(BACKUP_SCHEMAS), restore_folder / "backup_20260407_120000.dump")

    return templates("restore_history", build)


@pytest.fixture
def history(db_url, shared_sim, tmp_path, monkeypatch):
    """This test's copy of the template and the simulator's config; the runner's clock
    fixed, so a rebuild after a roaster's local midnight gives the template's calendar."""
    monkeypatch.setenv("COFFEE_NOW", CLOCK.isoformat())
    shared_sim.reset()
    return sim_config(shared_sim, tmp_path)


@pytest.fixture
def backed_up(history, restore_folder, tmp_path, db):
    """The template's data, backed up, then changed (a roaster added: what a restore replaces).
    Returns (config path, backup file, raw and marts as backed up)."""
    saved = (_raw(db), snapshot_tables(db))
    file = tmp_path / "backups" / "backup_20260407_120000.dump"
    file.parent.mkdir()
    shutil.copyfile(restore_folder / file.name, file)
    columns = [c for c in _columns(db, "raw", "roasters") if c not in ("id", "name")]
    db.execute(f"insert into raw.roasters (id, name, {', '.join(columns)}) "
               f"select 'added-later', 'Added Later', {', '.join(columns)} from raw.roasters limit 1")
    return history[0], file, saved


def _columns(db, schema: str, table: str) -> list[str]:
    return [r[0] for r in db.execute("""select column_name from information_schema.columns
                                         where table_schema = %s and table_name = %s""", (schema, table))]


@pytest.fixture
def spawn():
    """spawn(config, *args): the runner in a process group of its own (a SIGKILL of the group
    reaches its children); any group still alive at the test's end is killed."""
    started: list[subprocess.Popen] = []

    def start(config: Path, *args: str) -> subprocess.Popen:
        env = {**os.environ, **NO_WORKER}
        started.append(subprocess.Popen([sys.executable, "-m", "runner", "--config", str(config), *args], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True))
        return started[-1]

    yield start
    for proc in started:
        if proc.poll() is None:
            _kill_group(proc)


def _blocked(db, application: str) -> bool:
    """A session of `application` waits on a lock (one the test holds)."""
    return db.execute("""select count(*) from pg_stat_activity
                          where datname = current_database() and application_name = %s
                            and wait_event_type = 'Lock'""", (application,)).fetchone()[0] > 0


def _kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _kill_when_blocked(proc: subprocess.Popen, db_url: str, db, lock_sql: str, application: str,
                       child: str) -> None:
    """Hold a lock (`lock_sql` in an open transaction) until a session of `application`
    waits on it and the runner has a `child` process; then SIGKILL the runner's group."""
    with psycopg.connect(db_url) as holder:
        holder.execute(lock_sql)
        wait_for(lambda: _blocked(db, application), f"{application} to wait on the test's lock")
        assert any(child in c for c in child_processes(proc.pid)), child_processes(proc.pid)
        _kill_group(proc)
        holder.rollback()


def _no_sessions_of(db, application: str) -> bool:
    return db.execute("""select count(*) = 0 from pg_stat_activity
                          where datname = current_database() and application_name = %s""",
                      (application,)).fetchone()[0]


def _foreign_dump(admin_url: str, path: Path, db) -> None:
    """A real pg_dump archive of another database that has schemas named like ours but none
    of our tables: restored, it would replace the data with something no command can read."""
    name = f"coffee_foreign_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"drop database if exists {name}")
        admin.execute(f"create database {name}")
    url = with_database(admin_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("create schema raw; create schema control; create schema quarantine;"
                          "create table raw.evil (x int)")
        tool = pg_tool(Target(admin_url, False), "pg_dump", db)
        subprocess.run([str(tool), "--format=custom", "--file", str(path), "--schema", "raw", "--schema", "control",
                        "--schema", "quarantine", url], check=True)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"drop database if exists {name}")


@pytest.mark.parametrize("kind", ["empty", "plain sql", "other database", "foreign schemas", "truncated",
                                  "missing"])
def test_a_file_that_is_no_coffee_backup_is_refused_before_anything_changes(kind, backed_up, db, tmp_path,
                                                                             pg_admin_url):
    config, good, _ = backed_up
    bad = tmp_path / f"{kind.replace(' ', '_')}.dump"
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "plain sql":
        bad.write_text("create table raw.evil (x int);\n")
    elif kind == "other database":  # a real pg_dump archive, of the server's postgres database
        tool = pg_tool(Target(pg_admin_url, False), "pg_dump", db)
        subprocess.run([str(tool), "--format=custom", "--file", str(bad), pg_admin_url], check=True)
    elif kind == "foreign schemas":
        _foreign_dump(pg_admin_url, bad, db)
    elif kind == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    before = (_schemas(db), _raw(db))
    result = run_process("--config", str(config), "restore", str(bad), "--yes")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert (_schemas(db), _raw(db)) == before


def test_a_restore_killed_in_its_transaction_leaves_the_old_data(backed_up, db, db_url, spawn):
    config, file, _ = backed_up
    before = (_schemas(db), _raw(db))
    views_before = db.execute("select count(*) from staging.stg_raw__scrape_runs").fetchone()[0]
    # a reader holding a staging view: the swap's drop waits for it, after the renames, inside
    # the open transaction, while pg_restore is still streaming the file
    _kill_when_blocked(spawn(config, "restore", str(file), "--yes"), db_url, db,
                       "select 1 from staging.stg_raw__scrape_runs limit 0", "psql", "pg_restore")
    wait_for(lambda: _no_sessions_of(db, "psql"), "the killed psql's session to end")
    assert (_schemas(db), _raw(db)) == before  # nothing set aside, nothing restored, nothing empty
    assert db.execute("select to_regclass('control.restore_pending')").fetchone()[0] is None
    assert db.execute("select count(*) from staging.stg_raw__scrape_runs").fetchone()[0] == views_before


def test_a_restore_killed_during_its_rebuild_is_finished_by_the_next_command(backed_up, db, db_url, spawn):
    config, file, (raw_saved, marts_saved) = backed_up
    # a reader of a mart: the full refresh waits for it
    _kill_when_blocked(spawn(config, "restore", str(file), "--yes"), db_url, db,
                       "select 1 from marts.prices limit 0", "dbt", "dbt")
    wait_for(lambda: _no_sessions_of(db, "dbt"), "the killed dbt's sessions to end")
    assert _raw(db) == raw_saved  # the swap had committed: the restored data, whole
    assert [r[0] for r in db.execute("select file from control.restore_pending")] == [str(file.resolve())]
    # no view reads the set-aside tables: each one left reads the restored raw
    assert db.execute("select count(*) from staging.stg_raw__scrape_runs").fetchone()[0] == len(
        raw_saved["raw.scrape_runs"])
    health = json.loads(run_process("--config", str(config), "health", "--json").stdout)
    assert not health["checks"]["restore"]["ok"] and health["checks"]["restore"]["pending_rebuild"]
    finished = run_process("--config", str(config), "init", env=NO_WORKER, timeout=600)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert db.execute("select to_regclass('control.restore_pending')").fetchone()[0] is None
    assert snapshot_tables(db) == marts_saved


def test_a_killed_backup_leaves_no_file_under_a_backups_name(backed_up, db, db_url, spawn):
    config, _, _ = backed_up
    folder = Path(os.environ["COFFEE_HOME"]) / "backups"

    def backups() -> list[str]:
        return sorted(p.name for p in folder.iterdir() if BACKUP_RE.match(p.name)) if folder.exists() else []

    before = backups()
    # pg_dump's first lock waits for this one
    _kill_when_blocked(spawn(config, "backup"), db_url, db, "lock table raw.scrape_runs in access exclusive mode",
                       "pg_dump", "pg_dump")
    assert backups() == before
    done = run_process("--config", str(config), "backup", "--json", "--keep-days", "30")
    written = Path(json.loads(done.stdout)["file"])
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_set_aside_schemas_are_listed_and_dropped_only_on_purpose(backed_up, db, target):
    config, file, (raw_saved, marts_saved) = backed_up
    restored = run_process("--config", str(config), "restore", str(file), "--yes", "--json", timeout=600)
    assert restored.returncode == 0, restored.stderr[-3000:]
    result = json.loads(restored.stdout)
    assert _raw(db) == raw_saved and snapshot_tables(db) == marts_saved
    suffix = result["set_aside"][0].split("_", 1)[1]
    health = json.loads(run_process("--config", str(config), "health", "--json").stdout)["checks"]["restore"]
    assert health["ok"] and health["set_aside"] == [{"suffix": suffix, "schemas": sorted(result["set_aside"])}]
    assessed = run_process("--config", str(config), "assess", "--start", str(DAYS[0]), "--end", str(DAYS[-1]))
    assert f"--drop-set-aside {suffix}" in assessed.stdout, assessed.stdout
    unconfirmed = run_process("--config", str(config), "restore", "--drop-set-aside", suffix)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    wrong = run_process("--config", str(config), "restore", "--drop-set-aside", "replaced_19990101_000000", "--yes")
    assert wrong.returncode == 2 and suffix in wrong.stderr
    assert set(result["set_aside"]) <= set(_schemas(db))
    dropped = run_process("--config", str(config), "restore", "--drop-set-aside", suffix, "--yes", "--json")
    assert dropped.returncode == 0, dropped.stderr[-2000:]
    dump = Path(json.loads(dropped.stdout)["dump"])
    assert not set(result["set_aside"]) & set(_schemas(db))
    tool = pg_tool(target, "pg_restore", db)
    listing = subprocess.run([str(tool), "--list", str(dump)], capture_output=True, text=True)
    assert listing.returncode == 0 and all(f"SCHEMA - {s}" in listing.stdout for s in result["set_aside"])


def test_init_never_creates_an_empty_schema_beside_a_set_aside_one(backed_up, db):
    config, _, _ = backed_up
    db.execute("alter schema raw rename to raw_replaced_20260101_000000")  # what an older restore, killed, left
    result = run_process("--config", str(config), "init")
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "alter schema raw_replaced_20260101_000000 rename to raw" in lines[0], result.stderr
    assert "raw" not in _schemas(db)
