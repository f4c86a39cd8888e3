from __future__ import annotations

import asyncio
import datetime as dt
import time

from runner.acquire.client import Exchange
from runner.core.config import Config, Roaster
from runner.store.raw import RawStore, body_columns, reap_dead_runs, sync_roasters

ROASTER = Roaster(id="shop-a", name="Shop A", platform="shopify", base_url="http://127.0.0.1:9/r/shop-a",
                  currency="USD")


def _exchange(body: bytes, parsed=None) -> Exchange:
    ex = Exchange("http://x/1", "http://x/1", 1, dt.datetime.now(dt.timezone.utc), status=200,
                  headers={"content-type": "application/json"}, body=body, byte_length=len(body))
    if parsed is not None:
        ex.json, ex.parsed = parsed, True
    return ex


def test_body_columns_choose_json_text_or_bytes():
    assert body_columns(_exchange(b'{"a": 1}', {"a": 1})).body is not None
    text = body_columns(_exchange(b"<html>hi</html>"))
    assert text.text == "<html>hi</html>" and text.raw is None
    latin = body_columns(_exchange(b"caf\xe9"))
    assert latin.text == "caf\ufffd" and latin.raw == b"caf\xe9"  # exact bytes kept
    nul = body_columns(_exchange(b"a\x00b"))
    assert nul.text == "a\ufffdb" and nul.raw == b"a\x00b"


def _store_one(url: str, exchange: Exchange) -> None:
    async def go():
        store = await RawStore.open(url)
        run = await store.start_run(ROASTER, "live")
        await run.recorder("products", 1)(exchange)
        await store.finish_run(run, "ok", 1, None)
        await store.close()

    asyncio.run(go())


def test_json_that_jsonb_refuses_is_kept_as_text(db_url, db):
    sync_roasters(db, Config(roasters=(ROASTER,)))
    body = b'{"title": "bad \\u0000 char"}'
    _store_one(db_url, _exchange(body, {"title": "bad \x00 char"}))
    row = db.execute("select body, body_text, body_bytes, sha256, byte_length from raw.scrape_artifacts").fetchone()
    assert row[0] is None and row[1] == body.decode() and row[2] is None
    assert row[4] == len(body)
    assert db.execute("select status, artifacts from raw.scrape_runs").fetchone() == ("ok", 1)


def test_reaper_leaves_live_runs_alone(db_url, db):
    sync_roasters(db, Config(roasters=(ROASTER,)))

    async def go():
        store = await RawStore.open(db_url)
        await store.start_run(ROASTER, "live")
        reaped_while_alive = await asyncio.to_thread(reap_dead_runs, db)
        await store.close()  # the connection ends as if the process died
        return reaped_while_alive

    assert asyncio.run(go()) == 0
    # the server frees a closed session's locks when its backend exits, a moment after the
    # client closed: under load, the first probe may still find the lock held
    deadline, reaped = time.monotonic() + 10, 0
    while reaped == 0 and time.monotonic() < deadline:
        reaped = reap_dead_runs(db)
        time.sleep(0.05)
    assert reaped == 1
    assert db.execute("select status from raw.scrape_runs").fetchone()[0] == "fail"
    assert reap_dead_runs(db) == 0
