"""Backup/restore round trip, retention, and cleanup to quarantine with exact undo."""

from __future__ import annotations

import datetime as dt
import json
import os

from runner.ops.backup import prune_backups
from runner.sandbox.simulator import Fault, Simulator
from tests.runner.helpers import days_from, dbt, fetch_days, run_cli, sim_config, snapshot_tables

DAYS = days_from(dt.date(2026, 4, 6), 2)
RAW = {"raw.scrape_runs": "id", "raw.scrape_artifacts": "id", "raw.roasters": "id",
       "control.backfill_items": "backfill_id, roaster_id, day"}


def _raw(db) -> dict[str, list]:
    return {t: db.execute(f"select * from {t} order by {k}").fetchall() for t, k in RAW.items()}


def test_backup_lose_raw_restore_rebuild_gives_identical_marts(tmp_path, target, db):
    with Simulator() as sim:
        path, config = sim_config(sim, tmp_path)
        fetch_days(sim, config, target, DAYS)
    assert dbt(target, "build").ok
    before = snapshot_tables(db)
    raw_before = _raw(db)
    backup = run_cli("--config", str(path), "backup", "--json")
    assert backup.exit_code == 0, backup.output[-2000:]
    info = json.loads(backup.stdout)
    assert info["file"].endswith(".dump") and info["bytes"] > 10_000 and info["schemas"] == ["raw", "control",
                                                                                            "quarantine"]
    db.execute("drop schema raw cascade")  # the accident
    refused = run_cli("--config", str(path), "restore", info["file"])
    assert refused.exit_code == 2 and "--yes" in refused.stderr  # no terminal, no --yes: nothing happens
    restored = run_cli("--config", str(path), "restore", info["file"], "--yes", "--json")
    assert restored.exit_code == 0, restored.output[-3000:]
    result = json.loads(restored.stdout)
    assert result["ok"] and any(s.startswith("control_replaced_") for s in result["set_aside"])
    assert _raw(db) == raw_before
    assert snapshot_tables(db) == before


def test_retention_removes_old_backups_but_never_the_newest(tmp_path):
    now = dt.datetime(2026, 11, 27, 12, 0)
    for age_days, name in [(30, "backup_20261028_120000.dump"), (10, "backup_20261117_120000.dump"),
                           (2, "backup_20261125_120000.dump"), (9, "notes.txt")]:
        path = tmp_path / name
        path.write_text("x")
        stamp = now.timestamp() - age_days * 86400
        os.utime(path, (stamp, stamp))
    removed = prune_backups(tmp_path, 7, now)
    assert sorted(p.name for p in removed) == ["backup_20261028_120000.dump", "backup_20261117_120000.dump"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup_20261125_120000.dump", "notes.txt"]
    # everything is old: the newest survives anyway
    removed = prune_backups(tmp_path, 0, now + dt.timedelta(days=100))
    assert removed == [] and (tmp_path / "backup_20261125_120000.dump").exists()


def test_cleanup_dry_run_changes_nothing_and_apply_then_undo_restores_exactly(tmp_path, target, db):
    faults = [Fault("429", shop="dune-coffee"),                          # a failed run
              Fault("503", shop="cedar-roast", resource="products", times=1),  # a retried attempt
              Fault("html200", shop="aurora-beans", resource="products", page=2)]  # an invalid final page
    with Simulator(faults=faults) as sim:
        path, config = sim_config(sim, tmp_path, since=DAYS[0], max_attempts=2)
        fetch_days(sim, config, target, DAYS[:1])
    with db.transaction():  # blue-peak's run is ok, but its end-of-listing page no longer parses
        db.execute("set local session_replication_role = replica")
        db.execute("""update raw.scrape_artifacts set body = '{"products": [{"id": "garbage"}]}'
                       where roaster_id = 'blue-peak' and resource = 'products' and page = 2""")
    assert dbt(target, "build").ok
    before = _raw(db)
    dry = run_cli("--config", str(path), "cleanup", "--json")
    assert dry.exit_code == 0
    counts = json.loads(dry.stdout)["would_move"]
    assert counts["failed_runs"] == 1 and counts["failed_run_artifacts"] > 0
    # the 503 that a retry replaced, and the first of aurora-beans' two HTML answers
    assert counts["superseded_attempts"] == 2 and counts["stale_running_runs"] == 0
    assert counts["invalid_artifacts"] >= 1
    assert _raw(db) == before
    applied = run_cli("--config", str(path), "cleanup", "--apply", "--json")
    assert applied.exit_code == 0, applied.output[-3000:]
    result = json.loads(applied.stdout)
    assert result["moved"]["runs"] == 1
    assert result["moved"]["artifacts"] == (counts["failed_run_artifacts"] + counts["superseded_attempts"]
                                            + counts["invalid_artifacts"])
    assert result["backup"] and os.path.exists(result["backup"])
    assert db.execute("select count(*) from raw.scrape_runs where status = 'fail'").fetchone()[0] == 0
    assert db.execute("select count(*) from quarantine.scrape_artifacts").fetchone()[0] == result["moved"]["artifacts"]
    # cedar-roast lost a superseded 503 to quarantine, yet its day is still complete
    status = db.execute("select status from ops.coverage_daily where roaster_id = 'cedar-roast' and day = %s",
                        (DAYS[0],)).fetchone()[0]
    assert status == "complete"
    # aurora-beans' HTML page and blue-peak's broken end page moved with their reasons:
    # each day is a gap the plan refetches (blue-peak's run is ok: without its end page
    # nothing says the catalog ended there)
    for shop in ("aurora-beans", "blue-peak"):
        reasons = [r[0] for r in db.execute(
            "select reason from quarantine.scrape_artifacts where roaster_id = %s", (shop,))]
        assert any(r.startswith("invalid page: ") for r in reasons), (shop, reasons)
        status = db.execute("select status from ops.coverage_daily where roaster_id = %s and day = %s",
                            (shop, DAYS[0])).fetchone()[0]
        assert status == "partial", shop
    undo = run_cli("--config", str(path), "cleanup", "--undo", result["batch_id"], "--json")
    assert undo.exit_code == 0, undo.output[-2000:]
    assert _raw(db) == before
    assert db.execute("select count(*) from quarantine.scrape_artifacts").fetchone()[0] == 0
    again = run_cli("--config", str(path), "cleanup", "--undo", result["batch_id"])
    assert again.exit_code == 2 and "already put back" in again.stderr


def test_cleanup_moves_dead_running_runs_too(tmp_path, target, db):
    with Simulator() as sim:
        path, config = sim_config(sim, tmp_path)
        fetch_days(sim, config, target, DAYS[:1], roasters={"blue-peak"})
    with db.transaction():  # a run whose process died without a trace: nobody holds its lease
        db.execute("""insert into raw.scrape_runs (id, roaster_id, kind, status, target_day)
                      values ('00000000-0000-0000-0000-00000000dead', 'blue-peak', 'live', 'running', %s)""",
                   (DAYS[0],))
    from runner.ops.cleanup import cleanup_preview

    assert cleanup_preview(db)["stale_running_runs"] == 1
    assert db.execute("select status from raw.scrape_runs where id = '00000000-0000-0000-0000-00000000dead'"
                      ).fetchone()[0] == "running"  # the dry run only looked
    applied = json.loads(run_cli("--config", str(path), "cleanup", "--apply", "--no-backup", "--json").stdout)
    assert applied["backup"] is None and applied["moved"]["runs"] == 1
    assert db.execute("select id::text, reason from quarantine.scrape_runs").fetchone() == (
        "00000000-0000-0000-0000-00000000dead", "failed run")
