"""The scenario book (runner/sandbox/scenario_book.py) itself: twelve scenarios, and the docs'
table (docs/operations/runbook.md) that gives each one's commands. The scenarios run in
tests/runner/test_scenarios.py."""

from __future__ import annotations

import re
from pathlib import Path

from runner.sandbox.scenario_book import BY_NAME, SCENARIOS, find

ROOT = Path(__file__).resolve().parents[2]


def _table_row(name: str) -> str:
    """The scenarios table's row of scenario `name`, which starts with the runbook's name for it."""
    page = (ROOT / "docs" / "operations" / "runbook.md").read_text(encoding="utf-8")
    table = page[page.index("## The runbook's scenarios"):]
    return next(line for line in table.splitlines() if line.startswith(f"| {BY_NAME[name].title} (`{name}`) |"))


RUNBOOK_NAMES = (  # as the runbook's "Backfill Scenarios" writes them
    "Partial Data Loss", "Complete Data Loss", "Corrupted Data", "Schema Changes",
    "System Failure", "Service Restart", "Deployment Issues", "Configuration Changes",
    "Validation Failures", "Parsing Errors", "External API Issues", "Rate Limit Issues",
)


def test_the_book_has_the_runbooks_twelve_scenarios_under_their_names():
    assert len(SCENARIOS) == 12 and len(BY_NAME) == 12
    assert tuple(s.title for s in SCENARIOS) == RUNBOOK_NAMES


def test_a_scenario_is_found_by_either_name():
    assert find("rate_limits") is find("Rate Limit Issues") is find("rate  limit ISSUES") is BY_NAME["rate_limits"]
    assert find("Rate Limits") is None and find("") is None


def test_the_docs_table_gives_each_scenarios_commands():
    """The scenarios table is what the tests run: each scenario's repair commands,
    with FIRST, LAST, TODAY... for the world's values."""
    names = {"first": "FIRST", "last": "LAST", "today": "TODAY", "tomorrow": "TOMORROW", "bad": "V",
             "backup": "BACKUP"}
    for scenario in SCENARIOS:
        row = _table_row(scenario.name)
        for command in scenario.repair:
            shown = " ".join(a.format(**names) for a in command if a != "--json")
            assert f"`coffee-runner {shown}`" in row, (scenario.name, shown)


def test_each_scenario_of_the_docs_table_names_a_test_that_exists():
    """The table's last column names the test that proves the row: it must be there."""
    tests = (ROOT / "tests" / "runner" / "test_scenarios.py").read_text(encoding="utf-8")
    for scenario in SCENARIOS:
        row = _table_row(scenario.name)
        named = row.rstrip(" |").rsplit("|", 1)[1].strip().strip("`")
        if named.startswith("test_scenario["):
            assert named == f"test_scenario[{scenario.name}]" and f'"{scenario.name}"' in tests, row
        else:
            assert re.search(rf"^def {re.escape(named)}\(", tests, re.MULTILINE), row
