"""Running the dbt project against the runner's database.

dbt runs outside our process: its logging and global state stay out of ours, and its
console output is relayed to our stderr so that `--json` output stays one clean document.
It runs in the long-lived dbt worker that $COFFEE_DBT_WORKER names (runner/transform/dbt_worker.py:
no import or parse per invocation), else in a fresh `dbt` child process.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from runner.core import clock
from runner.core.dbt_project import project_dir
from runner.core.errors import InputError
from runner.core.settings import settings
from runner.store.db import Target, coffee_home, home_folder, libpq_env
from runner.transform import dbt_worker

log = logging.getLogger(__name__)

DBT_TIMEOUT_SECONDS = 3600
DBT_LOCK_KEY = 0x0C0FFEE + 1  # advisory lock: one dbt invocation per database at a time
# The range travels in this environment variable, not in --vars: dbt discards its partial
# parse whenever --vars change, and a full re-parse costs 2-3 s per invocation
# (bench/README.md). macros/range/_range_value.sql reads it at execution time only.
RANGE_ENV = "COFFEE_DBT_RANGE"
RANGE_KEYS = ("start_date", "end_date", "roasters")
PROFILE_TEMPLATE = "profiles.example.yml"
# The runner's own builds (backfills, the service, cleanup, restore) leave out dbt's unit
# tests, as dbt advises for production: they check the models' logic on fixed inputs, not
# the data, and cost about 1.6 s per build. They also leave out the key tests tagged
# `full_scan` (the parsing views' grain), which would parse every raw page on each build.
# `dbt build`, `dbt test` and `verify` run both.
BUILD = ("build", "--exclude-resource-type", "unit_test", "--exclude", "tag:full_scan")


def profiles_dir() -> Path | None:
    """$COFFEE_HOME/dbt holding profiles.yml (copied from profiles.example.yml)."""
    try:
        template = project_dir() / PROFILE_TEMPLATE
    except InputError:
        return None
    folder = home_folder("dbt")
    target = folder / "profiles.yml"
    if not target.exists() or target.read_bytes() != template.read_bytes():
        shutil.copyfile(template, target)
    return folder


def dbt_env(target: Target) -> dict[str, str]:
    """PG* variables for the profile (the password only in env), and dbt's own paths."""
    env = libpq_env(target)
    for name in (clock.RATE_ENV, clock.ANCHOR_ENV):
        env.pop(name, None)  # dbt reads the moment only: a moving clock is frozen per invocation
    env.update(clock.frozen_env())
    env.update({
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(profiles_dir()),
        "DBT_TARGET_PATH": str(coffee_home() / "dbt" / "target"),
        "DBT_LOG_PATH": str(coffee_home() / "dbt" / "logs"),
    })
    return env


@dataclass
class DbtResult:
    command: list[str]
    returncode: int
    target_path: Path = Path("target")
    elapsed_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def as_dict(self) -> dict[str, Any]:
        return {"command": shlex.join(self.command), "ok": self.ok, "returncode": self.returncode,
                "elapsed_seconds": self.elapsed_seconds, "counts": self.counts, "failures": self.failures}


def range_vars(start: str | None = None, end: str | None = None,
               roasters: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(extra)
    if start is not None:
        values.update(start_date=start, end_date=end)
    if roasters:
        values["roasters"] = list(roasters)
    return values


def run_dbt(target: Target, args: list[str], variables: dict[str, Any] | None = None,
            *, echo: bool = True, range_as_vars: bool = False) -> DbtResult:
    """Run `dbt <args>` in the project; parse target/run_results.json for the outcome.

    The range keys go to dbt in $COFFEE_DBT_RANGE (partial parsing survives), other
    variables as --vars; range_as_vars=True sends everything as --vars, as a person would.
    """
    env = dbt_env(target)
    argv = ["dbt", *args]
    in_vars = dict(variables or {})
    prefix: list[str] = []
    env.pop(RANGE_ENV, None)  # an inherited value must never narrow a build
    if not range_as_vars:
        in_env = {key: in_vars.pop(key) for key in RANGE_KEYS if key in in_vars}
        env[RANGE_ENV] = json.dumps(in_env)
        if in_env:
            prefix = [f"{RANGE_ENV}={env[RANGE_ENV]}"]
    if in_vars:
        argv += ["--vars", json.dumps(in_vars)]
    command = prefix + argv  # what a person would type to repeat it
    results_path = Path(env["DBT_TARGET_PATH"]) / "run_results.json"
    results_path.unlink(missing_ok=True)
    # dbt runs one at a time per database: concurrent builds of the same tables (two
    # backfill processes finishing together) would trip over each other's DDL.
    with psycopg.connect(target.url, autocommit=True) as lock:
        lock.execute("select pg_advisory_lock(%s)", (DBT_LOCK_KEY,))
        returncode, output = _execute(argv[1:], env)
    if echo:
        _echo(output)
    result = DbtResult(command=command, returncode=returncode, output=output,
                       target_path=Path(env["DBT_TARGET_PATH"]))
    _read_results(results_path, result)
    return result


def _echo(output: str) -> None:
    """dbt's console output on stderr: as it is for a person, one record per line in JSON."""
    if settings().log_format != "json":
        sys.stderr.write(output)
        return
    for line in output.splitlines():
        if line.strip():
            log.info("dbt: %s", line.strip())


def _execute(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """(exit code, console output) of `dbt <args>`: in the worker if there is one."""
    socket_path = settings().dbt_worker
    if socket_path:
        try:
            return dbt_worker.send(socket_path, args, env, project_dir(), DBT_TIMEOUT_SECONDS)
        except OSError as exc:
            log.warning("dbt worker at %s unavailable (%s); running dbt directly", socket_path, exc)
    executable = Path(sys.executable).with_name("dbt")
    proc = subprocess.run([str(executable), *args], cwd=project_dir(), env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=DBT_TIMEOUT_SECONDS)
    return proc.returncode, proc.stdout


def _read_results(path: Path, result: DbtResult) -> None:
    if not path.is_file():
        return
    doc = json.loads(path.read_text())
    result.elapsed_seconds = round(doc.get("elapsed_time", 0.0), 2)
    for row in doc.get("results", []):
        status = str(row.get("status"))
        result.counts[status] = result.counts.get(status, 0) + 1
        if status in ("error", "fail", "warn"):
            result.failures.append({"node": row.get("unique_id"), "status": status,
                                    "failures": row.get("failures"),
                                    "message": (row.get("message") or "")[:500]})
