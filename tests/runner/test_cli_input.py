"""Bad operator input: malformed or hostile dates, ranges, roaster ids, dbt vars and
config values. Each gets exit 2 and one clear line; nothing runs, nothing changes, no
shell or SQL fragment is ever executed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.runner.helpers import run_cli, run_process, sim_config

SENTINEL = "coffee-pwned"
RAW_AND_CONTROL = ("raw.roasters", "raw.scrape_runs", "raw.scrape_artifacts", "control.backfills",
                   "control.backfill_items", "control.acknowledged_gaps", "quarantine.batches")


def _state(db) -> dict:
    return {t: db.execute(f"select xmin::text, * from {t} order by 1").fetchall() for t in RAW_AND_CONTROL}


@pytest.fixture
def configured(sim, tmp_path, db):
    path, _ = sim_config(sim, tmp_path)
    assert run_process("--config", str(path), "init").returncode == 0
    return path


def _hostile(tmp_path: Path) -> list[str]:
    sentinel = tmp_path / SENTINEL
    return [f"$(touch {sentinel})", f"`touch {sentinel}`", f"; touch {sentinel}", "x' or '1'='1",
            "x'); drop table raw.roasters; --", "../../etc/passwd", "a\nb", "\x00", "ä"]


@pytest.mark.parametrize("command", [
    ["backfill", "--start", "{v}", "--end", "2026-03-02"],
    ["plan", "--start", "2026-03-01", "--end", "{v}"],
    ["gaps", "--start", "{v}", "--end", "2026-03-02"],
    ["verify", "--start", "2026-03-01", "--end", "{v}"],
    ["assess", "--start", "{v}", "--end", "2026-03-02"],
    ["backfill", "--start", "2026-03-01", "--end", "2026-03-02", "--roaster", "{v}"],
    ["gaps", "--start", "2026-03-01", "--end", "2026-03-02", "--roaster", "{v}"],
    ["fetch", "--roaster", "{v}"],
    ["backfill", "--resume", "{v}"],
    ["restore", "{v}"],
    ["plan", "--built-by", "{v}"],
    ["backfill", "--since-version", "{v}"],
    ["demo", "--scenario", "{v}"],
])
def test_hostile_values_exit_2_with_one_line_and_change_nothing(command, configured, tmp_path, db):
    before = _state(db)
    for value in _hostile(tmp_path):
        if "\x00" in value and any(part == "{v}" for part in command):
            continue  # argv cannot carry NUL: the OS refuses before we run
        args = [part.replace("{v}", value) for part in command]
        result = run_cli("--config", str(configured), *args)  # in-process: the same click exit codes
        assert result.exit_code == 2, (args, result.output)
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
        assert len(errors) == 1, (args, result.stderr)  # click may add its Usage/Try lines
        assert "Traceback" not in result.output
        assert result.stdout == ""
    assert not (tmp_path / SENTINEL).exists()
    assert _state(db) == before


@pytest.mark.parametrize(("field", "value", "message"), [
    ("id", "a; rm -rf /", "field 'id'"),
    ("id", "x') or true --", "field 'id'"),
    ("base_url", "file:///etc/passwd", "field 'base_url'"),
    ("base_url", "javascript:alert(1)", "field 'base_url'"),
    ("timezone", "UTC'; drop table raw.roasters; --", "field 'timezone'"),
    ("rate_limit_rps", "$(touch coffee-pwned)", "field 'rate_limit_rps'"),
    ("rate_limit_rps", 1e308, "field 'rate_limit_rps'"),
    ("currency", "US$", "field 'currency'"),
    ("platform", "shopify; drop", "field 'platform'"),
    ("since", "2026-02-30", "field 'since'"),
])
def test_hostile_config_values_exit_2_naming_the_field(field, value, message, sim, tmp_path, db):
    path, _ = sim_config(sim, tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["roasters"][0][field] = value
    path.write_text(yaml.safe_dump(doc))
    before = _state(db)
    for command in (["fetch"], ["backfill", "--start", "2026-03-01", "--end", "2026-03-02"]):
        result = run_process("--config", str(path), *command, env={"PWD": str(tmp_path)})
        assert result.returncode == 2, (command, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (Path.cwd() / SENTINEL).exists() and not (tmp_path / SENTINEL).exists()
    assert _state(db) == before


def test_user_agent_with_a_newline_cannot_inject_headers(sim, tmp_path, db):
    path, _ = sim_config(sim, tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["user_agent"] = "coffee-runner\r\nX-Injected: yes"
    path.write_text(yaml.safe_dump(doc))
    result = run_process("--config", str(path), "fetch")
    assert result.returncode == 2 and "user_agent" in result.stderr, result.stderr


def test_free_text_is_stored_verbatim_never_executed(configured, tmp_path, db):
    """--reason is free text: it is a bound parameter, so SQL in it is only text."""
    reason = "offline'); drop table raw.roasters; --"
    result = run_process("--config", str(configured), "gaps", "--start", "2026-03-01", "--end", "2026-03-01",
                         "--roaster", "blue-peak", "--acknowledge", "--reason", reason)
    assert result.returncode in (0, 1), result.stderr  # 1: gaps remain (they are acknowledged)
    assert db.execute("select reason from control.acknowledged_gaps").fetchone()[0] == reason
    assert db.execute("select count(*) from raw.roasters").fetchone()[0] == 4


@pytest.mark.parametrize(("url", "code"), [
    ("not a url", 2), ("mysql://x:hunter2@y/z", 2), ("host=/tmp password=hunter2", 2),
    ("postgresql://u:hunter2@/db?host=/nonexistent&sslmode=bogus", 1),  # well-formed, unusable: not input
])
def test_malformed_database_url_exits_with_one_line(configured, url, code):
    for command in (["assess"], ["fetch"], ["init"]):
        result = run_process("--config", str(configured), *command, env={"COFFEE_DATABASE_URL": url})
        assert result.returncode == code, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
        assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


def test_environment_is_not_a_shell(configured, tmp_path):
    """`coffee-runner env` output is eval'd by operators: hostile values stay quoted."""
    home = tmp_path / "home $(touch coffee-pwned)"
    result = run_process("--config", str(configured), "env", env={"COFFEE_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    subprocess.run(["bash", "-c", 'eval "$1"', "_", result.stdout], cwd=tmp_path, capture_output=True, check=True)
    assert not (tmp_path / SENTINEL).exists()


@pytest.mark.parametrize(("args", "message"), [
    (["plan", "--built-by", "abc"], "at least 4 characters"),
    (["plan", "--built-by", "0123abcd"], "no build recorded that version"),
    (["plan", "--built-by", "0123abcd", "--since-version", "0123abcd"], "go separately"),
    (["plan", "--start", "2026-03-01"], "both --start and --end"),
    (["backfill"], "--built-by or --since-version"),
    (["backfill", "--resume", "--built-by", "0123abcd"], "--resume takes no"),
    (["demo", "--scenario", "no_such_scenario"], "is not one of partial_data_loss"),
])
def test_version_and_scenario_options_refuse_bad_input_with_one_line(args, message, configured, db):
    before = _state(db)
    result = run_cli("--config", str(configured), *args)
    assert result.exit_code == 2, (args, result.output)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0], (args, result.stderr)
    assert _state(db) == before
