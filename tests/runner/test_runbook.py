"""The runbook's own commands, unchanged, on the embedded PostgreSQL.

This is the new user's path: no COFFEE_DATABASE_URL, `eval "$(coffee-runner env)"`,
then plain `dbt` and `psql -d coffee_scraper -c "..."` from the repo root.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.acquire.platforms import WOO_ROUTES
from runner.sandbox.simulator import Simulator
from tests.runner.helpers import CLOCK, TODAY, sim_config

QUERIES = [q for q in (Path(__file__).parent / "data" / "runbook_selects.txt").read_text().splitlines()
           if q.startswith("SELECT")]
REPO = Path(__file__).resolve().parents[2]


def shell(home: Path, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COFFEE_", "PG", "DBT_"))}
    env["COFFEE_HOME"] = str(home)
    env["COFFEE_NOW"] = CLOCK.isoformat()  # today is TODAY for the runner, dbt and the simulator
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # the venv's coffee-runner
    return subprocess.run(["bash", "-c", f'set -e\neval "$(coffee-runner env)"\n{script}'], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def embedded_home(tmp_path):
    home = tmp_path / "coffee"
    yield home
    shell(home, "pg_ctl -D \"$COFFEE_HOME/pg\" -m fast stop >/dev/null")


def _database_date(home: Path) -> dt.date:
    """The server's own date: `created_at` columns are stamped by it, not by the runner's clock."""
    return dt.date.fromisoformat(shell(home, 'psql -X -A -t -d coffee_scraper -c "select current_date"').stdout.strip())


def test_runbook_selects_dbt_build_freshness_docs_and_snapshots(embedded_home, tmp_path, monkeypatch):
    with Simulator(today=TODAY) as sim:
        path, _ = sim_config(sim, tmp_path)
        fetched = shell(embedded_home, f"coffee-runner --config {path} fetch")
        requests = [r for r in sim.requests() if not r.path.startswith("/_sim/")]
        served = Counter(r.shop for r in requests)
        # a shop on the older WooCommerce route answers the v1 route's probe with a 404 (invalid)
        probed = {r.shop for r in requests if WOO_ROUTES[0] in r.path} & {r.shop for r in requests
                                                                          if WOO_ROUTES[1] in r.path}
        priced = {shop.id: len(sim.truth(shop.id, sim.state.day_for(shop))) for shop in sim.state.shops.values()}
    assert fetched.returncode == 0, fetched.stderr
    built = shell(embedded_home, "dbt build && dbt source freshness && dbt docs generate --no-compile")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
    assert "Catalog written" in built.stdout
    answers = _answers(embedded_home, QUERIES)
    assert set(answers) == set(EXPECTED), "every runbook SELECT has its expected answer"
    facts = {"shops": sorted(priced), "served": served, "priced": priced, "probes": len(probed),
             "stamped": _database_date(embedded_home)}  # created_at is the server's clock
    for query, check in EXPECTED.items():
        assert check(_rows(answers[query]), facts), (query, answers[query])
    snap = shell(embedded_home, 'psql -X -A -t -d coffee_scraper -c "select count(*) from snapshots.variants_snapshot"')
    assert int(snap.stdout.strip()) == sum(priced.values())


def _answers(home: Path, queries: list[str]) -> dict[str, str]:
    """Each query's output, as psql prints it run alone (`-A -t`); one shell for them all."""
    separator = "-- next query --"
    script = "\n".join(f'psql -X -A -t -d coffee_scraper -c "{q}"\necho "{separator}"' for q in queries)
    run = shell(home, script)
    assert run.returncode == 0, run.stderr
    outputs = run.stdout.split(separator + "\n")
    assert len(outputs) == len(queries) + 1 and outputs[-1] == "", run.stdout[-2000:]
    return {q: out.strip() for q, out in zip(queries, outputs, strict=False)}


def _rows(answer: str) -> list[list[str]]:
    return [line.split("|") for line in answer.splitlines()] if answer else []


def _per_shop(rows: list[list[str]]) -> dict[str, int]:
    return {shop: int(n) for shop, n in rows}


def _recent(rows: list[list[str]], facts: dict) -> bool:
    """SELECT * ... LIMIT 10: one row per run, newest first; each names its shop and is ok."""
    shops = [next(c for c in r if c in facts["shops"]) for r in rows]
    return sorted(shops) == facts["shops"] and all("ok" in r for r in rows)


def _validation(rows: list[list[str]], facts: dict) -> bool:
    expected = {"valid": sum(facts["served"].values()) - facts["probes"], "invalid": facts["probes"]}
    return _per_shop(rows) == {k: v for k, v in expected.items() if v}


# The state the test created: one live fetch of the four simulator shops, then `dbt build`.
# Each answer is checked against what the simulator served and priced, not against itself.
EXPECTED: dict[str, Callable[[list[list[str]], dict], bool]] = {
    "SELECT COUNT(*) FROM scrape_runs;": lambda rows, f: rows == [["4"]],
    "SELECT COUNT(*) FROM scrape_artifacts;": lambda rows, f: rows == [[str(sum(f["served"].values()))]],
    "SELECT COUNT(*) FROM prices;": lambda rows, f: rows == [[str(sum(f["priced"].values()))]],
    "SELECT COUNT(*) FROM variants;": lambda rows, f: rows == [[str(sum(f["priced"].values()))]],
    "SELECT status, COUNT(*) FROM scrape_runs GROUP BY status;": lambda rows, f: rows == [["ok", "4"]],
    "SELECT validation_status, COUNT(*) FROM scrape_artifacts GROUP BY validation_status;": _validation,
    "SELECT * FROM scrape_runs ORDER BY created_at DESC LIMIT 10;": _recent,
    "SELECT roaster_id, MIN(created_at), MAX(created_at) FROM scrape_runs GROUP BY roaster_id;":
        lambda rows, f: sorted(r[0] for r in rows) == f["shops"] and all(r[1] == r[2] for r in rows),
    "SELECT roaster_id, DATE(created_at) as date, COUNT(*) FROM scrape_runs GROUP BY roaster_id, DATE(created_at) "
    "ORDER BY roaster_id, date;":
        lambda rows, f: [r[0] for r in rows] == f["shops"] and all(r[2] == "1" for r in rows)
        and {r[1] for r in rows} <= {str(f["stamped"]), str(f["stamped"] - dt.timedelta(days=1))},
    "SELECT COUNT(*) FROM scrape_runs WHERE created_at > NOW() - INTERVAL '1 hour';": lambda rows, f: rows == [["4"]],
    "SELECT validation_status, COUNT(*) FROM scrape_artifacts WHERE created_at > NOW() - INTERVAL '1 hour' "
    "GROUP BY validation_status;": _validation,
    "SELECT status, COUNT(*) FROM scrape_runs WHERE created_at > NOW() - INTERVAL '1 hour' GROUP BY status;":
        lambda rows, f: rows == [["ok", "4"]],
    # psql's own query is the active one (no runner process is left connected)
    "SELECT * FROM pg_stat_activity WHERE state = 'active';":
        lambda rows, f: len(rows) == 1 and any("pg_stat_activity" in c for c in rows[0]),
    "SELECT roaster_id, COUNT(*) FROM scrape_runs GROUP BY roaster_id;":
        lambda rows, f: _per_shop(rows) == dict.fromkeys(f["shops"], 1),
    "SELECT roaster_id, COUNT(*) FROM scrape_artifacts GROUP BY roaster_id;":
        lambda rows, f: _per_shop(rows) == dict(f["served"]),
    "SELECT roaster_id, COUNT(*) FROM prices GROUP BY roaster_id;": lambda rows, f: _per_shop(rows) == f["priced"],
    "SELECT 1;": lambda rows, f: rows == [["1"]],
    "SELECT COUNT(*) FROM prices WHERE variant_id NOT IN (SELECT id FROM variants);": lambda rows, f: rows == [["0"]],
    "SELECT COUNT(*) FROM variants WHERE roaster_id NOT IN (SELECT id FROM roasters);": lambda rows, f: rows == [["0"]],
    "SELECT variant_id, scraped_at, COUNT(*) FROM prices GROUP BY variant_id, scraped_at HAVING COUNT(*) > 1;":
        lambda rows, f: rows == [],
}


LINT_RANGES = ('{"start_date": "2026-01-01", "end_date": "2026-01-02"}',
               '{"start_date": "2026-01-01", "end_date": "2026-01-02", "roasters": ["a", "b"]}')


def test_sql_is_lint_clean(embedded_home, tmp_path):
    """sqlfluff with the dbt templater over every model, macro and singular test; then the
    macros no model calls (generic tests, incremental strategies) through their harnesses
    in analyses/lint_macros/, rendered with a range of days and of roasters, on a migrated
    database (the strategies read the control tables while they render)."""
    (embedded_home).mkdir(parents=True, exist_ok=True)
    lint = shell(embedded_home, "sqlfluff lint models macros tests --nocolor")
    assert lint.returncode == 0, lint.stdout[-4000:]
    assert "All Finished" in lint.stdout
    config = tmp_path / "roasters.yml"
    config.write_text("roasters: []\n", encoding="utf-8")
    for value in LINT_RANGES:
        lint = shell(embedded_home, f"coffee-runner --config {config} init >/dev/null\n"
                                    f"COFFEE_DBT_RANGE='{value}' sqlfluff lint analyses --nocolor")
        assert lint.returncode == 0 and "All Finished" in lint.stdout, (value, lint.stdout[-4000:])
        assert "Skipped file" not in lint.stdout + lint.stderr, (value, lint.stdout[-4000:], lint.stderr[-2000:])


def test_every_macro_no_model_calls_has_a_lint_harness():
    """A generic test or incremental strategy added without a harness would go unlinted."""
    harnesses = " ".join(p.read_text() for p in (REPO / "analyses" / "lint_macros").glob("*.sql"))
    macros = [*(REPO / "macros" / "tests").glob("*.sql"), *(REPO / "macros").glob("*/get_incremental_*.sql")]
    unlinted = [p.name for p in macros if f"{'test_' if p.parent.name == 'tests' else ''}{p.stem}(" not in harnesses]
    assert unlinted == []


