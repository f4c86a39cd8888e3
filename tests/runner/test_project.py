"""The slug and currency rules have one home, dbt_project.yml: Python and the database follow it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from runner.core import dbt_project as project
from runner.core.config import parse_config
from runner.core.errors import InputError
from runner.store.db import sync_rule_checks

REPO = Path(__file__).resolve().parents[2]
CONFIG = """roasters:
  - {id: %s, name: X, platform: shopify, base_url: "https://x.example", currency: %s}
"""


@pytest.fixture
def project_with(tmp_path, monkeypatch):
    """A copy of the dbt project whose dbt_project.yml says something else."""
    def make(old: str, new: str) -> Path:
        folder = tmp_path / "project"
        folder.mkdir()
        text = (REPO / "dbt_project.yml").read_text(encoding="utf-8")
        assert old in text
        (folder / "dbt_project.yml").write_text(text.replace(old, new), encoding="utf-8")
        monkeypatch.setenv("COFFEE_DBT_PROJECT_DIR", str(folder))
        project.rules.cache_clear()
        return folder

    yield make
    project.rules.cache_clear()


def test_the_config_and_the_database_follow_the_projects_slug_rule(project_with, db):
    path = Path("roasters.yml")
    with pytest.raises(InputError, match=r"'id': must be a slug like 'blue-tokai' \(\[a-z0-9\]\[a-z0-9-\]\*\)"):
        parse_config(CONFIG % ("blue_tokai", "USD"), path)
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("insert into raw.roasters (id, name, platform, base_url) values ('a_b', 'A', 'shopify', 'x')")
    project_with("slug_pattern: '^[a-z0-9][a-z0-9-]*$'", "slug_pattern: '^[a-z0-9][a-z0-9_-]*$'")
    assert parse_config(CONFIG % ("blue_tokai", "USD"), path).roasters[0].id == "blue_tokai"
    assert sync_rule_checks(db) == ["roasters_id_check"]  # the currency rule did not change
    assert sync_rule_checks(db) == []  # and once is enough
    db.execute("insert into raw.roasters (id, name, platform, base_url) values ('a_b', 'A', 'shopify', 'x')")


def test_the_currency_rule_comes_from_the_project_too(project_with, db):
    path = Path("roasters.yml")
    assert parse_config(CONFIG % ("x", "USD"), path).roasters[0].currency == "USD"
    project_with("currency_pattern: '^[A-Z]{3}$'", "currency_pattern: '^[A-Z]{3}[0-9]?$'")
    assert parse_config(CONFIG % ("x", "USD1"), path).roasters[0].currency == "USD1"
    assert sync_rule_checks(db) == ["roasters_currency_check"]
    db.execute("insert into raw.roasters (id, name, platform, base_url, currency) "
               "values ('y', 'Y', 'shopify', 'x', 'EUR2')")


def test_a_project_without_the_rules_is_one_clear_error(project_with):
    project_with("  slug_pattern:", "  old_slug_pattern:")
    with pytest.raises(InputError, match=r"dbt_project\.yml: vars slug_pattern missing"):
        project.rules()
