"""`coffee-runner fetch` end to end: CLI, simulator over real HTTP, real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import yaml

from runner.sandbox.simulator import Fault, Simulator
from tests.runner.helpers import TODAY, run_cli, run_process, sim_config


def test_fetch_all_ok_json_shape_and_exit_0(tmp_path, db, sim):
    path, _ = sim_config(sim, tmp_path)
    result = run_cli("--config", str(path), "fetch", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {r["roaster_id"] for r in doc["runs"]} == {"aurora-beans", "blue-peak", "cedar-roast", "dune-coffee"}
    for run in doc["runs"]:
        assert set(run) == {"run_id", "roaster_id", "status", "pages", "artifacts", "error"}
        assert run["status"] == "ok" and run["pages"] >= 1 and run["error"] is None
    rows = db.execute("""select r.roaster_id, r.status, r.artifacts, count(a.id), r.finished_at is not null
                           from raw.scrape_runs r join raw.scrape_artifacts a on a.run_id = r.id
                          group by r.id""").fetchall()
    assert len(rows) == 4
    assert all(status == "ok" and stored == counted and finished for _, status, stored, counted, finished in rows)


def test_every_artifact_keeps_its_bytes_facts(tmp_path, db, sim):
    path, _ = sim_config(sim, tmp_path)
    run_cli("--config", str(path), "fetch", "--roaster", "cedar-roast")
    rows = db.execute("""select url, http_status, content_type, sha256, byte_length, body, body_text, headers,
                                captured_at, source, body_bytes from raw.captures order by captured_at""").fetchall()
    assert rows[0][6].startswith("User-agent: *")  # robots.txt kept as text
    products = rows[1]
    assert products[1] == 200 and products[2].startswith("application/json")
    assert isinstance(products[5], list) and hashlib.sha256(products[10]).hexdigest() == products[3]
    assert products[7]["x-wp-totalpages"] == "1"
    assert len(products[3]) == 64 and products[4] > 1000
    assert all(r[9] == "live" for r in rows)


def test_a_fetch_stamps_captures_and_its_day_with_the_runners_clock(tmp_path, db, sim, monkeypatch):
    """$COFFEE_NOW is the runner's "now" for a fetch too: its captures and its day are that moment's."""
    path, config = sim_config(sim, tmp_path)
    moment = dt.datetime(2026, 11, 20, 23, 30, tzinfo=dt.timezone.utc)
    monkeypatch.setenv("COFFEE_NOW", moment.isoformat())
    assert run_cli("--config", str(path), "fetch", "--roaster", "cedar-roast").exit_code == 0
    captured = {r[0] for r in db.execute("select captured_at from raw.scrape_artifacts").fetchall()}
    assert captured == {moment}
    day = db.execute("select target_day from raw.scrape_runs").fetchone()[0]
    assert day == config.roaster("cedar-roast").today(moment)


def test_selective_fetch_and_unknown_roaster(tmp_path, db, sim):
    path, _ = sim_config(sim, tmp_path)
    result = run_cli("--config", str(path), "fetch", "--roaster", "blue-peak", "--json")
    assert [r["roaster_id"] for r in json.loads(result.stdout)["runs"]] == ["blue-peak"]
    bad = run_cli("--config", str(path), "fetch", "--roaster", "nope")
    assert bad.exit_code == 2
    assert "unknown roaster 'nope'" in bad.stderr and "Traceback" not in bad.output


def test_partial_and_failed_runs_exit_1_and_record_why(tmp_path, db):
    faults = [Fault("500", shop="cedar-roast", resource="variations"),
              Fault("robots-disallow", shop="dune-coffee"),
              Fault("html200", shop="aurora-beans", resource="products")]
    with Simulator(today=TODAY, faults=faults) as sim:
        path, _ = sim_config(sim, tmp_path, max_attempts=2)
        result = run_cli("--config", str(path), "fetch", "--json")
    assert result.exit_code == 1
    runs = {r["roaster_id"]: r for r in json.loads(result.stdout)["runs"]}
    assert runs["blue-peak"]["status"] == "ok"
    assert runs["cedar-roast"]["status"] == "partial" and "variations page 1: HTTP 500" in runs["cedar-roast"]["error"]
    assert runs["dune-coffee"]["status"] == "fail" and runs["dune-coffee"]["error"].startswith("robots:")
    assert runs["aurora-beans"]["status"] == "fail" and "HTML page" in runs["aurora-beans"]["error"]
    # The robots-disallowed shop got nothing but its robots.txt.
    assert db.execute("""select array_agg(distinct resource) from raw.scrape_artifacts
                          where roaster_id = 'dune-coffee'""").fetchone()[0] == ["robots"]
    # Every failed attempt is kept: two HTML pages for aurora's first products page.
    html = db.execute("""select count(*) from raw.captures where roaster_id = 'aurora-beans'
                          and resource = 'products' and body_text like '<!DOCTYPE html>%%'""").fetchone()[0]
    assert html == 2
    statuses = dict(db.execute("select roaster_id, status from raw.scrape_runs").fetchall())
    assert statuses == {k: v["status"] for k, v in runs.items()}


def test_malformed_truncated_and_oversized_bodies_are_stored_with_errors(tmp_path, db):
    faults = [Fault("malformed", shop="aurora-beans", resource="products"),
              Fault("truncated", shop="blue-peak", resource="products"),
              Fault("huge", shop="cedar-roast", resource="products", arg=3_000_000)]
    with Simulator(today=TODAY, faults=faults) as sim:
        path, _ = sim_config(sim, tmp_path, max_attempts=2, max_body_bytes=1_000_000)
        result = run_cli("--config", str(path), "fetch", "--json")
    assert result.exit_code == 1
    rows = db.execute("""select roaster_id, body is null, body_text, error, byte_length
                           from raw.captures where resource = 'products' order by captured_at""").fetchall()
    by_shop = {}
    for row in rows:
        by_shop.setdefault(row[0], []).append(row)
    malformed = by_shop["aurora-beans"][0]
    assert malformed[1] and malformed[2].startswith('{"products": [{"id": 1, "title": "Broken"')
    truncated = by_shop["blue-peak"][0]
    assert truncated[3].startswith("connect:") and truncated[2].startswith('{"products"')
    huge = by_shop["cedar-roast"][0]
    assert huge[3].startswith("too_large") and huge[2] == "" and huge[4] > 1_000_000
    assert len(by_shop["cedar-roast"]) == 1  # permanent: no retry


def test_killed_fetch_leaves_no_running_run_after_next_command(tmp_path, db_url, db):
    with Simulator(today=TODAY, faults=[Fault("latency", resource="products", arg=30)]) as sim:
        path, _ = sim_config(sim, tmp_path, read_timeout=60, request_deadline=60)
        env = {**os.environ, "COFFEE_DATABASE_URL": db_url}
        proc = subprocess.Popen([sys.executable, "-m", "runner", "--config", str(path), "fetch"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                n = db.execute("select count(*) from raw.scrape_runs where status = 'running'").fetchone()[0]
                if n == 4:
                    break
                time.sleep(0.1)
            assert n == 4
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        # Killed mid-request: the runs are still 'running' until someone looks.
        assert db.execute("select count(*) from raw.scrape_runs where status = 'running'").fetchone()[0] == 4
        result = run_process("--config", str(path), "init", env={"COFFEE_DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    rows = db.execute("select status, error, finished_at is not null from raw.scrape_runs").fetchall()
    assert len(rows) == 4
    assert all(s == "fail" and "interrupted" in e and f for s, e, f in rows)
    # Nothing half-written: every stored artifact is whole (its sha matches its length's bytes).
    partial = db.execute("""select count(*) from raw.captures
                             where body_bytes is null and error is null""").fetchone()[0]
    assert partial == 0


def test_a_live_run_is_not_reaped_by_another_process(tmp_path, db_url, db):
    with Simulator(today=TODAY, faults=[Fault("latency", resource="products", arg=3)]) as sim:
        path, _ = sim_config(sim, tmp_path, read_timeout=10, request_deadline=10)
        env = {**os.environ, "COFFEE_DATABASE_URL": db_url}
        proc = subprocess.Popen([sys.executable, "-m", "runner", "--config", str(path), "fetch",
                                 "--roaster", "blue-peak", "--json"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        seen = None
        while time.monotonic() < deadline and seen is None:
            seen = db.execute("select 1 from raw.scrape_runs where status = 'running'").fetchone()
            time.sleep(0.05)
        assert seen, "the run was never seen in progress"
        reaper = run_process("--config", str(path), "init", env={"COFFEE_DATABASE_URL": db_url})
        assert proc.poll() is None, "the fetch ended before the reaper looked: nothing was proven"
        out, _ = proc.communicate(timeout=60)
    assert reaper.returncode == 0
    assert json.loads(out)["runs"][0]["status"] == "ok"
    assert db.execute("select status from raw.scrape_runs").fetchone()[0] == "ok"


def test_stdout_is_pure_json_in_a_real_process(tmp_path, db_url, sim):
    path, _ = sim_config(sim, tmp_path)
    result = run_process("--config", str(path), "fetch", "--roaster", "blue-peak", "--json",
                         env={"COFFEE_DATABASE_URL": db_url})
    assert result.returncode == 0
    assert json.loads(result.stdout)["runs"][0]["status"] == "ok"
    assert "blue-peak" in result.stderr  # progress went to stderr


def test_simulator_config_is_a_valid_config(sim):
    doc = yaml.safe_load(sim.roasters_yaml())
    assert doc["archive_url"] == f"{sim.url}/wayback"
    assert all(r["archive"] is True and r["base_url"].startswith(sim.url) for r in doc["roasters"])
