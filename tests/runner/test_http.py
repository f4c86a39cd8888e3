from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import itertools
import random
import time
from collections import defaultdict

import httpx
import pytest

from runner.acquire.client import (
    GATE_MARGIN,
    Exchange,
    PoliteClient,
    ShopGate,
    _parse_json,
    backoff_delay,
    classify,
    parse_retry_after,
)
from runner.acquire.robots import agent_token, crawl_delay, read_robots, robots_policy
from runner.core.config import HttpSettings
from runner.core.errors import (
    BadBody,
    BodyTooLarge,
    ClientError,
    ConnectFailed,
    FetchError,
    FetchTimeout,
    PermanentFetchError,
    RetryableFetchError,
    ServerError,
    Throttled,
    TooManyRedirects,
)
from runner.sandbox.simulator import DEFAULT_SHOPS, Fault, Simulator

FAST = HttpSettings(connect_timeout=1, read_timeout=1, request_deadline=3, max_attempts=3,
                    backoff_base=0.05, backoff_max=0.2, retry_after_cap=1.5, max_body_bytes=200_000)
UA = "coffee-runner/0.1 (+test)"


# --- pure functions ---------------------------------------------------------------------

def test_retry_after_seconds_date_and_garbage():
    now = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)
    assert parse_retry_after("7") == 7.0
    later = email.utils.format_datetime(now + dt.timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now) == pytest.approx(30, abs=1)
    past = email.utils.format_datetime(now - dt.timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(past, now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_doubles_and_is_capped():
    rng = random.Random(1)
    settings = HttpSettings(backoff_base=1, backoff_max=5)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 5), (9, 5)]:
        delays = [backoff_delay(attempt, settings, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > 0  # jitter


def test_agent_token_and_crawl_delay():
    assert agent_token("coffee-runner/0.1 (+https://x)") == "coffee-runner"
    text = "User-agent: *\nCrawl-delay: 0.5\n\nUser-agent: coffee-runner\nCrawl-delay: 2.5\nDisallow:\n"
    assert crawl_delay(text, "coffee-runner") == 2.5  # a float, which robotparser drops on 3.11
    assert crawl_delay(text, "otherbot") == 0.5
    assert crawl_delay("User-agent: *\nDisallow: /x\n", "coffee-runner") is None


def test_robots_policy_matches_bare_token():
    text = "User-agent: coffee-runner\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    assert not robots_policy(text, UA, "https://shop/products.json").allowed
    assert robots_policy(text, "otherbot/1.0", "https://shop/products.json").allowed
    assert robots_policy("User-agent: *\nDisallow: /admin\n", UA, "https://shop/products.json").allowed


def test_robots_wildcards_end_anchors_and_longest_match():
    """What the standard library's robotparser gets wrong (protego gets right)."""
    text = ("User-agent: *\nDisallow: /*.json$\nAllow: /products.json$\n"
            "Disallow: /wp-json/*/products\nCrawl-delay: 1.5\n")
    assert robots_policy(text, UA, "https://shop/products.json").allowed  # the longer Allow wins
    assert not robots_policy(text, UA, "https://shop/collections.json").allowed  # '*' and '$'
    assert robots_policy(text, UA, "https://shop/collections.json?page=2").allowed  # '$' ends the path
    assert not robots_policy(text, UA, "https://shop/wp-json/wc/store/v1/products").allowed
    assert robots_policy(text, UA, "https://shop/").crawl_delay == 1.5


# --- retry timing with MockTransport (unit) --------------------------------------------

def _run(coro):
    return asyncio.run(coro)


async def _fetch_with(handler, settings=FAST, expect_json=True):
    seen: list[Exchange] = []

    async def record(ex: Exchange) -> None:
        seen.append(ex)

    async with PoliteClient(settings, UA, seed=7, transport=httpx.MockTransport(handler)) as client:
        gate = client.gate("shop", 100)
        started = time.monotonic()
        try:
            result = await client.fetch("http://shop.test/x", gate, record, expect_json=expect_json)
        except Exception as exc:
            result = exc
        return result, seen, time.monotonic() - started


def test_retry_after_seconds_is_honoured_and_capped():
    calls = []

    def handler(request):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "1"})
        if len(calls) == 2:
            return httpx.Response(429, headers={"Retry-After": "3600"})  # capped at 1.5
        return httpx.Response(200, json={"ok": True})

    result, seen, _ = _run(_fetch_with(handler))
    assert isinstance(result, Exchange) and result.json == {"ok": True}
    assert [e.status for e in seen] == [429, 429, 200]
    assert 0.95 <= calls[1] - calls[0] < 1.4
    assert 1.45 <= calls[2] - calls[1] < 1.9


def test_retry_after_as_http_date():
    calls = []

    def handler(request):
        calls.append(time.monotonic())
        if len(calls) == 1:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            return httpx.Response(429, headers={"Retry-After": when})
        return httpx.Response(200, json=[])

    result, _, _ = _run(_fetch_with(handler))
    assert isinstance(result, Exchange)
    assert calls[1] - calls[0] >= 0.9  # the date's moment (one-second resolution), not the 0.05 s backoff


def test_attempts_are_bounded_and_each_is_recorded():
    def handler(request):
        return httpx.Response(503, text="down")

    result, seen, _ = _run(_fetch_with(handler))
    assert isinstance(result, ServerError) and result.status == 503
    assert len(seen) == FAST.max_attempts  # bounded: the last error is raised, no further attempt


def test_permanent_client_error_is_not_retried():
    def handler(request):
        return httpx.Response(404, json={"error": "nope"})

    result, seen, _ = _run(_fetch_with(handler))
    assert result.status == 404 and len(seen) == 1
    assert result.exchange.json == {"error": "nope"}  # the body stays readable


# --- classify: what one exchange amounts to (no network) ---------------------------------

def _exchange(status=None, body=b"", ctype="application/json", failed=None, headers=None) -> Exchange:
    ex = Exchange(requested_url="http://shop/x", url="http://shop/x", attempt=1,
                  captured_at=dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc), status=status,
                  headers={"content-type": ctype, **(headers or {})}, body=body)
    if failed is not None:
        ex.fail(*failed)  # as the client records a failure below HTTP
    elif status is not None:
        _parse_json(ex)  # as a fetch does before it classifies
    return ex


@pytest.mark.parametrize(("exchange", "expected", "retryable"), [
    (_exchange(200, b'{"products": []}'), None, None),
    (_exchange(429, headers={"retry-after": "7"}), Throttled, True),
    (_exchange(430), Throttled, True),  # Shopify's own "slow down"
    (_exchange(403), Throttled, True),  # bot protection, not a permission
    (_exchange(200, b"<!DOCTYPE html><html>challenge</html>", ctype="text/html"), Throttled, True),
    (_exchange(200, b"<html><body>hi</body></html>", ctype="application/json"), Throttled, True),
    (_exchange(200, b'{"products": [', ctype="application/json"), BadBody, True),  # cut short: try again
    (_exchange(503), ServerError, True),
    (_exchange(404), ClientError, False),
    (_exchange(301), ClientError, False),  # a redirect httpx could not follow
    (_exchange(failed=(FetchTimeout, "ReadTimeout")), FetchTimeout, True),
    (_exchange(failed=(ConnectFailed, "ConnectError: refused")), ConnectFailed, True),
    (_exchange(200, failed=(BodyTooLarge, "body over 10 bytes")), BodyTooLarge, False),
    (_exchange(302, failed=(TooManyRedirects, "more than 5 redirects")), TooManyRedirects, False),
    (_exchange(200, failed=(BadBody, "cannot decode body (x)")), BadBody, True),
], ids=["ok", "429", "430", "403", "html-page", "html-as-json", "broken-json", "503", "404", "3xx",
        "timeout", "connect", "too-large", "redirects", "undecodable"])
def test_classify(exchange, expected, retryable):
    error = classify(exchange, expect_json=True)
    if expected is None:
        assert error is None
        return
    assert type(error) is expected and error.exchange is exchange
    assert isinstance(error, RetryableFetchError if retryable else PermanentFetchError)
    if exchange.error is not None:  # the text stored with the capture starts with the kind's tag
        assert exchange.error.startswith(f"{expected.reason}: ")


def test_classify_keeps_retry_after_and_accepts_any_body_when_json_is_not_expected():
    throttled = classify(_exchange(429, headers={"retry-after": "7"}), expect_json=True)
    assert throttled.retry_after == 7.0
    busy = classify(_exchange(503, headers={"retry-after": "2"}), expect_json=True)
    assert busy.retry_after == 2.0  # a 5xx's Retry-After is honoured too
    assert classify(_exchange(200, b"User-agent: *", ctype="text/plain"), expect_json=False) is None
    assert classify(_exchange(200, b"not json", ctype="text/plain"), expect_json=True).__class__ is BadBody


# --- real HTTP against the simulator ----------------------------------------------------

SHOP = DEFAULT_SHOPS[0]  # aurora-beans, Shopify
PRODUCTS = "/r/aurora-beans/products.json?limit=250&page=1"


def _fetch_sim(sim: Simulator, path: str = PRODUCTS, settings: HttpSettings = FAST,
               expect_json: bool = True):
    seen: list[Exchange] = []

    async def record(ex: Exchange) -> None:
        ex.recorded_at = time.monotonic()  # type: ignore[attr-defined]  # for waits: immune to wall-clock steps
        seen.append(ex)

    async def go():
        async with PoliteClient(settings, UA, seed=3) as client:
            gate = client.gate(SHOP.id, 50)
            try:
                return await client.fetch(sim.url + path, gate, record, expect_json=expect_json)
            except Exception as exc:
                return exc

    return asyncio.run(go()), seen


@pytest.mark.parametrize("arg", [1.0, None])
def test_429_with_and_without_retry_after_then_success(arg):
    with Simulator(faults=[Fault("429", resource="products", times=2, arg=arg)]) as sim:
        result, seen = _fetch_sim(sim)
    assert isinstance(result, Exchange) and result.status == 200
    assert [e.status for e in seen] == [429, 429, 200]
    # The wait runs from one answer's arrival to the next request's start, on the monotonic
    # clock: captured_at is wall-clock time, and a fresh machine may step its clock mid-test.
    waits = [b.recorded_at - a.recorded_at - b.elapsed_ms / 1000 for a, b in itertools.pairwise(seen)]
    if arg is not None:
        assert all(w >= 0.99 for w in waits), waits  # waited as told
    else:
        assert all(0.02 <= w < 0.5 for w in waits), waits  # our own backoff


def test_5xx_then_success_and_persistent_5xx():
    with Simulator(faults=[Fault("502", resource="products", times=1)]) as sim:
        result, seen = _fetch_sim(sim)
    assert isinstance(result, Exchange) and [e.status for e in seen] == [502, 200]
    with Simulator(faults=[Fault("500", resource="products")]) as sim:
        result, seen = _fetch_sim(sim)
    assert isinstance(result, ServerError) and len(seen) == FAST.max_attempts


def test_html_with_status_200_is_throttling():
    with Simulator(faults=[Fault("html200", resource="products")]) as sim:
        result, seen = _fetch_sim(sim)
    assert isinstance(result, Throttled)
    assert len(seen) == FAST.max_attempts and all(e.status == 200 and not e.parsed for e in seen)
    assert seen[0].body.startswith(b"<!DOCTYPE html>")


def test_malformed_and_truncated_json():
    with Simulator(faults=[Fault("malformed", resource="products")]) as sim:
        result, seen = _fetch_sim(sim)
    assert isinstance(result, BadBody) and seen[0].body.startswith(b'{"products": [{"id": 1')
    with Simulator(faults=[Fault("truncated", resource="products", times=1)]) as sim:
        result, seen = _fetch_sim(sim)
    assert isinstance(result, Exchange) and result.status == 200  # the retry got it whole
    first = seen[0]
    assert first.error.startswith("connect:") and 0 < len(first.body) < 2100  # the half that came


def test_body_over_limit_is_refused_while_streaming():
    with Simulator(faults=[Fault("huge", resource="products", arg=5_000_000)]) as sim:
        result, seen = _fetch_sim(sim)
    assert isinstance(result, BodyTooLarge)
    assert len(seen) == 1  # permanent: not retried
    assert seen[0].body == b"" and FAST.max_body_bytes < seen[0].byte_length < 1_000_000


def test_timeout_is_retryable_and_bounded():
    with Simulator(faults=[Fault("timeout", resource="products", arg=2.5)]) as sim:
        result, seen = _fetch_sim(sim)
    assert isinstance(result, FetchTimeout)
    assert len(seen) == FAST.max_attempts and all(e.error.startswith("timeout") for e in seen)
    assert all(e.status is None for e in seen)  # each attempt gave up before the shop's 2.5 s answer came


def test_connection_dropped_is_retryable():
    with Simulator(faults=[Fault("drop", resource="products")]) as sim:
        result, seen = _fetch_sim(sim)
    assert isinstance(result, ConnectFailed) and len(seen) == FAST.max_attempts


def test_user_agent_is_sent():
    with Simulator() as sim:
        _fetch_sim(sim)
        assert sim.requests()[0].user_agent == UA


def _robots(sim: Simulator):
    async def record(ex: Exchange) -> None:
        return None

    async def go():
        async with PoliteClient(FAST, UA) as client:
            gate = client.gate(SHOP.id, 50)
            return await read_robots(client, gate, f"{sim.url}/r/{SHOP.id}", record, "/products.json")

    return asyncio.run(go())


def test_robots_disallow_403_404_and_crawl_delay():
    with Simulator(faults=[Fault("robots-disallow", shop=SHOP.id)]) as sim:
        assert not _robots(sim).allowed
    with Simulator(faults=[Fault("robots-403", shop=SHOP.id)]) as sim:
        policy = _robots(sim)
        assert not policy.allowed and "403" in policy.reason
    with Simulator(faults=[Fault("404", shop=SHOP.id, resource="robots")]) as sim:
        assert _robots(sim).allowed
    with Simulator(faults=[Fault("crawl-delay", shop=SHOP.id, arg=0.75)]) as sim:
        policy = _robots(sim)
        assert policy.allowed and policy.crawl_delay == 0.75


def test_rate_per_shop_never_above_limit_with_shared_host():
    """Two shops on one host, each at 8 req/s: each shop's own spacing holds.

    Spacing holds both on the runner's turns (the exchange's captured_at, taken when the
    gate lets the request go) and at the shop, which stamps each request with the
    kernel's receive time of its first bytes."""
    rps = 8.0
    sent: dict[str, list[dt.datetime]] = defaultdict(list)

    async def go(sim: Simulator):
        def recorder(shop: str):
            async def record(ex: Exchange) -> None:
                sent[shop].append(ex.captured_at)
            return record

        async with PoliteClient(HttpSettings(shop_concurrency=4), UA) as client:
            jobs = []
            for shop in ("aurora-beans", "blue-peak"):
                gate = client.gate(shop, rps)
                url = f"{sim.url}/r/{shop}/meta.json"
                jobs += [client.fetch(url, gate, recorder(shop)) for _ in range(8)]
            await asyncio.gather(*jobs)

    with Simulator() as sim:
        asyncio.run(go(sim))
        arrivals: dict[str, list[float]] = defaultdict(list)
        for r in sim.requests():
            arrivals[r.shop].append(r.at)
    assert set(arrivals) == set(sent) == {"aurora-beans", "blue-peak"}
    for times in sent.values():
        times.sort()
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 1 / rps, gaps
    for times in arrivals.values():  # and the shop never counts more than the limit in a second
        assert all(sum(1 for t in times if s <= t < s + 1) <= rps for s in times)
        times.sort()
        assert min(b - a for a, b in itertools.pairwise(times)) >= 1 / rps - 0.005, times


def test_bytes_on_the_wire_are_spaced_even_when_turns_bunch():
    """A request held back after its turn (a slow connect) must not reach the shop right
    before the next one: the last check before the headers are written spaces them."""
    gate = ShopGate("shop", rps=10, concurrency=2)

    async def go() -> list[float]:
        sent = []
        for _ in range(3):  # three requests whose bytes are all ready at once
            await gate.on_the_wire()
            sent.append(time.monotonic())
        return sent

    sent = asyncio.run(go())
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.1 * (1 + GATE_MARGIN) - 0.005, gaps  # 5 ms: the loop's timer resolution


def test_every_request_on_the_wire_reports_its_send_to_the_gate():
    """httpcore's trace hook fires for real connections: each request, redirect hops too."""
    sends: list[float] = []

    class CountingGate(ShopGate):
        async def on_the_wire(self) -> None:
            await super().on_the_wire()
            sends.append(self.last_sent)

    async def go(sim: Simulator) -> None:
        async def record(ex: Exchange) -> None:
            return None

        async with PoliteClient(FAST, UA) as client:
            gate = CountingGate(SHOP.id, 50, 2)
            for _ in range(3):
                await client.fetch(f"{sim.url}/r/{SHOP.id}/meta.json", gate, record)
            with pytest.raises(FetchError):  # a redirect loop is refused; each hop was a send
                await client.fetch(sim.url + PRODUCTS, gate, record)

    with Simulator(faults=[Fault("redirect-loop", shop=SHOP.id, resource="products")]) as sim:
        asyncio.run(go(sim))
    # three fetches, then the redirect loop's first request and each hop it followed
    assert len(sends) == 3 + 1 + FAST.max_redirects
    assert min(b - a for a, b in itertools.pairwise(sends)) >= (1 / 50) * (1 + GATE_MARGIN) - 0.005
