"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from click.testing import CliRunner, Result

from runner.cli import cli
from runner.config import Config, parse_config
from runner.simulator import Simulator

TODAY = dt.date(2026, 11, 20)


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def sim_config(sim: Simulator, tmp_path: Path, **http: float) -> tuple[Path, Config]:
    """Write the simulator's own config (optionally with http overrides) and load it."""
    doc = yaml.safe_load(sim.roasters_yaml())
    doc["http"].update(http)
    path = tmp_path / "roasters.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path, parse_config(path.read_text(encoding="utf-8"), path)


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_process(*args: str, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process (exit codes, stdout purity)."""
    return subprocess.run([sys.executable, "-m", "runner", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
