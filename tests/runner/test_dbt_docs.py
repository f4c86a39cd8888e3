"""The dbt project documents itself as its readers need: `dbt docs generate` passes, every
node is described, every mart and ops column (as the database has it) is described, the
relations read by column name outside dbt have enforced contracts, every model has a
primary-key test, and the exposures name what their readers really read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runner.core.dbt_project import project_dir
from tests.runner.helpers import dbt

# Read by column name outside dbt (runner/, the dashboard, the runbook's psql).
CONTRACTED = {"prices", "variants", "roasters", "scrape_runs", "scrape_artifacts", "rejected_items",
              "coverage_daily", "gaps"}
KEY_TESTS = {"unique", "unique_combination"}
# The macros that read or write control tables (and the roaster list) during a build.
BOOKKEEPING_MACROS = ("get_incremental_coverage_replace_sql", "coverage_since", "coverage_needs_recount",
                      "record_coverage_check", "log_full_rebuild", "get_incremental_range_replace_sql",
                      "validate_range_vars", "new_artifact_range")


@pytest.fixture(scope="module")
def docs(tmp_path_factory, pg_admin_url):
    """One `dbt docs generate` on a built database: its manifest and catalog."""
    from runner.store.db import Target
    from tests.runner.conftest import TEMPLATE, _create, _drop, with_database

    name = "dbt_docs_probe"
    _create(pg_admin_url, name, TEMPLATE)
    home = tmp_path_factory.mktemp("docs-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COFFEE_HOME", str(home))
        result = dbt(Target(url=with_database(pg_admin_url, name), embedded=False), "docs", "generate")
    _drop(pg_admin_url, name)
    assert result.ok, result.output[-3000:]
    target = Path(result.target_path)
    return json.loads((target / "manifest.json").read_text()), json.loads((target / "catalog.json").read_text())


def _models(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def test_every_node_has_a_description(docs):
    manifest, _ = docs
    nodes = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed", "snapshot")]
    nodes += list(manifest["sources"].values()) + list(manifest["exposures"].values())
    undescribed = [n["unique_id"] for n in nodes if not n["description"].strip()]
    assert nodes and undescribed == []


def test_every_mart_and_ops_column_is_described(docs):
    manifest, catalog = docs
    missing = []
    for node in _models(manifest):
        if node["schema"] not in ("marts", "ops"):
            continue
        described = {name for name, col in node["columns"].items() if col["description"].strip()}
        actual = set(catalog["nodes"][node["unique_id"]]["columns"])
        missing += [f"{node['name']}.{c}" for c in sorted(actual - described)]
    assert missing == []


def test_models_keep_a_grain_line(docs):
    manifest, _ = docs
    without = [n["name"] for n in _models(manifest) if not re.search(r"\bOne row per\b", n["description"])]
    assert without == []


def test_contracts_are_enforced_on_what_outside_readers_read(docs):
    manifest, _ = docs
    enforced = {n["name"] for n in _models(manifest) if n["contract"]["enforced"]}
    assert enforced == CONTRACTED


def test_every_model_has_a_primary_key(docs):
    manifest, _ = docs
    keyed = set()
    for node in _models(manifest):
        has_constraint = any(c["type"] == "primary_key" for c in node["constraints"]) or any(
            c["type"] == "primary_key" for col in node["columns"].values() for c in col["constraints"])
        if has_constraint:
            keyed.add(node["unique_id"])
    for test in manifest["nodes"].values():
        if test["resource_type"] == "test" and (test.get("test_metadata") or {}).get("name") in KEY_TESTS:
            keyed.update(test["depends_on"]["nodes"])
    unkeyed = [n["name"] for n in _models(manifest) if n["unique_id"] not in keyed]
    assert unkeyed == []


def test_exposures_depend_on_what_their_readers_query(docs):
    manifest, _ = docs
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert exposures["dashboard"]["type"] == "dashboard"
    read = {name: {dep.split(".")[-1] for dep in e["depends_on"]["nodes"]} for name, e in exposures.items()}
    web = "\n".join(p.read_text() for p in (Path(project_dir()) / "runner" / "web").glob("*.py"))
    assert read["dashboard"] == set(re.findall(r"\b(?:marts|ops)\.([a-z_]+)", web))
    assert {"runbook_queries", "service_metrics", "runner_cli"} <= set(exposures)


def test_only_staging_models_read_sources(docs):
    """Models select from sources only in staging; the macros that keep the build's own
    books (docs/decisions.md) are the one documented exception."""
    manifest, _ = docs
    readers = [n["name"] for n in _models(manifest) if "source(" in n["raw_code"] and not n["name"].startswith("stg_")]
    macros = sorted(m["name"] for m in manifest["macros"].values()
                    if m["package_name"] == "coffee" and "source(" in m["macro_sql"])
    assert readers == []
    assert macros == sorted(BOOKKEEPING_MACROS)


def test_verify_names_its_integrity_tests(docs):
    from runner.ops.checks import INTEGRITY_TESTS

    manifest, _ = docs
    for name, prefix in INTEGRITY_TESTS.items():
        matches = [uid for uid in manifest["nodes"] if uid == prefix or uid.startswith(prefix)]
        assert len(matches) == 1, (name, matches)
