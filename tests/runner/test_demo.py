"""The README's main job, on a fresh database: it must end OK and match the truth."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from tests.runner.helpers import CLOCK, run_cli


def test_demo_recovers_every_recoverable_day(db_url, db, pg_admin_url, monkeypatch):
    monkeypatch.setenv("COFFEE_NOW", CLOCK.isoformat())  # the demo's "today", for the runner, dbt and the shops
    try:
        result = run_cli("demo", "--json")
    finally:  # the service scene's own database, beside this test's
        scene_db = f"{urlsplit(db_url).path.lstrip('/')}_service"
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scene_db)))
    assert result.exit_code == 0, result.stdout[-3000:]
    report = json.loads(result.stdout)
    assert report["ok"] and report["verify"]["ok"]
    assert report["truth"]["matched"] == report["truth"]["checked"] > 60
    assert report["backfill"]["items"]["failed"] == 0
    disasters = report["disasters"]
    assert disasters["derived_prices_deleted"] > 0 and disasters["raw_runs_lost"] > 0
    assert disasters["artifacts_corrupted"] > 0
    assert [r["status"] for r in report["todays_scrape"] if r["roaster_id"] == "dune-coffee"] == ["fail"]
    scene = report["service_scene"]  # the service on simulated days, in its own database
    assert scene["ok"] and scene["sigterm_exit"] == 0 and scene["truth"]["matched"] == scene["truth"]["checked"] == 12
    first, missed, last = scene["days"]
    assert scene["runs"][f"dune-coffee {first}"] == ["live fail", "live ok"]  # throttled, retried that day
    assert all(scene["runs"][f"{shop} {missed}"] == ["archive ok"] for shop in ("aurora-beans", "blue-peak",
                                                                                "cedar-roast", "dune-coffee"))
    assert all(scene["runs"][f"{shop} {last}"] == ["live ok"] for shop in ("aurora-beans", "blue-peak"))
    shown = {}
    for moment in ("before", "after"):  # the dashboard's export: the disasters as holes, then none open
        heat = json.loads(Path(report["dashboard"][moment]).with_suffix(".json").read_text())
        shown[moment] = {c["status"] for r in heat["roasters"] for c in r["cells"] if c is not None}
    assert {"unprocessed", "missing", "failed"} <= shown["before"]
    assert shown["after"] <= {"complete", "acknowledged"}
