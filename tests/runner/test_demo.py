"""The README's main job, on a fresh database: it must end OK and match the truth."""

from __future__ import annotations

import json

from tests.runner.helpers import run_cli


def test_demo_recovers_every_recoverable_day(db_url, db):
    result = run_cli("demo", "--json")
    assert result.exit_code == 0, result.stdout[-3000:]
    report = json.loads(result.stdout)
    assert report["ok"] and report["verify"]["ok"]
    assert report["truth"]["matched"] == report["truth"]["checked"] > 60
    assert report["backfill"]["items"]["failed"] == 0
    disasters = report["disasters"]
    assert disasters["derived_prices_deleted"] > 0 and disasters["raw_runs_lost"] > 0
    assert disasters["artifacts_corrupted"] > 0
    assert [r["status"] for r in report["todays_scrape"] if r["roaster_id"] == "dune-coffee"] == ["fail"]
    assert report["elapsed_seconds"] < 180
