"""The runbook's own commands, unchanged, on the embedded PostgreSQL.

This is the new user's path: no COFFEE_DATABASE_URL, `eval "$(coffee-runner env)"`,
then plain `dbt` and `psql -d coffee_scraper -c "..."` from the repo root.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.simulator import Simulator
from tests.runner.helpers import sim_config

QUERIES = [q for q in (Path(__file__).parent / "data" / "runbook_selects.txt").read_text().splitlines()
           if q.startswith("SELECT")]
REPO = Path(__file__).resolve().parents[2]


def shell(home: Path, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COFFEE_", "PG", "DBT_"))}
    env["COFFEE_HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"  # the venv's coffee-runner
    return subprocess.run(["bash", "-c", f'set -e\neval "$(coffee-runner env)"\n{script}'], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def embedded_home(tmp_path):
    home = tmp_path / "coffee"
    yield home
    shell(home, "pg_ctl -D \"$COFFEE_HOME/pg\" -m fast stop >/dev/null")


def test_runbook_selects_dbt_build_freshness_docs_and_snapshots(embedded_home, tmp_path, monkeypatch):
    with Simulator() as sim:
        path, _ = sim_config(sim, tmp_path)
        fetched = shell(embedded_home, f"coffee-runner --config {path} fetch")
    assert fetched.returncode == 0, fetched.stderr
    built = shell(embedded_home, "dbt build && dbt source freshness && dbt docs generate --no-compile")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
    assert "Catalog written" in built.stdout
    answers = {}
    for query in QUERIES:
        run = shell(embedded_home, f'psql -X -A -t -d coffee_scraper -c "{query}"')
        assert run.returncode == 0, (query, run.stderr)
        answers[query] = run.stdout.strip()
    assert answers["SELECT COUNT(*) FROM scrape_runs;"] == "4"
    assert answers["SELECT status, COUNT(*) FROM scrape_runs GROUP BY status;"] == "ok|4"
    assert int(answers["SELECT COUNT(*) FROM prices;"]) > 100
    assert answers["SELECT COUNT(*) FROM prices WHERE variant_id NOT IN (SELECT id FROM variants);"] == "0"
    assert answers["SELECT variant_id, scraped_at, COUNT(*) FROM prices GROUP BY variant_id, scraped_at "
                   "HAVING COUNT(*) > 1;"] == ""
    snap = shell(embedded_home, 'psql -X -A -t -d coffee_scraper -c "select count(*) from snapshots.variants_snapshot"')
    assert int(snap.stdout.strip()) > 100


def test_sql_is_lint_clean(embedded_home):
    """sqlfluff with the dbt templater over every model and singular test."""
    (embedded_home).mkdir(parents=True, exist_ok=True)
    lint = shell(embedded_home, "sqlfluff lint models tests --nocolor")
    assert lint.returncode == 0, lint.stdout[-4000:]
    assert "All Finished" in lint.stdout
