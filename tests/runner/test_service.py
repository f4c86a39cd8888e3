"""`coffee-runner serve` as real processes: a real PostgreSQL, the simulator on 127.0.0.1,
an injected clock (fixed, or moving at a rate), signals that really land mid-work."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import yaml

from runner.sandbox.simulator import Simulator, parse_fault
from tests.runner.helpers import CLOCK, TODAY, Serve, fetch_days, run_cli, service_config, wait_for

SHOPS = ["aurora-beans", "blue-peak", "cedar-roast", "dune-coffee"]


def ok_runs(db, day: dt.date = TODAY, kind: str = "live") -> dict[str, int]:
    return dict(db.execute("""select roaster_id, count(*) from raw.scrape_runs
                               where target_day = %s and kind = %s and status = 'ok' group by 1""",
                           (day, kind)).fetchall())


def all_done(process: Serve) -> bool:
    roasters = process.scheduler()["roasters"]
    return bool(roasters) and all(r["state"] == "done" for r in roasters.values())


def claimed(db) -> list[tuple]:
    return db.execute("""select i.roaster_id, i.claimed_by from control.backfill_items as i
                          join control.backfills as b on b.id = i.backfill_id
                         where b.origin = 'service' and i.state = 'running'""").fetchall()


def test_a_service_started_after_three_days_down_backfills_exactly_the_missed_days(tmp_path, db, target, serve):
    """The runbook's 'service restart with data recovery': nothing typed but `serve`."""
    first = TODAY - dt.timedelta(days=6)
    with Simulator(today=TODAY, archive_coverage=1.0) as sim:
        path = service_config(sim, tmp_path, since=first, catch_up_days=7)
        from runner.core.config import load_config

        fetch_days(sim, load_config(str(path)), target, [first + dt.timedelta(days=i) for i in range(3)])
        sim.state.today = TODAY
        before = db.execute("select count(*) from raw.scrape_runs").fetchone()[0]
        process = serve(path, {"COFFEE_NOW": CLOCK.isoformat()})
        wait_for(lambda: all_done(process) and process.scheduler()["catch_up_queue"] == 0
                 and process.scheduler()["batches"] >= 1, "today done and the catch-up empty", proc=process)
        ticks = process.scheduler()["ticks"]
        wait_for(lambda: process.scheduler()["ticks"] >= ticks + 3, "three more ticks", proc=process)
        assert process.stop() == 0
    missed = [TODAY - dt.timedelta(days=d) for d in (3, 2, 1)]
    runs = db.execute("""select roaster_id, target_day, kind, status from raw.scrape_runs
                          order by created_at offset %s""", (before,)).fetchall()
    expected = sorted([(s, d, "archive", "ok") for s in SHOPS for d in missed]
                      + [(s, TODAY, "live", "ok") for s in SHOPS])
    assert sorted(runs) == expected  # each missed day once, today once, the days we had never again
    statuses = db.execute("""select status, count(*) from ops.coverage_daily
                              where day between %s and %s group by 1""", (first, TODAY)).fetchall()
    assert statuses == [("complete", 4 * 7)], db.execute("""select roaster_id, day, status from ops.coverage_daily
                                                             where status <> 'complete' order by 2, 1""").fetchall()
    assert db.execute("select count(*) from control.backfills where origin = 'service' and status <> 'done'"
                      ).fetchone()[0] == 0


def test_sigterm_mid_scrape_exits_0_within_the_grace_and_loses_nothing(tmp_path, db, serve):
    with Simulator(today=TODAY, latency=0.3) as sim:
        path = service_config(sim, tmp_path, concurrency=1, shutdown_grace=3)
        env = {"COFFEE_NOW": CLOCK.isoformat()}
        process = serve(path, env)
        wait_for(lambda: claimed(db), "an item claimed", proc=process)
        assert process.stop(signal.SIGTERM) == 0
        assert "stopped" in process.log()
        assert db.execute("select count(*) from raw.scrape_runs where status = 'running'").fetchone()[0] == 0
        states = dict(db.execute("select state, count(*) from control.backfill_items group by 1").fetchall())
        assert states.get("pending", 0) + states.get("running", 0) > 0, states  # stopped mid-batch
        assert db.execute("select status, error from control.backfills").fetchall() == \
            [("aborted", "stopped: the process was asked to stop")]
        # a person's `backfill --resume` is not the service's: the service plans its days again
        resumed = run_cli("--config", str(path), "backfill", "--resume")
        assert resumed.exit_code == 2 and "no unfinished backfill to resume" in resumed.output
        # a restart finishes the day: each shop fetched once in all
        process = serve(path, env)
        wait_for(lambda: all_done(process), "every shop done after the restart", proc=process)
        assert process.stop() == 0
    assert ok_runs(db) == dict.fromkeys(SHOPS, 1)


def test_sigkill_then_restart_completes_the_day_with_each_unit_fetched_once(tmp_path, db, serve):
    with Simulator(today=TODAY, latency=0.3) as sim:
        path = service_config(sim, tmp_path, concurrency=1)
        env = {"COFFEE_NOW": CLOCK.isoformat()}
        process = serve(path, env)
        wait_for(lambda: claimed(db), "an item claimed", proc=process)
        assert process.stop(signal.SIGKILL) == -signal.SIGKILL
        assert len(ok_runs(db)) < len(SHOPS)  # the kill landed before the batch was over
        process = serve(path, env)
        wait_for(lambda: all_done(process), "every shop done after the restart", proc=process)
        assert process.stop() == 0
    assert ok_runs(db) == dict.fromkeys(SHOPS, 1)
    # the dead instance's batch was closed by the new one, not left `running` for health to flag
    assert db.execute("select count(*) from control.backfills where status = 'running'").fetchone()[0] == 0


def test_a_throttled_shop_is_retried_after_its_retry_after_and_the_day_ends_complete(tmp_path, db, serve,
                                                                                        monkeypatch):
    rate = 300.0  # 5 simulated minutes per real second
    anchor = time.time()
    clock = {"COFFEE_NOW": CLOCK.isoformat(), "COFFEE_CLOCK_RATE": str(rate), "COFFEE_CLOCK_ANCHOR": str(anchor)}
    for name, value in clock.items():
        monkeypatch.setenv(name, value)  # the simulator, in this process, follows the same clock
    throttle = parse_fault("kind=429,shop=blue-peak,resource=products,times=1,arg=900")
    with Simulator(follow_clock=True, faults=[throttle]) as sim:
        path = service_config(sim, tmp_path, retry_backoff_seconds=60, heal_interval_seconds=10**7)
        doc = yaml.safe_load(path.read_text())
        doc["http"]["max_attempts"] = 1  # the run gives up at once: the service's retry is what is tested
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        process = serve(path, clock)
        wait_for(lambda: all_done(process), "every shop done", proc=process)
        assert process.stop() == 0
    runs = db.execute("""select status, created_at, started_at from raw.scrape_runs
                          where roaster_id = 'blue-peak' order by created_at""").fetchall()
    assert [r[0] for r in runs] == ["fail", "ok"], runs
    failed_at, retried_at = runs[0][1], runs[1][2]
    waited = (retried_at - failed_at).total_seconds() * rate
    assert waited >= 900, waited  # the shop's Retry-After (900 s), not the 60 s backoff
    # and at the first tick once both the Retry-After and the first batch (its dbt build) are over
    batch_over = db.execute("select min(finished_at) from control.backfills").fetchone()[0]
    free = max(failed_at + dt.timedelta(seconds=900 / rate), batch_over)
    assert (retried_at - free).total_seconds() < 5.0, (retried_at, free)
    complete = db.execute("""select count(*) from ops.coverage_daily where roaster_id = 'blue-peak'
                              and status = 'complete' and day = %s""", (TODAY,)).fetchone()[0]
    assert complete == 1


def test_pause_and_unpause_reach_a_running_service_within_a_tick(tmp_path, db, serve):
    with Simulator(today=TODAY) as sim:
        path = service_config(sim, tmp_path)
        assert run_cli("--config", str(path), "pause", "--roaster", "blue-peak", "--reason", "asked to slow down"
                       ).exit_code == 0
        process = serve(path, {"COFFEE_NOW": CLOCK.isoformat()})
        states = lambda: {r: v["state"] for r, v in process.scheduler()["roasters"].items()}  # noqa: E731
        wait_for(lambda: states() == {**dict.fromkeys(SHOPS, "done"), "blue-peak": "paused"}, "others done",
                 proc=process)
        assert "blue-peak" not in ok_runs(db)
        assert process.health()["scheduler"]["roasters"]["blue-peak"]["detail"] == "asked to slow down"
        assert run_cli("--config", str(path), "unpause", "--roaster", "blue-peak").exit_code == 0
        wait_for(lambda: states()["blue-peak"] == "done", "blue-peak fetched after unpause", timeout=60,
                 proc=process)
        assert run_cli("--config", str(path), "pause", "--reason", "all stop").exit_code == 0
        ticks = process.scheduler()["ticks"]
        wait_for(lambda: process.scheduler()["ticks"] >= ticks + 2, "two ticks", proc=process)
        assert set(states().values()) == {"paused"}
        metrics = httpx.get(f"http://127.0.0.1:{process.port}/metrics", timeout=30).text
        assert 'coffee_scheduler_roaster_state{roaster="blue-peak",state="paused"} 1.0' in metrics
        assert process.stop() == 0
    assert ok_runs(db) == dict.fromkeys(SHOPS, 1)


def _claimers(db, *instances: Serve) -> set[int]:
    """The instances that hold a claim now, or have finished an item."""
    rows = db.execute("""select i.claimed_by from control.backfill_items as i
                          join control.backfills as b on b.id = i.backfill_id
                         where b.origin = 'service' and i.state in ('running', 'done')""").fetchall()
    return {p.proc.pid for p in instances if any(f":{p.proc.pid}:" in (c or "") for (c,) in rows)}


def test_two_instances_share_the_work_and_one_takes_over_when_the_other_dies(tmp_path, db, serve):
    with Simulator(today=TODAY, latency=0.3) as sim:
        path = service_config(sim, tmp_path, concurrency=1)
        env = {"COFFEE_NOW": CLOCK.isoformat()}
        first, second = serve(path, env), serve(path, env)
        by_both = wait_for(lambda: _claimers(db, first, second) == {first.proc.pid, second.proc.pid},
                           "both instances at work at once", proc=first)
        assert by_both
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        wait_for(lambda: all_done(second), "the second finishes every shop", proc=second)
        assert second.stop() == 0
    assert ok_runs(db) == dict.fromkeys(SHOPS, 1)  # every unit scraped exactly once
    lines = db.execute("select status, error from control.backfills where owner like %s",
                       (f"%:{first.proc.pid}:%",)).fetchall()
    assert lines and all(status == "aborted" and "stopped" in error for status, error in lines)


def test_serve_refuses_a_port_in_use_with_one_line(tmp_path, db, db_url, serve):
    with Simulator(today=TODAY) as sim:
        path = service_config(sim, tmp_path)
        process = serve(path, {"COFFEE_NOW": CLOCK.isoformat()})
        result = subprocess.run([sys.executable, "-m", "runner", "--config", str(path), "serve", "--port",
                                 str(process.port)], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "COFFEE_DATABASE_URL": db_url})
        assert process.stop() == 0
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == \
        [f"Error: --port {process.port}: cannot listen (Address already in use)"]


def test_health_carries_the_scheduler_and_json_stays_clean(tmp_path, db, serve):
    with Simulator(today=TODAY) as sim:
        path = service_config(sim, tmp_path)
        process = serve(path, {"COFFEE_NOW": CLOCK.isoformat()})
        wait_for(lambda: all_done(process), "every shop done", proc=process)
        doc = process.health()
        assert process.stop() == 0
    assert doc["healthy"] is True, json.dumps(doc["checks"])[:2000]
    outcome = doc["scheduler"]["roasters"]["cedar-roast"]["last_outcome"]
    assert outcome["state"] == "done" and outcome["action"] == "refetch_live" and outcome["day"] == str(TODAY)


def test_across_the_fall_back_each_local_day_is_scraped_once(tmp_path, db, serve, monkeypatch):
    """New York, schedule 01:30: on 2026-11-01 that hour happens twice (EDT, then EST). A
    moving clock (an hour a second) runs the service from Nov 1 00:00 EDT into Nov 2:
    one scrape on Nov 1, at the first 01:30, and one on Nov 2."""
    rate, start = 3600.0, dt.datetime(2026, 11, 1, 4, 0, tzinfo=dt.timezone.utc)  # 00:00 EDT
    anchor = time.time()
    clock = {"COFFEE_NOW": start.isoformat(), "COFFEE_CLOCK_RATE": str(rate), "COFFEE_CLOCK_ANCHOR": str(anchor)}
    for name, value in clock.items():
        monkeypatch.setenv(name, value)
    with Simulator(follow_clock=True) as sim:
        path = service_config(sim, tmp_path, tick_seconds=120)
        doc = yaml.safe_load(path.read_text())
        doc["roasters"] = [dict(r, timezone="America/New_York") for r in doc["roasters"] if r["id"] == "aurora-beans"]
        doc["schedule"] = "01:30"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        process = serve(path, clock)
        wait_for(lambda: ok_runs(db, dt.date(2026, 11, 2)), "the Nov 2 scrape", proc=process)
        assert process.stop() == 0
    runs = db.execute("""select target_day, started_at from raw.scrape_runs
                          where kind = 'live' and status = 'ok' order by started_at""").fetchall()
    assert [day for day, _ in runs] == [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
    simulated = [start + dt.timedelta(seconds=(at.timestamp() - anchor) * rate) for _, at in runs]
    assert simulated[0] >= dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.timezone.utc)  # 01:30 EDT, the first
    assert simulated[1] >= dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.timezone.utc)  # 01:30 EST
