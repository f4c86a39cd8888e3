"""The long-lived dbt worker (runner/transform/dbt_worker.py) against a fresh dbt process.

Each test starts its own worker, with its log in a file, so that it can see which
requests the worker served.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.core.dbt_project import project_dir
from runner.transform import dbt_worker
from tests.runner.helpers import dbt, fetch_days, sim_config, snapshot_tables, wait_for_socket

DAY = dt.date(2026, 3, 2)


class LoggedWorker:
    def __init__(self, socket_path: str, log: Path, proc: subprocess.Popen) -> None:
        self.socket_path, self.log, self.proc = socket_path, log, proc

    def starts(self) -> list[str]:
        return self.lines("start")

    def lines(self, kind: str) -> list[str]:
        prefix = f"dbt worker: {kind}: "
        return [line[len(prefix):] for line in self.log.read_text().splitlines() if line.startswith(prefix)]


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LoggedWorker]:
    socket_path, log = str(tmp_path / "w.sock"), tmp_path / "worker.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "runner.transform.dbt_worker", socket_path],
                                stderr=sink, start_new_session=True)
    try:
        wait_for_socket(socket_path, proc)
        monkeypatch.setenv(dbt_worker.SOCKET_ENV, socket_path)
        yield LoggedWorker(socket_path, log, proc)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_worker_builds_the_same_tables_as_a_fresh_dbt(worker, db, target, sim, tmp_path, monkeypatch):
    _, config = sim_config(sim, tmp_path, since=DAY)
    fetch_days(sim, config, target, [DAY, DAY + dt.timedelta(days=1)])
    first = dbt(target, "build", "--full-refresh")
    assert first.ok, first.output[-2000:]
    assert len(worker.lines("done")) == 1
    by_worker = snapshot_tables(db)
    assert any(by_worker.values())
    monkeypatch.delenv(dbt_worker.SOCKET_ENV)
    served = len(worker.lines("done"))
    fresh = dbt(target, "build", "--full-refresh")
    assert fresh.ok and len(worker.lines("done")) == served  # this one ran without the worker
    assert snapshot_tables(db) == by_worker


def test_a_changed_project_file_is_parsed_again(worker, target, tmp_path, monkeypatch):
    copy = tmp_path / "project"
    shutil.copytree(project_dir(), copy, ignore=shutil.ignore_patterns(".*", "tests", "bench", "runner", "target"))
    monkeypatch.setenv("COFFEE_DBT_PROJECT_DIR", str(copy))
    # dbt's saved parse of this copy must not reach the worker's next test (conftest db_url)
    monkeypatch.setenv("COFFEE_HOME", str(tmp_path / "copy-home"))
    before = dbt(target, "ls", "--select", "marts", "--output", "name")
    assert before.ok and "zz_probe" not in before.output
    (copy / "models" / "marts" / "zz_probe.sql").write_text("select 1 as probe\n")
    after = dbt(target, "ls", "--select", "marts", "--output", "name")
    assert after.ok and "zz_probe" in after.output, after.output[-2000:]
    assert len(worker.lines("done")) == 2
    # the changed project made the worker start afresh (same process id, same socket, the
    # request's connection kept) and parse it once: the request was answered with that parse,
    # not by a fresh dbt of its own, and the next ones reuse it
    log = worker.log.read_text()
    assert log.count("restarting to parse afresh") == 1 and log.count("parsed the project") == 2
    assert not any(s.endswith("(parsing)") for s in worker.starts())
    for _ in range(2):
        again = dbt(target, "ls", "--select", "marts", "--output", "name")
        assert again.ok and "zz_probe" in again.output
    assert worker.proc.poll() is None and worker.log.read_text().count("parsed the project") == 2
    assert not list(tmp_path.glob("request-*"))  # the handed-over request (it holds the password) is gone


def test_the_project_is_parsed_once_and_reused(worker, target):
    for _ in range(3):
        assert dbt(target, "run", "--select", "stg_raw__roasters").ok
    assert worker.log.read_text().count("parsed the project") == 1
    assert len(worker.starts()) == 3 and not any(s.endswith("(parsing)") for s in worker.starts())


def test_bad_vars_answer_an_error_and_the_worker_carries_on(worker, target):
    bad = dbt(target, "run", "--select", "stg_raw__roasters", range_as_vars=True,
              start_date="2026-13-01", end_date="2026-13-02")
    assert bad.returncode != 0 and "2026-13-01" in bad.output
    good = dbt(target, "run", "--select", "stg_raw__roasters")
    assert good.ok, good.output[-2000:]
    assert len(worker.lines("done")) == 2


def test_a_client_killed_mid_request_leaves_the_worker_serving(worker, target):
    client = subprocess.Popen([sys.executable, "-c", (
        "from runner.transform.dbt_runner import run_dbt; from runner.store.db import Target; import sys;"
        f"run_dbt(Target(url={target.url!r}, embedded=False), ['build'])")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not worker.lines("start") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.lines("start") and not worker.lines("done"), "the kill must land mid-request"
    client.kill()
    client.wait(timeout=10)
    after = dbt(target, "run", "--select", "stg_raw__roasters")
    assert after.ok, after.output[-2000:]
    assert worker.proc.poll() is None and len(worker.lines("done")) == 2


def test_an_unreachable_worker_means_a_fresh_dbt_process(target, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv(dbt_worker.SOCKET_ENV, str(tmp_path / "nobody.sock"))
    result = dbt(target, "run", "--select", "stg_raw__roasters")
    assert result.ok, result.output[-2000:]
    assert "nobody.sock unavailable" in capfd.readouterr().err


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a reaper."""
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except FileNotFoundError:
        return False


def test_a_worker_whose_parent_is_killed_exits_by_itself():
    """`serve` SIGKILLed must not leave its dbt worker (a session leader of its own) behind."""
    script = ("import time\nfrom runner.transform import dbt_worker\nwith dbt_worker.running() as path:\n"
              "    print(path, flush=True)\n    time.sleep(600)\n")
    env = {k: v for k, v in os.environ.items() if k != dbt_worker.SOCKET_ENV}
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env,
                              cwd=project_dir())
    try:
        socket_path = parent.stdout.readline().strip()
        found = subprocess.run(["pgrep", "-f", f"runner.transform.dbt_worker {socket_path}"],
                               capture_output=True, text=True)
        pids = [int(p) for p in found.stdout.split()]
        assert len(pids) == 1 and _alive(pids[0])
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _alive(pids[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pids[0]), "the worker outlived the process that started it"
    finally:
        parent.kill()
        parent.wait(timeout=30)
        parent.stdout.close()
