"""Bad operator input: malformed or hostile dates, ranges, roaster ids, dbt vars and
config values. Each gets exit 2 and one clear line; nothing runs, nothing changes, no
shell or SQL fragment is ever executed."""

from __future__ import annotations

import os
import re
import subprocess
import zoneinfo
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


@pytest.mark.parametrize(("args", "message"), [
    (["plan", "--start", "0001-01-01", "--end", "0001-01-02"], "outside the days the runner handles"),
    (["backfill", "--start", "9999-12-31", "--end", "9999-12-31"], "outside the days the runner handles"),
    (["gaps", "--start", "2026-02-30", "--end", "2026-03-01"], "is not a date"),
    (["plan", "--concurrency", "0", "--start", "2026-03-01", "--end", "2026-03-01"], "--concurrency must be"),
    (["backfill", "--resume="], "the backfill id is empty"),
    (["backfill", "--start", "2026-03-01", "--end", "2026-03-01", "--timeout", "nan"], "not a finite number"),
    (["backfill", "--start", "2026-03-01", "--end", "2026-03-01", "--max-failure-rate", "inf"], "not a finite"),
    (["health", "--serve", "--port", "70000"], "0<=x<=65535"),
    (["serve", "--port", "-1"], "0<=x<=65535"),
    (["simulate", "--port", "65536"], "0<=x<=65535"),
    (["simulate", "--rps", "nan"], "not a finite number"),
    (["simulate", "--today", "0001-01-01"], "outside the days the runner handles"),
    (["plan", "--built-by", ""], "the version is empty"),
    (["plan", "--since-version", " "], "the version is empty"),
    (["report", "--html", ""], "the folder name is empty"),
    (["report", "--html", "/proc/self"], "cannot write there"),
    (["report", "--html", "{file}"], "exists and is not a folder"),
    (["restore"], "a backup FILE, or --drop-set-aside"),
])
def test_every_entry_point_refuses_out_of_range_and_empty_values(args, message, configured, db, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    before = _state(db)
    result = run_cli("--config", str(configured), *[a.replace("{file}", str(a_file)) for a in args])
    assert result.exit_code == 2, (args, result.output)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0], (args, result.stderr)
    assert _state(db) == before


@pytest.mark.parametrize(("env", "message"), [
    ({"COFFEE_NOW": "9999-12-31T23:00:00+00:00"}, "COFFEE_NOW: 9999-12-31 is outside the days"),
    ({"COFFEE_HOME": "{file}"}, "cannot create"),
    ({"COFFEE_HOME": "/proc/self/coffee"}, "cannot create"),
])
def test_unusable_environment_values_exit_2_with_one_line(env, message, configured, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    env = {k: v.replace("{file}", str(a_file)) for k, v in env.items()}
    if "COFFEE_HOME" in env:
        env["COFFEE_DATABASE_URL"] = ""  # the embedded server lives in $COFFEE_HOME
    result = run_process("--config", str(configured), "plan", "--start", "2026-03-01", "--end", "2026-03-01", env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


NEVER_FIRES = "0 0 30 2 *"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda text: text.replace("roasters:\n", f"schedule: '{NEVER_FIRES}'\nroasters:\n", 1), "never fires"),
    (lambda text: re.sub(r"(?m)^  since: .*$", "  since: 2026-02-30", text, count=1), "field 'since'"),
    (lambda text: re.sub(r"(?m)^  timezone: .*$", "  timezone: posix/Europe/Paris", text, count=1),
     "field 'timezone'"),
])
def test_config_values_that_validate_would_run(edit, message, sim, tmp_path, db):
    """The file's own check: a schedule that never fires, an unquoted impossible date,
    a zone file name no server knows. One line naming file, roaster and field; exit 2."""
    path, _ = sim_config(sim, tmp_path)
    path.write_text(edit(path.read_text()))
    for command in (["plan", "--start", "2026-03-01", "--end", "2026-03-01"], ["serve", "--port", "0"]):
        result = run_process("--config", str(path), *command)
        assert result.returncode == 2, (command, result.stderr[-2000:])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0] and str(path) in lines[0], result.stderr


def test_a_zone_python_knows_and_postgresql_does_not_is_refused_before_anything_is_written(sim, tmp_path, db):
    """A zone added to Python's tz database (PYTHONTZPATH) that the server has never heard of."""
    zones = tmp_path / "zoneinfo"
    (zones / "Coffee").mkdir(parents=True)
    (zones / "Coffee" / "Nowhere").write_bytes(Path(zoneinfo.TZPATH[0], "UTC").read_bytes())
    path, _ = sim_config(sim, tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["roasters"][0]["timezone"] = "Coffee/Nowhere"
    path.write_text(yaml.safe_dump(doc))
    before = _state(db)
    for command in (["init"], ["fetch"], ["serve", "--port", "0"], ["health", "--serve", "--port", "0"],
                    ["report", "--html", str(tmp_path / "out")], ["cleanup"]):
        tzpath = os.pathsep.join([str(zones), *zoneinfo.TZPATH])  # the system's zones, and one more
        result = run_process("--config", str(path), *command, env={"PYTHONTZPATH": tzpath})
        assert result.returncode == 2, (command, result.stderr[-2000:])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "PostgreSQL does not know 'Coffee/Nowhere'" in lines[0], result.stderr
    assert _state(db) == before
