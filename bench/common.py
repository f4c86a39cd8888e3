"""Shared benchmark plumbing: a scratch database, dbt runs with their timings, peak
memory, and the one JSON document every benchmark prints.

Benchmarks run on the embedded PostgreSQL in $COFFEE_BENCH_HOME (default
~/.coffee-bench), or on the server named by COFFEE_BENCH_DATABASE_URL (its user must be
allowed to create databases). Each run gets a fresh database `coffee_bench_<name>`, so a
benchmark never touches the operator's data.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.store.db import Target, migrate, set_search_path, start_embedded  # noqa: E402
from runner.transform.dbt_runner import RANGE_ENV, dbt_env  # noqa: E402

MEMORY_TARGET_MB = 300
MEMORY_POLL_SECONDS = 0.05
DBT_TIMEOUT_SECONDS = 3600


def log(message: str) -> None:
    """Progress on stderr; stdout carries only the JSON document."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes: finishes in under 2 minutes")
    parser.add_argument("--ranges-only", action="store_true",
                        help="rebuild: only the full refresh and the range rebuilds (before/after comparisons)")
    return parser.parse_args()


def with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@contextmanager
def scratch_database(name: str) -> Iterator[Target]:
    """A fresh migrated database; COFFEE_DATABASE_URL/COFFEE_HOME point at it meanwhile."""
    admin = os.environ.get("COFFEE_BENCH_DATABASE_URL")
    home = Path(os.environ.get("COFFEE_BENCH_HOME", Path.home() / ".coffee-bench"))
    if not admin:
        admin = with_database(start_embedded(home / "pg").url, "postgres")
    dbname = f"coffee_bench_{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    url = with_database(admin, dbname)
    os.environ["COFFEE_DATABASE_URL"] = url
    os.environ["COFFEE_HOME"] = str(home / name)
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        set_search_path(conn)
    try:
        yield Target(url=url, embedded=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


def emit(benchmark: str, params: dict[str, Any], results: dict[str, Any],
         targets: dict[str, tuple[float, float, str]]) -> None:
    """Print the one JSON document. targets: name -> (value, target, "max"|"min")."""
    doc = {
        "benchmark": benchmark,
        "params": params,
        "results": results,
        "targets": {
            name: {"value": round(value, 4), "target": goal,
                   "met": bool(value <= goal if kind == "max" else value >= goal)}
            for name, (value, goal, kind) in targets.items()
        },
    }
    print(json.dumps(doc, indent=2, default=str))


def self_peak_mb() -> float:
    """This process's peak resident memory (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakWatcher:
    """Polls /proc/<pid>/status VmHWM (the kernel's own peak) until the process ends."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        path = Path(f"/proc/{self.pid}/status")
        while True:
            try:
                text = path.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            if "VmHWM" not in text:  # a zombie: it has exited
                return
            time.sleep(MEMORY_POLL_SECONDS)

    def peak_mb(self) -> float:
        self._thread.join(timeout=1)
        return round(self.peak_kb / 1024, 1)


@dataclass
class DbtRun:
    wall_seconds: float
    node_seconds: dict[str, float] = field(default_factory=dict)
    batches: int = 0

    @property
    def data_seconds(self) -> float:
        return sum(self.node_seconds.values())

    @property
    def fixed_seconds(self) -> float:
        """Start-up, parse, connection, hooks: everything that is not a node's own work."""
        return max(self.wall_seconds - self.data_seconds, 0.0)


class DbtProject:
    """A private copy of the dbt project (so bench-only models never touch the real one)."""

    def __init__(self, target: Target, extra_files: dict[str, str] | None = None) -> None:
        self.target = target
        self.dir = Path(tempfile.mkdtemp(prefix="coffee-bench-dbt-"))
        for part in ("dbt_project.yml", "profiles.example.yml", "models", "macros", "seeds", "snapshots", "tests"):
            source = ROOT / part
            if source.is_dir():
                shutil.copytree(source, self.dir / part)
            else:
                shutil.copy(source, self.dir / part)
        for relative, text in (extra_files or {}).items():
            path = self.dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.env = {**os.environ, **dbt_env(target), "DBT_TARGET_PATH": str(self.dir / "target"),
                    "DBT_LOG_PATH": str(self.dir / "logs")}

    def run(self, *args: str, variables: dict[str, Any] | None = None,
            range_env: dict[str, Any] | None = None) -> DbtRun:
        """`dbt <args>`; range_env passes a range the runner's way ($COFFEE_DBT_RANGE)."""
        command = [str(Path(sys.executable).with_name("dbt")), *args]
        if variables is not None:
            command += ["--vars", json.dumps(variables)]
        env = {**self.env, RANGE_ENV: json.dumps(range_env or {})}
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=self.dir, env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=DBT_TIMEOUT_SECONDS)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout)
            raise SystemExit(f"dbt {' '.join(args)} failed (exit {proc.returncode})")
        doc = json.loads((self.dir / "target" / "run_results.json").read_text())
        log(f"dbt {' '.join(args)}: {wall:.1f} s")
        run = DbtRun(wall_seconds=wall)
        for row in doc["results"]:
            run.node_seconds[row["unique_id"].split(".")[-1]] = row["execution_time"]
            run.batches += len((row.get("batch_results") or {}).get("successful") or [])
        return run

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("inf")
