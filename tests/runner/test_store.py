from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import socket
import threading
import time

from runner.acquire.client import Exchange, PoliteClient
from runner.core.config import Config, HttpSettings, Roaster
from runner.store.bodies import stored_body
from runner.store.raw import RawStore, reap_dead_runs
from runner.store.roasters import sync_roasters

ROASTER = Roaster(id="shop-a", name="Shop A", platform="shopify", base_url="http://127.0.0.1:9/r/shop-a",
                  currency="USD")


def _exchange(body: bytes, parsed=None) -> Exchange:
    ex = Exchange("http://x/1", "http://x/1", 1, dt.datetime.now(dt.timezone.utc), status=200,
                  headers={"content-type": "application/json"}, body=body, byte_length=len(body))
    if parsed is not None:
        ex.json, ex.parsed = parsed, True
    return ex


def test_a_body_is_kept_as_text_only_when_the_text_gives_its_bytes_back():
    text = stored_body(b"<html>hi</html>")
    assert text.text == "<html>hi</html>" and text.raw is None
    latin = stored_body(b"caf\xe9")
    assert latin.text is None and latin.raw == b"caf\xe9"  # not UTF-8: the bytes
    nul = stored_body(b"a\x00b")
    assert nul.text is None and nul.raw == b"a\x00b"  # text cannot hold NUL
    assert text.sha256 == hashlib.sha256(b"<html>hi</html>").hexdigest()


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
    row = db.execute("""select b.body_text, b.body_bytes, raw.try_jsonb(b.body_text), a.byte_length, a.byte_exact
                          from raw.scrape_artifacts as a join raw.bodies as b using (sha256)""").fetchone()
    assert row[0] == body.decode() and row[1] is None and row[2] is None  # kept, but not JSON to SQL
    assert row[3] == len(body) and row[4] is True
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


# The answer of a shop whose front end writes its own reason phrase, mixed-case names and
# a repeated header: all of it must come back from the raw store as received.
ANSWER_HEADERS = [("Content-Type", "application/json"), ("Link", '</p2>; rel="next"'), ("X-Odd-CASE", "One"),
                  ("link", '</p0>; rel="prev"'), ("Content-Length", "2"), ("Connection", "close")]
ANSWER = ("HTTP/1.1 200 Fine Thanks\r\n" + "".join(f"{k}: {v}\r\n" for k, v in ANSWER_HEADERS) + "\r\n{}").encode()


class _OneAnswerServer:
    """A real server on 127.0.0.1 that keeps each request's bytes and gives ANSWER."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            self.requests.append(data)
            conn.sendall(ANSWER)

    def close(self) -> None:
        self.thread.join()
        self.sock.close()


def test_every_header_the_status_line_and_the_request_as_sent_are_kept(db_url, db):
    sync_roasters(db, Config(roasters=(ROASTER,)))
    server = _OneAnswerServer()

    async def fetch() -> Exchange:
        async with PoliteClient(HttpSettings(), "coffee-runner/test (+http://example.test)", seed=1) as client:
            return await client.fetch(f"{server.url}/products.json?page=1", client.gate("shop-a", 100),
                                      lambda _: asyncio.sleep(0))

    try:
        exchange = asyncio.run(fetch())
    finally:
        server.close()
    _store_one(db_url, exchange)
    status_line, headers, request = db.execute(
        "select status_line, response_headers, request from raw.scrape_artifacts").fetchone()
    assert status_line == "HTTP/1.1 200 Fine Thanks"
    assert [tuple(pair) for pair in headers] == ANSWER_HEADERS  # order, repeats and the names' case
    sent = server.requests[0].decode("latin-1").split("\r\n")
    assert sent[0] == f"{request['method']} /products.json?page=1 HTTP/1.1"
    assert request["url"] == f"{server.url}/products.json?page=1"
    assert [f"{k}: {v}" for k, v in request["headers"]] == [line for line in sent[1:] if line]
