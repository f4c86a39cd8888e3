"""Crashes, database faults and concurrency: real processes, a real PostgreSQL (restarted,
its connections killed, its statements timed out), the simulator's archive over HTTP.

The default suite kills each process a few times; `-m soak` runs the 20-kill versions.
Every test compares the end state with an uninterrupted run of the same work."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from runner.sandbox.simulator import Simulator
from runner.sandbox.truth import mismatched_days
from runner.store.db import start_embedded
from tests.runner.helpers import (
    CLOCK,
    TODAY,
    comparable_tables,
    raw_is_whole,
    sim_config,
    spawn_backfill,
    wait_for,
    with_database,
)

REFERENCE = f"coffee_faults_ref_{os.getpid()}"
OTHER_BACKENDS = "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
WAIT_SECONDS = 300


END = TODAY - dt.timedelta(days=1)
START = END - dt.timedelta(days=3)
WINDOW = ("--start", str(START), "--end", str(END))



@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Every process of these tests (and the simulator) agrees that today is TODAY."""
    monkeypatch.setenv("COFFEE_NOW", CLOCK.isoformat())


def _reference(path, admin_url: str, db_url: str, window: tuple[str, ...] = WINDOW) -> dict:
    """The same backfill, uninterrupted, in a database of its own."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"drop database if exists {REFERENCE} with (force)")
        admin.execute(f"create database {REFERENCE}")
    url = with_database(db_url, REFERENCE)
    proc = spawn_backfill(path, url, *window, "--concurrency", "2")
    assert proc.wait(timeout=WAIT_SECONDS) == 0
    with psycopg.connect(url) as conn:
        expected = comparable_tables(conn)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"drop database {REFERENCE} with (force)")
    return expected


def _wait_for(db, sql: str, deadline_seconds: float = 60) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            if db.execute(sql).fetchone()[0]:
                return
        except psycopg.errors.UndefinedTable:
            pass  # not migrated yet
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {sql}")


def _assert_whole_and_once(db) -> None:
    assert raw_is_whole(db)
    twice = db.execute("""select count(*) from (select roaster_id, target_day from raw.scrape_runs
                           where status = 'ok' group by 1, 2 having count(*) > 1) as twice""").fetchone()[0]
    assert twice == 0  # no unit done twice in effect
    dupes = db.execute("select count(*) - count(distinct (variant_id, scraped_at)) from marts.prices").fetchone()[0]
    assert dupes == 0
    states = dict(db.execute("select state, count(*) from control.backfill_items group by 1").fetchall())
    assert set(states) == {"done"}


def _prices_match_truth(db, sim: Simulator) -> bool:
    """Every backfilled day's prices are exactly what the shop offered (the simulator's truth)."""
    days = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
    return mismatched_days(db, sim, [(shop, day) for day in days for shop in sim.state.shops]) == []


# --- crashes ------------------------------------------------------------------------------

def _kill_and_resume(tmp_path, db_url, db, pg_admin_url, kills: int) -> None:
    # each kill waits for one more item done: more kills than the 16 items of WINDOW need a longer one
    start = min(START, END - dt.timedelta(days=kills // 4 + 1))
    window = ("--start", str(start), "--end", str(END))
    with Simulator(today=TODAY, archive_coverage=1.0, latency=0.03) as sim:
        path, _ = sim_config(sim, tmp_path, since=start)
        expected = _reference(path, pg_admin_url, db_url, window)
        proc = spawn_backfill(path, db_url, *window, "--concurrency", "2")
        _wait_for(db, "select count(*) > 0 from control.backfills")
        total = db.execute("select count(*) from control.backfill_items").fetchone()[0]
        for kill in range(kills):  # SIGKILL on an observed event, resume each time
            # the event: one more item done than at the last kill, and another claimed
            _wait_for(db, f"""select count(*) filter (where state = 'done') > {kill}
                                 and count(*) filter (where state = 'running') > 0
                            from control.backfill_items""", WAIT_SECONDS)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            done = db.execute("select count(*) from control.backfill_items where state = 'done'").fetchone()[0]
            assert done < total, "the kill landed after the work was over"
            proc = spawn_backfill(path, db_url, "--resume")
        assert proc.wait(timeout=WAIT_SECONDS) == 0
    assert comparable_tables(db) == expected
    _assert_whole_and_once(db)


def test_sigkill_at_seeded_points_then_resume_equals_uninterrupted(tmp_path, db_url, db, pg_admin_url):
    _kill_and_resume(tmp_path, db_url, db, pg_admin_url, kills=3)


@pytest.mark.soak
def test_sigkill_at_twenty_points_then_resume_equals_uninterrupted(tmp_path, db_url, db, pg_admin_url):
    _kill_and_resume(tmp_path, db_url, db, pg_admin_url, kills=20)


def _kill_fetches(tmp_path, db_url, db, kills: int) -> None:
    """`fetch` SIGKILLed mid-run: the next command marks the dead runs failed, nothing
    half-written is left, and a complete rerun stores what an uninterrupted one stores."""
    with Simulator(today=TODAY, latency=0.02) as sim:
        path, _ = sim_config(sim, tmp_path)
        env = {**os.environ, "COFFEE_DATABASE_URL": db_url}
        command = [sys.executable, "-m", "runner", "--config", str(path), "fetch"]
        for _ in range(kills):
            stored = db.execute("select count(*) from raw.scrape_artifacts").fetchone()[0]
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # the event: an artifact of this fetch written while its runs are still going
            _wait_for(db, f"""select (select count(*) from raw.scrape_artifacts) > {stored}
                                 and exists (select from raw.scrape_runs where status = 'running')""",
                      WAIT_SECONDS)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert db.execute("select count(*) from raw.scrape_runs where status = 'running'").fetchone()[0] > 0, \
                "the kill landed after every run had finished"
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=WAIT_SECONDS)
        assert final.returncode == 0, final.stderr
    assert db.execute("select count(*) from raw.scrape_runs where status = 'running'").fetchone()[0] == 0
    assert raw_is_whole(db)
    # the last run of each shop holds the same pages an uninterrupted fetch gets
    last = db.execute("""select distinct on (roaster_id) roaster_id, id, status from raw.scrape_runs
                          order by roaster_id, started_at desc""").fetchall()
    assert {status for _, _, status in last} == {"ok"}
    bodies = db.execute("""select count(distinct (roaster_id, url, sha256)) from raw.scrape_artifacts
                            where run_id = any(%s) and http_status = 200""", ([r[1] for r in last],)).fetchone()[0]
    per_run = db.execute("""select count(*) from raw.scrape_artifacts where run_id = any(%s) and http_status = 200""",
                         ([r[1] for r in last],)).fetchone()[0]
    assert bodies == per_run > 0


def test_sigkill_during_fetch_leaves_no_half_run(tmp_path, db_url, db):
    _kill_fetches(tmp_path, db_url, db, kills=3)


@pytest.mark.soak
def test_sigkill_during_fetch_at_twenty_points(tmp_path, db_url, db):
    _kill_fetches(tmp_path, db_url, db, kills=20)


# --- database faults --------------------------------------------------------------------------

@pytest.fixture
def own_server(tmp_path):
    """A PostgreSQL of this test's own, so restarting it disturbs no other test."""
    import pgserver
    from pgserver._commands import pg_ctl

    target = start_embedded(tmp_path / "own-pg")
    server = pgserver.get_server(tmp_path / "own-pg", cleanup_mode=None)

    def restart() -> None:
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=60)

    yield target, restart
    pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)


def test_database_restart_mid_backfill_is_survived(tmp_path, own_server, monkeypatch):
    target, restart = own_server
    monkeypatch.setenv("COFFEE_HOME", str(tmp_path / "home"))
    with Simulator(today=TODAY, archive_coverage=1.0, latency=0.1) as sim:
        path, _ = sim_config(sim, tmp_path, since=START)
        proc = spawn_backfill(path, target.url, *WINDOW, "--concurrency", "2")
        with psycopg.connect(target.url, autocommit=True) as db:
            _wait_for(db, "select count(*) >= 2 from control.backfill_items where state = 'done'")
            before = db.execute("select pg_postmaster_start_time()").fetchone()[0]
        restart()
        assert proc.wait(timeout=WAIT_SECONDS) == 0
    with psycopg.connect(target.url, autocommit=True) as db:
        restarted = db.execute("select pg_postmaster_start_time()").fetchone()[0]
        after = db.execute("select count(*) from control.backfill_items where finished_at > %s",
                           (restarted,)).fetchone()[0]
        assert restarted > before and after > 0  # the server did restart, and work went on after it
        _assert_whole_and_once(db)
        assert _prices_match_truth(db, sim)


def test_dropped_connections_mid_backfill_are_survived(tmp_path, db_url, db):
    with Simulator(today=TODAY, archive_coverage=1.0, latency=0.1) as sim:
        path, _ = sim_config(sim, tmp_path, since=START)
        proc = spawn_backfill(path, db_url, *WINDOW, "--concurrency", "2")
        _wait_for(db, "select count(*) >= 2 from control.backfill_items where state = 'done'")
        dropped = 0
        for _ in range(3):  # every connection of the backfill, three times over, once it is back
            killed = {r[0] for r in db.execute(OTHER_BACKENDS).fetchall()}
            dropped += sum(1 for (ok,) in db.execute("select pg_terminate_backend(pid) from unnest(%s::int[]) as pid",
                                                      (sorted(killed),)).fetchall() if ok)
            wait_for(lambda k=killed: proc.poll() is not None or {r[0] for r in db.execute(OTHER_BACKENDS)} - k,
                     "the backfill to connect again", timeout=WAIT_SECONDS)
        assert proc.wait(timeout=WAIT_SECONDS) == 0
    assert dropped >= 2
    _assert_whole_and_once(db)
    assert _prices_match_truth(db, sim)


def test_statement_timeout_fails_clearly_then_resume_completes(tmp_path, db_url, db):
    with Simulator(today=TODAY, archive_coverage=1.0, latency=0.05) as sim:
        path, _ = sim_config(sim, tmp_path, since=START)
        proc = spawn_backfill(path, db_url, *WINDOW, "--concurrency", "2",
                              env={"PGOPTIONS": "-c statement_timeout=1500"})
        _wait_for(db, "select count(*) >= 1 from control.backfill_items where state = 'done'")
        with db.transaction():  # hold the table long enough for the worker's insert to time out
            db.execute("lock table raw.scrape_runs in access exclusive mode")
            code = proc.wait(timeout=WAIT_SECONDS)
        assert code == 1
        log = sorted(Path(path).parent.glob("backfill-*.log"))[-1].read_text()
        errors = [line for line in log.splitlines() if line.startswith("Error:")]
        assert errors == ["Error: database error: canceling statement due to statement timeout"]
        assert "Traceback" not in log
        resumed = spawn_backfill(path, db_url, "--resume", "--json")
        out, _ = resumed.communicate(timeout=WAIT_SECONDS)
    assert resumed.returncode == 0 and json.loads(out)["status"] == "done"
    _assert_whole_and_once(db)


# --- concurrency ----------------------------------------------------------------------------

def test_three_processes_share_one_backfill(tmp_path, db_url, db):
    first_day = START - dt.timedelta(days=4)
    with Simulator(today=TODAY, archive_coverage=1.0, latency=0.05) as sim:
        path, _ = sim_config(sim, tmp_path, since=first_day)
        procs = [spawn_backfill(path, db_url, "--start", str(first_day), "--end", str(END), "--concurrency", "2")]
        _wait_for(db, "select count(*) > 0 from control.backfills")
        backfill_id = str(db.execute("select id from control.backfills").fetchone()[0])
        procs += [spawn_backfill(path, db_url, "--resume", backfill_id, "--concurrency", "2") for _ in range(2)]
        assert [p.wait(timeout=WAIT_SECONDS) for p in procs] == [0, 0, 0]
    rows = db.execute("select state, attempts, claimed_by from control.backfill_items").fetchall()
    assert {r[0] for r in rows} == {"done"} and {r[1] for r in rows} == {1}
    assert len({r[2].split(":")[1] for r in rows}) >= 2  # the work was shared
    _assert_whole_and_once(db)


def test_backfill_while_a_scheduled_fetch_runs(tmp_path, db_url, db):
    """A live fetch of every shop runs while a backfill of past days works: both finish,
    neither waits on the other for long, no unit is fetched twice by the backfill."""
    with Simulator(today=TODAY, archive_coverage=1.0, latency=0.05) as sim:
        path, _ = sim_config(sim, tmp_path, since=START)
        backfill = spawn_backfill(path, db_url, *WINDOW, "--concurrency", "2", "--json")
        _wait_for(db, "select count(*) > 0 from control.backfill_items where state <> 'pending'")
        fetch = subprocess.Popen([sys.executable, "-m", "runner", "--config", str(path), "fetch", "--json"],
                                 env={**os.environ, "COFFEE_DATABASE_URL": db_url}, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
        fetched, _ = fetch.communicate(timeout=WAIT_SECONDS)
        out, _ = backfill.communicate(timeout=WAIT_SECONDS)
    assert fetch.returncode == 0 and backfill.returncode == 0
    assert json.loads(out)["status"] == "done"
    assert {run["status"] for run in json.loads(fetched)["runs"]} == {"ok"}
    _assert_whole_and_once(db)
    live = db.execute("select count(*) from raw.scrape_runs where kind = 'live' and status = 'ok'").fetchone()[0]
    assert live == 4
    started, finished = db.execute("select created_at, finished_at from control.backfills").fetchone()
    first_live = db.execute("select min(started_at) from raw.scrape_runs where kind = 'live'").fetchone()[0]
    assert started < first_live < finished  # the fetch ran while the backfill worked


@pytest.fixture
def stoppable_server(tmp_path, monkeypatch):
    """The embedded PostgreSQL of this test's own COFFEE_HOME, which the test stops (and the
    runner's next command starts again, as it starts a user's)."""
    import pgserver
    from pgserver._commands import pg_ctl

    monkeypatch.setenv("COFFEE_HOME", str(tmp_path / "home"))
    target = start_embedded(tmp_path / "home" / "pg")
    server = pgserver.get_server(tmp_path / "home" / "pg", cleanup_mode=None)

    def stop() -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)

    yield target, stop
    if (server.pgdata / "postmaster.pid").exists():
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)


def _one_line_each(stderr: str, marker: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-3000:]
    return [line for line in stderr.splitlines() if marker in line]


def test_a_fetch_that_loses_the_database_says_one_line_per_run(tmp_path, stoppable_server):
    target, stop = stoppable_server
    with Simulator(today=TODAY, latency=0.3) as sim:
        path, config = sim_config(sim, tmp_path)
        proc = subprocess.Popen([sys.executable, "-m", "runner", "--config", str(path), "fetch"],
                                env={**os.environ, "COFFEE_DATABASE_URL": target.url},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with psycopg.connect(target.url, autocommit=True) as db:  # every shop's run has begun storing pages
            _wait_for(db, "select count(distinct run_id) = 4 from raw.scrape_artifacts")
        stop()  # PostgreSQL goes away mid-fetch
        out, err = proc.communicate(timeout=WAIT_SECONDS)
    assert proc.returncode == 1, err[-3000:]  # runs failed: the documented exit code
    lost = _one_line_each(err, "lost the database")
    assert sorted(line.split(":")[1].strip() for line in lost) == sorted(r.id for r in config.roasters)
    assert all(" fail " in line for line in out.splitlines()), out
    reaped = subprocess.run([sys.executable, "-m", "runner", "--config", str(path), "init"], capture_output=True,
                            text=True, env={**os.environ, "COFFEE_DATABASE_URL": ""},  # starts the embedded one
                            timeout=WAIT_SECONDS)
    assert reaped.returncode == 0 and "marked 4 interrupted run(s) as failed" in reaped.stderr, reaped.stderr
    with psycopg.connect(target.url) as db:
        assert db.execute("select count(*) from raw.scrape_runs where status = 'running'").fetchone()[0] == 0


def test_a_backfill_that_loses_the_database_stops_resumably(tmp_path, stoppable_server):
    target, stop = stoppable_server
    with Simulator(today=TODAY, archive_coverage=1.0, latency=0.1) as sim:
        path, _ = sim_config(sim, tmp_path, since=START)
        proc = spawn_backfill(path, target.url, *WINDOW, "--concurrency", "2")
        with psycopg.connect(target.url, autocommit=True) as db:
            _wait_for(db, "select count(*) >= 1 from control.backfill_items where state = 'done'")
        stop()  # and it stays away longer than the workers' reconnects
        proc.wait(timeout=WAIT_SECONDS)
    log = sorted(Path(path).parent.glob("backfill-*.log"))[-1].read_text()
    assert proc.returncode == 1, log[-3000:]
    assert len(_one_line_each(log, "lost its database connection")) <= 2  # one per worker
    assert "resume with: coffee-runner backfill --resume" in log and log.strip().splitlines()[-1].startswith("Error:")
