"""Polite async HTTP: per-shop rate limits, concurrency limits, retries (robots.txt: robots.py).

Every response (and every failed attempt) is handed to a `record` callback as an
`Exchange` before anything else happens to it, so the raw store sees all traffic,
including the 429s and the HTML pages that made us back off.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from runner.acquire.redirects import UnfollowableRedirect, refuse_unfollowable_redirect
from runner.core.clock import now as clock_now
from runner.core.config import HttpSettings
from runner.core.errors import (
    BadBody,
    BodyTooLarge,
    ClientError,
    ConnectFailed,
    FetchError,
    FetchTimeout,
    RetryableFetchError,
    ServerError,
    Throttled,
    TooManyRedirects,
)
from runner.core.exchange import CaptureMemory, Clock, Exchange, Previous, Recorder, headers_of_interest
from runner.store.budget import SharedBudget

THROTTLE_STATUSES = frozenset({403, 429, 430})

GATE_MARGIN = 0.03  # 3% slower than the limit, so a shop's own clock never counts one too many


class ShopGate:
    """Rate and concurrency limit for one shop (not one host: shops may share a host).

    With a SharedBudget (runner/store/budget.py), the limit holds across every process that uses
    the database: each request also takes the shop's turn there while its headers go out,
    and a throttle blocks the shop for all of them."""

    def __init__(self, key: str, rps: float, concurrency: int, budget: SharedBudget | None = None) -> None:
        self.key = key
        self.budget = budget
        self.interval = 1.0 / rps
        self.semaphore = asyncio.Semaphore(concurrency)
        self._next = 0.0
        self._lock = asyncio.Lock()
        self._wire_lock = asyncio.Lock()
        self._sending: asyncio.Task | None = None  # the request holding the shared turn
        self.last_sent: float | None = None  # monotonic time the last request's bytes went out

    def slow_to(self, interval: float) -> None:
        """Honour a robots.txt Crawl-delay when it is slower than our own limit."""
        self.interval = max(self.interval, interval)

    async def on_the_wire(self) -> None:
        """Called right before a request's headers are written (httpcore's trace hook).

        wait_turn() spaces the senders it lets go, but between that and the socket a
        connection may still have to be opened, or the event loop or the CPU may be busy:
        measured by the shop's own clock, requests then arrived 0.1 s apart at 2 req/s.
        This last, short wait keeps the bytes themselves spaced; it is usually zero.
        With a budget, the request also takes the shop's turn among every process on the
        database, and holds it (and this gate's wire) until off_the_wire()."""
        await self._wire_lock.acquire()
        try:
            if self.last_sent is not None:
                delay = self.last_sent + self.interval * (1 + GATE_MARGIN) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if self.budget is not None:
                await self.budget.take_turn(self.key)
        except BaseException:
            self._wire_lock.release()
            raise
        self.last_sent = time.monotonic()
        if self.budget is None:
            self._wire_lock.release()
        else:
            self._sending = asyncio.current_task()

    async def off_the_wire(self) -> None:
        """The request's headers are written (or failed, or its read ended first): with a
        budget, the shared turn is given back and this gate's next request may go."""
        if self._sending is None or self._sending is not asyncio.current_task():
            return
        self._sending = None
        try:
            assert self.budget is not None
            await self.budget.give_back(self.key, self.interval * (1 + GATE_MARGIN))
        finally:
            self._wire_lock.release()

    async def defer(self, seconds: float, reason: str) -> None:
        """The shop asked us to wait: nobody sends to it before then (with a budget: nobody anywhere)."""
        self._next = max(self._next, time.monotonic() + seconds)
        if self.budget is not None:
            await self.budget.block(self.key, seconds, reason)

    async def wait_turn(self) -> None:
        """Turns are taken one at a time, and the next is timed from when this one really
        goes: a busy event loop that wakes a sender late must not let the next one catch
        up. The small margin absorbs the jitter between our send and the shop's clock."""
        async with self._lock:
            # a loop: a Retry-After that arrives while we sleep moves _next further
            while (delay := self._next - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            self._next = time.monotonic() + self.interval * (1 + GATE_MARGIN)


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(attempt: int, settings: HttpSettings, rng: random.Random) -> float:
    """Exponential backoff with jitter: uniform(c/2, c), c = min(max, base * 2^(attempt-1)).

    Half the ceiling is kept as a floor so a retry never fires at once, and the random
    half spreads out clients that failed together.
    """
    ceiling = min(settings.backoff_max, settings.backoff_base * (2 ** (attempt - 1)))
    return rng.uniform(ceiling / 2, ceiling)


def retry_delay(error: FetchError, attempt: int, settings: HttpSettings,
                rng: random.Random) -> float:
    """The shop's own Retry-After (capped) when it gave one, else our backoff."""
    if error.retry_after is not None:
        return min(error.retry_after, settings.retry_after_cap)
    return backoff_delay(attempt, settings, rng)


class PoliteClient:
    def __init__(self, settings: HttpSettings, user_agent: str, *, seed: int | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, clock: Clock = clock_now,
                 budget: SharedBudget | None = None, memory: CaptureMemory | None = None) -> None:
        self.settings = settings
        self.memory = memory  # the raw store: makes requests conditional on the previous capture
        self.budget = budget  # shared with every process on the database; None: this process only
        self.clock = clock  # when responses are captured; tests replay past days with it
        self.user_agent = user_agent
        self._global = asyncio.Semaphore(settings.global_concurrency)
        self._gates: dict[str, ShopGate] = {}
        self._rng = random.Random(seed)
        timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=True,
            max_redirects=settings.max_redirects,
            event_hooks={"response": [refuse_unfollowable_redirect]},
            headers={"User-Agent": user_agent, "Accept": "application/json, text/plain;q=0.8, */*;q=0.5"},
            limits=httpx.Limits(max_connections=settings.global_concurrency * 2),
            transport=transport,  # unit tests of retry timing pass a MockTransport
        )

    async def __aenter__(self) -> PoliteClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()
        if self.budget is not None:
            await self.budget.close()

    def gate(self, key: str, rps: float) -> ShopGate:
        if key not in self._gates:
            self._gates[key] = ShopGate(key, rps, self.settings.shop_concurrency, self.budget)
        return self._gates[key]

    async def fetch(self, url: str, gate: ShopGate, record: Recorder, *, expect_json: bool = True,
                    params: dict[str, Any] | None = None) -> Exchange:
        """GET with retries. Returns the good exchange or raises the last FetchError.

        The raised error carries `.exchange`, the last response, so callers can read a
        permanent answer's body (Shopify's 400 `errors` marks the end of pagination).
        """
        full_url = str(httpx.URL(url, params=params)) if params else url
        previous = await self.memory.previous(gate.key, full_url) if self.memory else None
        attempt = 0
        while True:
            attempt += 1
            exchange = await self._attempt(full_url, gate, attempt, expect_json, previous)
            await record(exchange)
            error = classify(exchange, expect_json)
            if error is None:
                return exchange
            retryable = isinstance(error, RetryableFetchError)
            delay = retry_delay(error, attempt, self.settings, self._rng) if retryable else 0.0
            if isinstance(error, Throttled):  # the whole shop waits, not only this request
                await gate.defer(delay, f"{error} on {exchange.url}")
            if not retryable or attempt >= self.settings.max_attempts:
                raise error
            await asyncio.sleep(delay)

    async def _attempt(self, url: str, gate: ShopGate, attempt: int, expect_json: bool,
                       previous: Previous | None = None) -> Exchange:
        async with gate.semaphore, self._global:
            await gate.wait_turn()
            exchange = Exchange(requested_url=url, url=url, attempt=attempt,
                                captured_at=self.clock())
            started = time.monotonic()
            try:
                await asyncio.wait_for(self._read(url, exchange, gate, previous), self.settings.request_deadline)
            except asyncio.TimeoutError:
                exchange.fail(FetchTimeout, f"no complete response within {self.settings.request_deadline:g}s")
            exchange.elapsed_ms = int((time.monotonic() - started) * 1000)
        if expect_json and exchange.error is None and exchange.body is not None:
            _parse_json(exchange)
        return exchange

    async def _read(self, url: str, exchange: Exchange, gate: ShopGate, previous: Previous | None) -> None:
        chunks: list[bytes] = []
        try:
            await self._stream(url, exchange, gate, chunks, previous)
        except httpx.TooManyRedirects:
            exchange.fail(TooManyRedirects, f"more than {self.settings.max_redirects} redirects")
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, UnfollowableRedirect) as exc:
            exchange.fail(TooManyRedirects, f"unsupported redirect target ({exc})")
        except httpx.TimeoutException as exc:
            exchange.fail(FetchTimeout, type(exc).__name__)
        except httpx.DecodingError as exc:
            exchange.fail(BadBody, f"cannot decode body ({exc})")
        except httpx.TransportError as exc:
            # Includes a body cut short of its Content-Length; keep what did arrive.
            exchange.fail(ConnectFailed, f"{type(exc).__name__}: {exc}")
        finally:
            await gate.off_the_wire()  # a request cut short before its headers were out, or cancelled
            if exchange.status == 304 and not exchange.revalidated:
                exchange.body = None  # not modified since what? no body to stand for
            elif chunks or exchange.status is not None:
                exchange.body = b"".join(chunks)


    async def _stream(self, url: str, exchange: Exchange, gate: ShopGate, chunks: list[bytes],
                      previous: Previous | None) -> None:
        """The response into `exchange` and its body into `chunks`, up to the size limit. A
        304 to a conditional request takes the previous capture's body."""
        conditions = previous.conditions if previous else {}
        async with self._client.stream("GET", url, headers=conditions,
                                       extensions={"trace": _send_tracer(gate)}) as response:
            exchange.url = str(response.url)
            exchange.status = response.status_code
            exchange.headers = headers_of_interest(response.headers.multi_items())
            _keep_the_exchange(exchange, response)
            if response.status_code == 304 and previous and self.memory:
                body = await self.memory.body(previous.sha256)
                if body is not None:  # else an unasked-for 304: no body stands for it
                    exchange.revalidated, exchange.byte_length = True, len(body)
                    chunks.append(body)
                return
            # aiter_bytes decodes gzip as it goes, so a compression bomb stops at the limit.
            async for chunk in response.aiter_bytes():
                exchange.byte_length += len(chunk)
                if exchange.byte_length > self.settings.max_body_bytes:
                    exchange.fail(BodyTooLarge, f"body over {self.settings.max_body_bytes} bytes")
                    chunks.clear()
                    return
                chunks.append(chunk)


def _keep_the_exchange(exchange: Exchange, response: httpx.Response) -> None:
    """The status line and every header as received, and the request as sent."""
    reason = response.reason_phrase or ""
    exchange.status_line = f"{response.http_version} {response.status_code} {reason}".rstrip()
    exchange.response_headers = _pairs(response.headers.raw)
    request = response.request
    exchange.request = {"method": request.method, "url": str(request.url), "headers": _pairs(request.headers.raw)}


def _pairs(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    # latin-1 maps every byte to one character: any header bytes come back unchanged
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]


SEND_EVENTS = ("http11.send_request_headers.started", "http2.send_request_headers.started")
SENT_EVENTS = tuple(f"{version}.send_request_headers.{outcome}"
                    for version in ("http11", "http2") for outcome in ("complete", "failed"))


def _send_tracer(gate: ShopGate) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """httpcore's trace hook: every request (redirect hops too) passes the gate's last
    check just before its headers are written."""
    async def trace(event: str, info: dict[str, Any]) -> None:
        if event in SEND_EVENTS:
            await gate.on_the_wire()
        elif event in SENT_EVENTS:
            await gate.off_the_wire()
    return trace


def _parse_json(exchange: Exchange) -> None:
    try:
        text = (exchange.body or b"").decode("utf-8")
        exchange.json = json.loads(text, parse_constant=_reject_constant)
        exchange.parsed = True
    except (UnicodeDecodeError, ValueError, RecursionError):
        exchange.parsed = False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity: PostgreSQL jsonb refuses them


def classify(exchange: Exchange, expect_json: bool) -> FetchError | None:
    """None when the exchange is usable, else the error it amounts to."""
    if exchange.error:
        return (exchange.failure or ConnectFailed)(exchange.error, status=exchange.status, exchange=exchange)
    assert exchange.status is not None
    if (error := _status_error(exchange, exchange.status)) is not None:
        return error
    return _body_error(exchange) if expect_json and not exchange.parsed else None


def _status_error(exchange: Exchange, status: int) -> FetchError | None:
    """The error an HTTP status is, None for an answer with the page."""
    retry_after = parse_retry_after(exchange.headers.get("retry-after"))
    if status in THROTTLE_STATUSES:
        return Throttled(f"HTTP {status}", status=status, retry_after=retry_after, exchange=exchange)
    if status >= 500:
        return ServerError(f"HTTP {status}", status=status, retry_after=retry_after, exchange=exchange)
    if status >= 400:
        return ClientError(f"HTTP {status}", status=status, exchange=exchange)
    # a 304 to our conditional request: not modified, the previous capture's body stands
    if status >= 300 and not (status == 304 and exchange.revalidated):
        return ClientError(f"HTTP {status} without a usable redirect", status=status, exchange=exchange)
    return None


def _body_error(exchange: Exchange) -> FetchError:
    """A 2xx whose body is not the JSON we asked for."""
    if looks_like_html(exchange):
        # Shops behind bot protection answer 200 with a challenge page: back off.
        return Throttled("HTML page where JSON was expected", status=exchange.status, exchange=exchange)
    return BadBody("body is not valid JSON", status=exchange.status, exchange=exchange)


def looks_like_html(exchange: Exchange) -> bool:
    ctype = (exchange.content_type or "").lower()
    head = (exchange.body or b"")[:512].lstrip().lower()
    return "html" in ctype or head.startswith((b"<!doctype html", b"<html"))


# --- robots.txt ------------------------------------------------------------------------
