"""The demo's service scene on a loaded machine: with CPU burners keeping the load average
around 5 on two cores, the scene still passes every check, and a line it prints is true.

In the scenarios suite (`pytest -m scenarios`): the scene runs alone for a minute or two."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from runner.db import Target
from runner.demo_service import run_scene

pytestmark = pytest.mark.scenarios

BURNERS = 5
FIRST_DAY = dt.date(2026, 11, 10)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_service_scene_passes_on_a_loaded_machine(db_url, pg_admin_url, tmp_path):
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BURNERS)]
    try:
        scene = run_scene(Target(db_url, False), FIRST_DAY, seed=42)
        burned = sum(_cpu_seconds(p.pid) for p in burners)
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            name = f"{urlsplit(db_url).path.lstrip('/')}_service"
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
    # the load was real: the burners held a share of both cores for the whole scene
    assert burned >= scene["elapsed_seconds"], (burned, scene["elapsed_seconds"])
    assert scene["failed_checks"] == [] and scene["ok"], scene
    assert scene["runs"][f"dune-coffee {FIRST_DAY}"] == ["live fail", "live ok"]
