"""The runbook's twelve scenarios (runner/sandbox/scenario_book.py), one test each: staged on the
simulator, detected and repaired with only the commands of the docs' scenarios table (real processes), and
ending with every day complete and every run equal to what the shops served."""

from __future__ import annotations

import datetime as dt

import pytest

from runner.sandbox.scenario_book import BY_NAME, run
from runner.sandbox.scenario_harness import World, build_world, mismatches, write_config
from runner.sandbox.simulator import Simulator
from tests.runner.helpers import TODAY

# Not in the default suite: `pytest -m scenarios` (about 5 CPU-minutes; .ci/run and the
# the README's test command run it after the default suite). Each worker builds the world once.
pytestmark = pytest.mark.scenarios


@pytest.fixture(scope="session")
def scenario_sim():
    """Every past day is in the archive."""
    with Simulator(today=TODAY, archive_coverage=1.0) as sim:
        yield sim


@pytest.fixture(scope="session")
def history_template(templates, scenario_sim, tmp_path_factory):
    def build(target, env):
        home = tmp_path_factory.mktemp("scenario-world")
        world = World(scenario_sim, home / "unused.yml", target, TODAY, home)
        env.setenv("COFFEE_NOW", world.now().isoformat())
        scenario_sim.reset()
        build_world(scenario_sim, home, target, TODAY)

    return templates("scenario_world", build)


@pytest.fixture
def history(db_url, scenario_sim, tmp_path, target, monkeypatch):
    """The world, on this test's copy of the template."""
    scenario_sim.reset()
    scenario_sim.state.today = TODAY
    path = write_config(scenario_sim, tmp_path, TODAY - dt.timedelta(days=3))
    world = World(scenario_sim, path, target, TODAY, tmp_path)
    monkeypatch.setenv("COFFEE_NOW", world.now().isoformat())
    return world


def _repaired(world: World, name: str, **kwargs) -> None:
    outcome = run(world, BY_NAME[name], **kwargs)
    assert outcome.detected is None, outcome.detected
    assert [c["exit"] for c in outcome.commands] == [0] * len(outcome.commands), outcome.commands
    assert outcome.mismatches == []


def _plan(world: World, *args: str) -> dict[tuple[str, str], tuple[str, str]]:
    ran = world.cli("plan", *args, "--json")
    assert ran.code == 0, ran.stderr[-2000:]
    return {(i["roaster_id"], i["day"]): (i["status"], i["action"]) for i in ran.json["items"]}


@pytest.mark.parametrize("name", ["partial_data_loss", "complete_data_loss", "corrupted_data", "schema_change",
                                  "system_failure", "service_restart", "validation_failures", "external_api_issues",
                                  "rate_limits"])
def test_scenario(history, name):
    _repaired(history, name)


def test_parsing_errors_a_fixed_parser_makes_exactly_the_old_days_stale(history):
    BY_NAME["parsing_errors"].stage(history)
    buggy = history.values["buggy"]
    plan = _plan(history)
    assert plan and {s for s, _ in plan.values()} == {"stale"}
    assert _plan(history, "--built-by", buggy) == plan
    assert _plan(history, "--since-version", buggy[:6]) == plan  # the buggy version and the fix after it
    _repaired(history, "parsing_errors", staged=True)
    assert _plan(history) == {}


def test_deployment_rollback_repairs_exactly_what_the_bad_release_built(history):
    BY_NAME["deployment_rollback"].stage(history)
    today = TODAY.isoformat()
    stale = _plan(history)
    assert stale == {(shop, today): ("stale", "reparse") for shop in ("aurora-beans", "blue-peak",
                                                                       "cedar-roast", "dune-coffee")}
    _repaired(history, "deployment_rollback", staged=True)
    assert _plan(history) == {}


def test_configuration_change_makes_exactly_the_moved_days_stale(history):
    scenario = BY_NAME["configuration_change"]
    scenario.stage(history)
    found = history.cli(*history.fill(scenario.detect))
    assert scenario.detected(history, found.json) is None  # exactly dune-coffee's moved days
    # one moved day repaired alone (the dashboard's command): its rows leave their old day
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    alone = history.cli("backfill", "--start", tomorrow, "--end", tomorrow, "--roaster", "dune-coffee", "--json")
    assert alone.code == 0, alone.stderr[-2000:]
    assert ("dune-coffee", tomorrow) not in _plan(history)
    for command in scenario.repair:  # then the scenarios table's commands
        ran = history.cli(*history.fill(command))
        assert ran.code == 0, ran.stderr[-2000:]
    assert mismatches(history) == []
    assert _plan(history) == {}


def test_a_currency_makes_a_shopify_roasters_days_stale_and_a_woocommerce_roasters_none(history):
    """roasters.yml's currency is read for Shopify pages only (WooCommerce pages carry their own)."""
    history.edit_config("aurora-beans", currency="CAD")  # Shopify: its prices are read in CAD now
    history.edit_config("cedar-roast", currency="CHF")  # WooCommerce: its pages say EUR
    plan = _plan(history)
    assert plan == {("aurora-beans", d.isoformat()): ("stale", "reparse") for d in history.days}


def test_a_format_change_is_named_by_verify_and_sent_as_an_alert(history):
    """Shape drift: the key blue-peak's pages lost, in verify's text and as a webhook alert."""
    from tests.runner.test_health import Webhook

    hook = Webhook()
    try:
        history.edit_monitoring(alert_webhook=hook.url)
        BY_NAME["external_api_issues"].stage(history)
        ran = history.cli("verify", "--start", history.days[0].isoformat(), "--end", TODAY.isoformat())
        drift = [line for line in ran.stdout.splitlines() if line.startswith("shape drift:")]
        assert drift == [f"shape drift: blue-peak {TODAY}: lost $.products[].variants[].price"], ran.stdout
        events = [e for e in hook.received if e["event"] == "shape_drift"]
        assert [(e["roaster_id"], e["day"], e["lost_keys"]) for e in events] == [
            ("blue-peak", TODAY.isoformat(), ["$.products[].variants[].price"])]
    finally:
        hook.close()


def test_a_comment_or_a_reformat_makes_nothing_stale(history):
    from runner.sandbox.scenario_harness import deploy

    deploy(history, "comments", "models/marts/prices.sql", "        deduped.is_sale,\n",
           "        -- a new comment\n        deduped.is_sale ,   {# and a Jinja one #}\n\n")
    assert _plan(history) == {}


def test_demo_scenario_stages_and_repairs_one_on_its_own_database(db_url, tmp_path):
    """`coffee-runner demo --scenario NAME`: its own database beside the configured one, its
    own simulator and clock; exit 0 and every check passed."""
    import json
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "runner", "demo", "--scenario", "corrupted_data", "--json"],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "COFFEE_DATABASE_URL": db_url, "COFFEE_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert doc["ok"] and doc["scenario"] == "corrupted_data" and doc["missed"] is None and doc["mismatches"] == []
    assert doc["database"].split("?")[0].endswith("_scenario_corrupted_data")
    assert [c["exit"] for c in doc["commands"]] == [0]
