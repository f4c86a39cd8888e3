"""Backfills end to end: simulator (shops + web archive) over real HTTP, real PostgreSQL,
dbt for real, the CLI in-process or as real processes that get SIGKILLed."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import psycopg
import pytest

from runner.sandbox.simulator import Fault, Simulator
from runner.sandbox.truth import mismatched_days
from tests.runner.helpers import CLOCK, TODAY, last_dbt_nodes, run_cli, sim_config, spawn_backfill, wait_for

SHOPS = ("aurora-beans", "blue-peak", "cedar-roast", "dune-coffee")
REFERENCE = f"coffee_reference_{os.getpid()}"  # unique when workers share one server


START = TODAY - dt.timedelta(days=4)
END = TODAY - dt.timedelta(days=1)  # past days only: all from the archive



@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """Every process of these tests (and the simulator) agrees that today is TODAY."""
    monkeypatch.setenv("COFFEE_NOW", CLOCK.isoformat())


def _backfill(path, *args: str):
    result = run_cli("--config", str(path), "backfill", "--start", str(START), "--end", str(END), "--json", *args)
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)


def _truth_mismatches(db, sim: Simulator, days) -> list:
    return mismatched_days(db, sim, [(shop, day) for shop in SHOPS for day in days])


def _statuses(db) -> dict:
    return {(r, d): s for r, d, s in db.execute(
        "select roaster_id, day, status from ops.coverage_daily where day between %s and %s", (START, END))}


@pytest.fixture
def archived(tmp_path, db):
    """Every past day is in the archive; the config expects data from START."""
    with Simulator(today=TODAY, archive_coverage=1.0) as sim:
        path, config = sim_config(sim, tmp_path, since=START)
        yield sim, path, config


def test_backfill_from_the_archive_equals_the_truth(archived, db):
    sim, path, _ = archived
    result, summary = _backfill(path)
    assert result.exit_code == 0, result.output[-2000:]
    assert summary["status"] == "done" and summary["items"] == {"done": 16, "failed": 0, "skipped": 0,
                                                                "unrecoverable": 0}
    assert summary["gaps_before"] == 16 and summary["gaps_after"] == 0
    assert summary["dbt"]["ok"]
    built = last_dbt_nodes()  # a production build: models and data tests, not dbt's unit tests
    assert any(n.startswith("test.") for n in built) and not any(n.startswith("unit_test.") for n in built)
    days = [START + dt.timedelta(days=i) for i in range(4)]
    assert _truth_mismatches(db, sim, days) == []
    runs = db.execute("select kind, count(*), count(distinct (roaster_id, target_day)) from raw.scrape_runs "
                      "group by kind").fetchall()
    assert runs == [("archive", 16, 16)]
    # captured_at is the capture's own time, read from the archive URL
    row = db.execute("""select url, captured_at, archive_timestamp from raw.scrape_artifacts
                         where source = 'archive' limit 1""").fetchone()
    assert row[2] in row[0] and row[1] == dt.datetime.strptime(row[2], "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)
    log_path = Path(os.environ["COFFEE_HOME"]) / "logs" / "backfill.log"
    log_lines = [json.loads(x) for x in log_path.read_text().splitlines()]
    assert {"backfill_started", "item_done", "dbt_finished", "backfill_finished"} <= {x["event"] for x in log_lines}
    # A second run finds nothing to do.
    again, summary2 = _backfill(path)
    assert again.exit_code == 0 and sum(summary2["items"].values()) == 0 and summary2["gaps_before"] == 0


def test_days_without_captures_are_unrecoverable_and_can_be_acknowledged(tmp_path, db):
    with Simulator(today=TODAY, archive_coverage=0.0) as sim:
        path, _ = sim_config(sim, tmp_path, since=START)
        result, summary = _backfill(path, "--roaster", "aurora-beans")
        assert result.exit_code == 0
        assert summary["items"]["unrecoverable"] == 4 and summary["gaps_after"] == 4
        assert all("no capture" in u["reason"] for u in summary["unrecoverable"])
        failing = run_cli("--config", str(path), "verify", "--start", str(START), "--end", str(END),
                          "--roaster", "aurora-beans", "--json")
        assert failing.exit_code == 1, failing.stderr[-1500:]
        report = json.loads(failing.stdout)
        assert len(report["gaps"]) == 4 and not report["ok"]
        # verify's own gap check fails it; dbt's no_gaps runs at its default severity there
        assert report["dbt"]["counts"].get("warn", 0) >= 1 and report["dbt"]["ok"], report["dbt"]["failures"]
        ack = run_cli("--config", str(path), "gaps", "--acknowledge", "--roaster", "aurora-beans",
                      "--start", str(START), "--end", str(END), "--reason", "shop offline, never archived")
        assert ack.exit_code == 0
        gaps = json.loads(run_cli("--config", str(path), "gaps", "--start", str(START), "--end", str(END),
                                  "--roaster", "aurora-beans", "--json").stdout)
        assert all(g["acknowledged"] for g in gaps["gaps"]) and gaps["counts"] == {"missing": 4}
        assert gaps["open"] == 0  # acknowledged: no longer open gaps
        passing = run_cli("--config", str(path), "verify", "--start", str(START), "--end", str(END),
                          "--roaster", "aurora-beans", "--json")
        assert passing.exit_code == 0, passing.stdout[-2000:]
        assert json.loads(passing.stdout)["acknowledged_gaps"] == 4
        # an acknowledged gap is not planned again
        again = json.loads(run_cli("--config", str(path), "plan", "--start", str(START), "--end", str(END),
                                   "--roaster", "aurora-beans", "--json").stdout)
        assert again["items"] == []


def test_plan_writes_nothing(archived, db):
    _, path, _ = archived
    _backfill(path, "--roaster", "blue-peak")
    tables = ["raw.roasters", "raw.scrape_runs", "raw.scrape_artifacts", "control.backfills", "control.backfill_items",
              "marts.prices", "marts.scrape_artifacts", "ops.coverage_daily", "ops.gaps"]
    before = {t: db.execute(f"select xmin::text, * from {t} order by 1").fetchall() for t in tables}
    result = run_cli("--config", str(path), "plan", "--start", str(START), "--end", str(END), "--json")
    plan = json.loads(result.stdout)
    assert result.exit_code == 0 and plan["counts"] == {"refetch_archive": 12}
    assert plan["estimate_seconds"] > 0
    after = {t: db.execute(f"select xmin::text, * from {t} order by 1").fetchall() for t in tables}
    assert after == before


@pytest.mark.unbuilt
def test_the_first_plan_on_a_new_database_builds_the_derived_tables(archived, db):
    """dbt never ran here (as after `migrate` on a new server): plan seeds and builds once, then plans."""
    _, path, _ = archived
    derived = "select to_regclass('reference.iso_currencies') is not null, to_regclass('ops.gaps') is not null"
    assert db.execute(derived).fetchone() == (False, False)
    result = run_cli("--config", str(path), "plan", "--start", str(START), "--end", str(END), "--json")
    assert result.exit_code == 0, result.output[-2000:]
    assert json.loads(result.stdout)["counts"] == {"refetch_archive": 16}
    assert db.execute(derived).fetchone() == (True, True)
    assert db.execute("select count(*) from reference.iso_currencies").fetchone()[0] > 100


def test_a_coverage_table_from_before_is_open_gap_is_rebuilt_by_the_next_plan(archived, db):
    """An earlier version's ops.coverage_daily lacks the column: the next command rebuilds it."""
    _, path, _ = archived
    _backfill(path, "--roaster", "blue-peak")
    db.execute("alter table ops.gaps drop column is_open_gap")
    db.execute("alter table ops.coverage_daily drop column is_open_gap")
    result = run_cli("--config", str(path), "plan", "--start", str(START), "--end", str(END), "--json")
    assert result.exit_code == 0, result.output[-2000:]
    assert json.loads(result.stdout)["counts"] == {"refetch_archive": 12}  # the three other shops
    open_gaps, rule = db.execute("""select count(*) filter (where is_open_gap),
                                           count(*) filter (where status <> 'complete' and not acknowledged)
                                      from ops.coverage_daily where day between %s and %s""", (START, END)).fetchone()
    assert open_gaps == rule == 12


@pytest.mark.parametrize(("args", "message"), [
    (["backfill", "--start", "2026-13-01", "--end", "2026-12-02"], "Invalid value for '--start'"),
    (["backfill", "--start", "2026-03-05", "--end", "2026-03-01"], "is after --end"),
    (["backfill", "--start", "2026-03-01", "--end", "2026-03-05", "--roaster", "nope"], "unknown roaster 'nope'"),
    (["plan", "--start", "2026-03-01", "--end", "2026-03-05", "--strategy", "yolo"], "Invalid value for '--strategy'"),
    (["backfill", "--resume", "not-a-uuid"], "is not a backfill id"),
    (["backfill", "--start", "2026-03-01"], "needs --start and --end"),
    (["gaps", "--start", "2026-03-01", "--end", "2026-03-02", "--acknowledge"], "--acknowledge needs"),
    (["backfill", "--start", "2026-03-01", "--end", "2026-03-02", "--concurrency", "0"], "--concurrency"),
])
def test_bad_input_exits_2_with_one_line(archived, db, args, message):
    _, path, _ = archived
    result = run_cli("--config", str(path), *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert db.execute("select count(*) from control.backfills").fetchone()[0] == 0


def test_failure_rate_abort_exits_3_and_resumes(tmp_path, db):
    faults = [Fault("500", shop="cedar-roast", resource="archive")]
    with Simulator(today=TODAY, archive_coverage=1.0, faults=faults) as sim:
        path, _ = sim_config(sim, tmp_path, since=START - dt.timedelta(days=4), max_attempts=2)
        args = ["--config", str(path), "backfill", "--start", str(START - dt.timedelta(days=4)), "--end", str(END),
                "--max-failure-rate", "0.1", "--concurrency", "2", "--json"]
        result = run_cli(*args)
        summary = json.loads(result.stdout)
        assert result.exit_code == 3, result.output[-2000:]
        assert summary["status"] == "aborted" and "failure rate" in summary["error"]
        assert summary["items"]["failed"] >= 2 and summary["items"]["pending"] > 0
        assert summary["resumable"] and f"resume with: coffee-runner backfill --resume {summary['backfill_id']}" \
            in result.stderr
        sim.set_faults([])
        resumed = run_cli("--config", str(path), "backfill", "--resume", "--json")
        assert resumed.exit_code == 0, resumed.output[-2000:]
        final = json.loads(resumed.stdout)
    assert final["backfill_id"] == summary["backfill_id"] and final["status"] == "done"
    assert final["items"]["failed"] == 0 and final["gaps_after"] == 0
    attempts = dict(db.execute("select attempts, count(*) from control.backfill_items group by 1").fetchall())
    assert attempts.get(2, 0) >= 2  # the failed ones were tried again


def test_timeout_exits_3_and_resumes(archived, db):
    sim, path, _ = archived
    sim.set_faults([Fault("latency", resource="archive", arg=0.6)])
    result, summary = _backfill(path, "--timeout", "1.5", "--concurrency", "1")
    assert result.exit_code == 3 and summary["status"] == "aborted" and "timeout" in summary["error"]
    left = db.execute("select count(*) from control.backfill_items where state in ('pending', 'running')").fetchone()[0]
    assert left > 0
    sim.set_faults([])
    resumed = run_cli("--config", str(path), "backfill", "--resume", summary["backfill_id"], "--timeout", "120",
                      "--json")
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["gaps_after"] == 0
    stored = db.execute("select timeout_seconds from control.backfills").fetchone()[0]
    assert stored == 1.5  # the override applied to this run only


# --- real processes: SIGKILL and two workers ------------------------------------------------

def _items_worked(db) -> int:
    try:
        return db.execute("select count(*) from control.backfill_items where state <> 'pending'").fetchone()[0]
    except psycopg.errors.UndefinedTable:
        return 0  # not migrated yet


def test_overlapping_backfills_never_work_the_same_unit(tmp_path, db_url, db):
    """Backfill A covers days 1-4, backfill B days 3-6, B started while A works: each unit
    is fetched once; the later one finds the shared units already filled and skips them."""
    first_day = START - dt.timedelta(days=2)
    with Simulator(today=TODAY, archive_coverage=1.0, latency=0.1) as sim:
        path, _ = sim_config(sim, tmp_path, since=first_day)
        a = spawn_backfill(path, db_url, "--start", str(first_day), "--end", str(first_day + dt.timedelta(days=3)),
                           "--concurrency", "2", "--json")
        wait_for(lambda: _items_worked(db), "backfill A at work")
        b = spawn_backfill(path, db_url, "--start", str(first_day + dt.timedelta(days=2)), "--end", str(END),
                           "--concurrency", "2", "--json")
        results = [json.loads(p.communicate(timeout=300)[0]) for p in (a, b)]
    assert {r["status"] for r in results} == {"done"}
    (a_started, a_finished), (b_started, _) = db.execute(
        "select created_at, finished_at from control.backfills order by created_at").fetchall()
    assert a_started < b_started < a_finished  # they overlapped: B was planned while A still ran
    runs = db.execute("select count(*), count(distinct (roaster_id, target_day)) from raw.scrape_runs").fetchone()
    assert runs[0] == runs[1] == 4 * 6  # one run per unit, none twice
    # a unit both backfills planned was fetched by at most one of them; the other skipped it
    # (or, planning after the first one's data landed, only reparsed it)
    fetched = db.execute("""select max(n) from (select count(run_id) as n from control.backfill_items
                             group by roaster_id, day) as per_unit""").fetchone()[0]
    assert fetched == 1
