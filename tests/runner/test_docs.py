"""Everything a user copies works: the README's command blocks run in a fresh home, as a
user's shell runs them, and every command's `--json` has the top-level keys
docs/reference/cli.md lists. The set-up commands are the ones CI runs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.runner.helpers import run_cli, sim_config

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
PROJECT_FILES = ("dbt_project.yml", "profiles.example.yml", "models", "macros", "seeds", "snapshots", "tests",
                 "analyses", "runner", "pyproject.toml")


def command_blocks(markdown: str) -> list[str]:
    """The indented code blocks of a Markdown page, as text."""
    blocks, current = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("    "):
            current.append(line[4:])
        elif current and line.strip() == "":
            blocks.append("\n".join(current))
            current = []
    return blocks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _user_env(home: Path) -> dict[str, str]:
    """A new user's shell: no COFFEE_*, PG* or DBT_* settings of the test session."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COFFEE_", "PG", "DBT_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    return env


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A directory that looks like the repository's root (its project files and .venv);
    the embedded PostgreSQL its commands start (in its .coffee) is stopped after the test."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in PROJECT_FILES:
        (root / name).symlink_to(ROOT / name)
    (root / ".venv").symlink_to(VENV_BIN.parent)
    return root


def _run_script(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Runs `script` in bash in its own process group, then stops whatever it left in the
    background (the simulator, the service) and waits until they are gone."""
    out, err = cwd / "script.out", cwd / "script.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(["bash", "-e", "-c", script], cwd=cwd, env=env, stdout=stdout, stderr=stderr,
                                   start_new_session=True)
        try:
            process.wait()
        finally:
            _stop_group(process.pid)
    return subprocess.CompletedProcess(process.args, process.returncode, out.read_text(), err.read_text())


def _stop_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
        while True:  # until every process of the group is gone (raises ProcessLookupError)
            os.killpg(group, 0)
            time.sleep(0.1)


def test_the_set_up_commands_are_the_ones_ci_runs():
    blocks = command_blocks((ROOT / "README.md").read_text())
    demo, tests = blocks[0], blocks[1]
    assert demo == "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/coffee-runner demo"
    assert tests in (ROOT / ".ci" / "run").read_text()
    assert "tests/check" in tests


def test_the_readme_quick_tour_runs_in_a_fresh_home(checkout, tmp_path):
    """Every block after the two set-up commands, pasted into one shell, ports made free."""
    tour = command_blocks((ROOT / "README.md").read_text())[2:]
    assert len(tour) >= 2 and "simulate" in tour[0] and "serve" in tour[1]
    script = "\n".join(tour)
    script = script.replace("8765", str(_free_port())).replace("8000", str(_free_port()))
    env = _user_env(tmp_path / "user")
    ran = _run_script(script, checkout, env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert '"healthy": true' in ran.stdout  # the last command: the service's /health
    assert re.search(r"^\s*ok\s*\|\s*4\s*$", ran.stdout, re.MULTILINE), ran.stdout[-2000:]  # the runbook's query


def _documented_shapes() -> dict[str, set[str]]:
    """`command` -> the top-level keys its --json document has, from docs/reference/cli.md."""
    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    table = page[page.index("<!-- json-shapes -->"):page.index("<!-- /json-shapes -->")]
    shapes = {}
    for line in table.splitlines()[3:]:
        command, document = (cell.strip() for cell in line.strip("|").split("|", 1))
        text = document.split("`")[1]
        depth, keys = 0, set()
        for token in re.finditer(r'[{}\[\]]|"([a-z_]+)"', text):
            if token.group(0) in "{[":
                depth += 1
            elif token.group(0) in "}]":
                depth -= 1
            elif depth == 1:
                keys.add(token.group(1))
        shapes[command.strip("`")] = keys
    return shapes


def test_every_commands_json_has_the_documented_keys(sim, db, tmp_path):
    """Each documented command, run with --json on a database holding one scrape."""
    path, _ = sim_config(sim, tmp_path)

    def run(*args: str, ok: tuple[int, ...] = (0,)) -> dict:
        ran = run_cli("--config", str(path), *args, "--json")
        assert ran.exit_code in ok, (args, ran.output[-2000:])
        return json.loads(ran.stdout)

    got = {"init": run("init"), "fetch": run("fetch")}
    day = str(db.execute("select min(target_day) from raw.scrape_runs").fetchone()[0])
    span = ("--start", day, "--end", day)
    got["assess"] = run("assess")
    got["gaps"] = run("gaps", *span)
    got["gaps --acknowledge"] = run("gaps", "--acknowledge", "--roaster", "aurora-beans", *span, "--reason", "docs")
    got["plan"] = run("plan", *span)
    got["backfill --dry-run"] = run("backfill", *span, "--dry-run")
    got["backfill"] = run("backfill", *span)
    got["verify"] = run("verify", *span, ok=(0, 1))
    got["health"] = run("health", ok=(0, 1))
    got["backup"] = run("backup")
    got["restore"] = run("restore", "--yes", got["backup"]["file"])
    suffix = got["restore"]["set_aside"][0].split("_", 1)[1]  # raw_<suffix>
    got["restore --drop-set-aside"] = run("restore", "--drop-set-aside", suffix, "--yes")
    got["cleanup"] = run("cleanup")
    got["pause"] = run("pause", "--roaster", "aurora-beans", "--reason", "docs")
    got["unpause"] = run("unpause", "--roaster", "aurora-beans")
    got["report --html"] = run("report", "--html", str(tmp_path / "report"))
    got["digests"] = run("digests", *span)
    got["export --warc"] = run("export", "--warc", str(tmp_path / "warc"))
    got["import --warc"] = run("import", "--warc", got["export --warc"]["file"])
    shapes = _documented_shapes()
    assert set(shapes) - {"demo"} == set(got)
    for command, document in got.items():
        assert set(document) >= shapes[command], (command, sorted(document))
        assert set(document) - shapes[command] <= {"dry_run", "built_by", "since_version"}, (command, sorted(document))


REPO_DIRS = ("runner/", "tests/", "models/", "macros/", "bench/", "deploy/", "docs/", "analyses/", "seeds/",
             "snapshots/", ".ci/")
HISTORY = re.compile(r"\b(issue|session)s? \d+|\bdesign\.md\b", re.IGNORECASE)


def _pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_no_page_points_at_a_file_the_repository_lacks():
    missing = []
    for page in _pages():
        for quoted in re.findall(r"`([^`\s]+)`", page.read_text()):
            path = quoted.rstrip(".,:;)").split("::")[0]
            if path.startswith(REPO_DIRS) and not re.search(r"[*<{]", path) and not (ROOT / path).exists():
                missing.append(f"{page.relative_to(ROOT)}: {path}")
    assert missing == []


def test_no_page_narrates_the_projects_history():
    """History lives in CHANGELOG.md; the README and the docs describe the product as it is."""
    told = [f"{page.relative_to(ROOT)}: {m.group(0)}" for page in _pages() for m in HISTORY.finditer(page.read_text())]
    assert told == []


def _links(page: Path) -> set[Path]:
    """The Markdown pages `page` links to."""
    return {(page.parent / target).resolve() for target in re.findall(r"\]\(([^)#:]+\.md)", page.read_text())}


def test_the_readme_is_one_screen_or_two_and_every_docs_page_two_clicks_away():
    readme = ROOT / "README.md"
    assert len(readme.read_text().splitlines()) <= 150
    first = _links(readme)
    reached = first | {p for page in first if page.exists() for p in _links(page)}
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md")}
    assert all(p.exists() for p in reached)
    assert sorted(str(p.relative_to(ROOT)) for p in pages - reached) == ["docs/index.md"]


def test_every_coffee_variable_the_runner_reads_is_documented():
    code = {m for path in (ROOT / "runner").rglob("*.py") for m in re.findall(r"COFFEE_[A-Z_]+", path.read_text())}
    settings = (ROOT / "runner" / "core" / "settings.py").read_text()
    fields = {f"COFFEE_{name.upper()}" for name in re.findall(r"^    ([a-z_]+): ", settings, re.MULTILINE)}
    documented = set(re.findall(r"COFFEE_[A-Z_]+", (ROOT / "docs" / "reference" / "configuration.md").read_text()))
    assert fields and (code | fields) - {"COFFEE_"} <= documented
