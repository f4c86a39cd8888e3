"""One request budget per shop and for the web archive, shared by every process on the
database (runner/store/budget.py): real processes, the shop's own arrival times."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import yaml

from runner.sandbox.simulator import Simulator
from runner.store.budget import ARCHIVE_KEY, SharedBudget
from tests.runner.helpers import CLOCK, TODAY, sim_config, spawn_backfill, wait_for

KERNEL_SLACK = 0.005  # the shop stamps arrival with the kernel's receive time; our send is a little earlier
REPO = Path(__file__).resolve().parents[2]


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(sorted(times))]


async def _trying(db_url: str, budget: SharedBudget) -> None:
    """Until `budget`'s session has asked the server for a turn's lock."""
    while budget._conn is None:  # its session opens with its first request
        await asyncio.sleep(0.01)
    pid = budget._conn.info.backend_pid
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        while not (await (await conn.execute(
                "select count(*) from pg_stat_activity where pid = %s and query like %s",
                (pid, "%pg_try_advisory_lock%"))).fetchone())[0]:
            await asyncio.sleep(0.01)


def test_turns_are_spaced_exclusive_and_a_block_holds_everyone(db_url):
    async def go() -> dict:
        mine, theirs = SharedBudget(db_url), SharedBudget(db_url)  # two processes' views
        seen: dict = {"starts": []}
        try:
            for _ in range(3):  # each turn starts an interval after the last one was given back
                assert await mine.take_turn("shop-a")
                seen["starts"].append(time.monotonic())
                await mine.give_back("shop-a", 0.3)
            assert await mine.take_turn("shop-c")  # while one holds the turn, the other waits
            waiting = asyncio.create_task(theirs.take_turn("shop-c"))
            await _trying(db_url, theirs)  # observed: the other process is asking for the turn
            seen["waited_while_held"] = not waiting.done()
            await mine.close()  # a process that dies holding a turn frees it with its session
            seen["freed_by_death"] = await asyncio.wait_for(waiting, 10)
            await theirs.give_back("shop-c", 0.0)
            await theirs.block("shop-b", 1.0, "HTTP 429")
            started = time.monotonic()
            assert await theirs.take_turn("shop-b")
            seen["blocked"] = time.monotonic() - started
            await theirs.give_back("shop-b", 0.0)
        finally:
            await mine.close()
            await theirs.close()
        return seen

    seen = asyncio.run(go())
    assert all(b - a >= 0.3 for a, b in itertools.pairwise(seen["starts"])), seen["starts"]
    assert seen["waited_while_held"] and seen["freed_by_death"]
    assert seen["blocked"] >= 0.9  # the block's whole second, however slow the machine


def _peers(sim: Simulator, db_url: str, mode: str, rps: float, count: int = 6) -> list[float]:
    url = f"{sim.url}/r/blue-peak/meta.json"
    argv = [sys.executable, "-m", "tests.runner.budget_peer", url, db_url, str(count), str(rps), mode]
    procs = [subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()[-2000:]
        proc.stderr.close()
    return [r.at for r in sim.requests() if r.shop == "blue-peak"]


def test_three_processes_share_one_shops_rate(db_url):
    rps = 4.0
    with Simulator() as sim:
        shared = _peers(sim, db_url, "shared", rps)
        sim.reset()
        local = _peers(sim, db_url, "local", rps)
    assert len(shared) == len(local) == 18
    assert min(_gaps(shared)) >= 1 / rps - KERNEL_SLACK, _gaps(shared)
    # each process alone keeps its own rate: together they are three times too fast
    assert min(_gaps(local)) < 1 / rps / 2, _gaps(local)


def test_a_service_and_two_backfills_share_the_archive_budget(tmp_path, db, db_url, serve):
    """The archive sees the three processes as one client; so does the shop."""
    archive_rps, shop_rps = 5.0, 2.0
    first = TODAY - dt.timedelta(days=4)
    with Simulator(today=TODAY, archive_coverage=1.0) as sim:
        path, _ = sim_config(sim, tmp_path, since=first)
        doc = yaml.safe_load(path.read_text())
        doc["archive_rate_limit_rps"] = archive_rps
        doc["roasters"] = [dict(r, rate_limit_rps=shop_rps) for r in doc["roasters"]
                           if r["id"] in ("blue-peak", "cedar-roast")]
        doc["schedule"] = "00:00"
        doc["service"] = {"tick_seconds": 0.3, "jitter_seconds": 0, "catch_up_days": 4, "concurrency": 2}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        env = {"COFFEE_NOW": CLOCK.isoformat()}
        process = serve(path, env)
        backfills = [spawn_backfill(path, db_url, "--start", str(first), "--end", str(first + dt.timedelta(days=d)),
                                    "--concurrency", "2", env=env) for d in (1, 3)]
        for proc in backfills:
            assert proc.wait(timeout=240) in (0, 1), proc.stdout.read()[-2000:]
            proc.stdout.close()
        wait_for(lambda: all(r["state"] == "done" for r in process.scheduler()["roasters"].values())
                 and process.scheduler()["catch_up_queue"] == 0, "the service done", proc=process)
        assert process.stop() == 0
        requests = sim.requests()
    archive = [r.at for r in requests if r.path.startswith("/wayback/")]
    assert len(archive) > 20
    assert min(_gaps(archive)) >= 1 / archive_rps - KERNEL_SLACK, sorted(_gaps(archive))[:5]
    for shop in ("blue-peak", "cedar-roast"):
        times = [r.at for r in requests if r.shop == shop]
        assert times and min(_gaps(times)) >= 1 / shop_rps - KERNEL_SLACK
    slots = db.execute("select key from control.request_budget order by key").fetchall()
    assert (ARCHIVE_KEY,) in slots
    # every archive day was fetched once, whichever process got it
    runs = db.execute("""select roaster_id, target_day, count(*) from raw.scrape_runs
                          where kind = 'archive' and status = 'ok' group by 1, 2""").fetchall()
    assert runs and all(n == 1 for _, _, n in runs)
