"""The demo's service scene on a loaded machine: with CPU burners keeping the load average
around 5 on two cores, the scene still passes every check, and a line it prints is true.

In the scenarios suite (`pytest -m scenarios`): the scene runs alone for a minute or two."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from runner.sandbox.demo_service import run_scene
from runner.store.db import Target

pytestmark = pytest.mark.scenarios

BURNERS = 5
FIRST_DAY = dt.date(2026, 11, 10)


def _runnable_seconds(pid: int) -> float:
    """Seconds the process spent on a CPU or waiting for one (/proc/PID/schedstat): what a
    load average counts."""
    on_cpu, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    return (int(on_cpu) + int(waiting)) / 1e9


def test_the_service_scene_passes_on_a_loaded_machine(db_url, pg_admin_url, tmp_path):
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BURNERS)]
    try:
        scene = run_scene(Target(db_url, False), FIRST_DAY, seed=42)
        runnable = sum(_runnable_seconds(p.pid) for p in burners)
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            name = f"{urlsplit(db_url).path.lstrip('/')}_service"
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
    # the load was real: the burners were runnable for the whole scene, a load of BURNERS on top of the rest
    assert runnable >= 0.9 * BURNERS * scene["elapsed_seconds"], (runnable, scene["elapsed_seconds"])
    assert scene["failed_checks"] == [] and scene["ok"], scene
    assert scene["runs"][f"dune-coffee {FIRST_DAY}"] == ["live fail", "live ok"]
