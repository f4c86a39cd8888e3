"""`pause` / `unpause`: stored in the database, honoured by scheduled fetches, shown by health."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from runner.core.config import parse_config
from runner.store.db import Target
from runner.web.health import health, metrics
from tests.runner.helpers import run_cli, run_process, sim_config


def _json(*args: str) -> tuple[int, dict]:
    result = run_cli(*args, "--json")
    return result.exit_code, json.loads(result.stdout)


def _fetched(db) -> dict[str, int]:
    return dict(db.execute("select roaster_id, count(*) from raw.scrape_runs group by 1").fetchall())


def test_a_paused_roaster_is_not_fetched_until_unpaused(tmp_path, db, sim):
    path, _ = sim_config(sim, tmp_path)
    config = ["--config", str(path)]
    code, out = _json(*config, "pause", "--roaster", "blue-peak", "--reason", "shop asked us to slow down")
    assert code == 0 and [p["scope"] for p in out["paused"]] == ["blue-peak"]
    code, out = _json(*config, "fetch")
    assert code == 0 and out["paused"] == {"blue-peak": "shop asked us to slow down"}
    assert "blue-peak" not in _fetched(db) and len(_fetched(db)) == 3
    code, out = _json(*config, "unpause", "--roaster", "blue-peak")
    assert code == 0 and out["unpaused"] == ["blue-peak"] and out["paused"] == []
    code, out = _json(*config, "fetch")
    assert code == 0 and out["paused"] == {} and _fetched(db) == {r: 2 if r != "blue-peak" else 1 for r in _fetched(db)}


def test_pause_everything_then_unpause_everything(tmp_path, db, sim):
    path, _ = sim_config(sim, tmp_path)
    config = ["--config", str(path)]
    assert _json(*config, "pause", "--reason", "full backfill running")[0] == 0
    code, out = _json(*config, "fetch")
    assert code == 0 and out["runs"] == [] and set(out["paused"].values()) == {"full backfill running"}
    assert _fetched(db) == {}
    # a roaster's own pause wins over the global one; pausing again replaces the reason
    assert _json(*config, "pause", "--roaster", "cedar-roast", "--reason", "first")[0] == 0
    assert _json(*config, "pause", "--roaster", "cedar-roast", "--reason", "moved to a new platform")[0] == 0
    assert _json(*config, "fetch")[1]["paused"]["cedar-roast"] == "moved to a new platform"
    code, out = _json(*config, "unpause")
    assert code == 0 and out["unpaused"] == ["*", "cedar-roast"]
    assert len(_json(*config, "fetch")[1]["runs"]) == 4


def test_health_and_metrics_show_what_is_paused_and_why(tmp_path, db, db_url, sim):
    path, _ = sim_config(sim, tmp_path, max_attempts=1)
    config = parse_config(path.read_text(), path)
    run_cli("--config", str(path), "pause", "--roaster", "dune-coffee", "--reason", "robots.txt changed")
    run_cli("--config", str(path), "fetch")
    report = health(config, Target(db_url, False))
    assert report["checks"]["pauses"]["paused"][0]["reason"] == "robots.txt changed"
    dune = report["checks"]["roasters"]["roasters"]["dune-coffee"]
    assert dune["paused"] == "robots.txt changed" and dune["ok"] and dune["last_ok_run_age_seconds"] is None
    assert report["checks"]["roasters"]["ok"]  # a paused shop is not overdue
    samples = [s for f in text_string_to_metric_families(metrics(config, Target(db_url, False)))
               if f.name == "coffee_paused" for s in f.samples]
    assert [(s.labels, s.value) for s in samples] == [({"scope": "dune-coffee", "reason": "robots.txt changed"}, 1.0)]


def test_bad_pause_input_is_one_line_and_exit_2(tmp_path, db, db_url, sim):
    path, _ = sim_config(sim, tmp_path)
    env = {"COFFEE_DATABASE_URL": db_url}
    for args in (["pause", "--roaster", "nope", "--reason", "x"], ["pause", "--reason", "   "],
                 ["pause", "--roaster", "blue-peak"], ["unpause", "--roaster", "x'; drop table control.pauses; --"]):
        result = run_process("--config", str(path), *args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "Traceback" not in result.stderr and result.stdout == "", (args, result.stderr)
    assert db.execute("select count(*) from control.pauses").fetchone()[0] == 0
