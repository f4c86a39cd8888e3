"""A real HTTP server on 127.0.0.1 that plays several roaster shops.

Routes (each shop under /r/<shop-id>):
    /r/<id>/robots.txt, /r/<id>/meta.json
    /r/<id>/products.json?limit=&page=                      (Shopify shops)
    /r/<id>/wp-json/wc/store/v1/products?per_page=&page=[&type=variation]   (Woo, v1 route)
    /r/<id>/wp-json/wc/store/products?...                    (Woo, older route)
    /_sim/roasters.yml    a coffee-runner config pointing at this server
    /_sim/requests        every request seen, as JSON (tests measure rates with it)
    /_sim/truth/<id>/<YYYY-MM-DD>.json   what the shop offered that day
    /wayback/cdx/search/cdx, /wayback/web/<ts>id_/<url>   a web archive of past days
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email.utils
import hashlib
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from runner.sandbox.simulator import wayback
from runner.sandbox.simulator.arrivals import KERNEL_STAMPS, SO_TIMESTAMPNS, kernel_arrival
from runner.sandbox.simulator.catalog import DEFAULT_SHOPS, ShopSpec, truth
from runner.sandbox.simulator.faults import Fault, FaultBook
from runner.sandbox.simulator.responses import (
    gzip_bomb,
    int_param,
    page_response,
    resource_of,
    roasters_yaml,
    robots_txt,
)
from runner.sandbox.simulator.state import (
    DEFAULT_SIM_RPS,
    GZIP_BOMB_BYTES,
    SHOPIFY_MAX_LIMIT,
    SHOPIFY_WINDOW,
    SIMPLE_ANSWERS,
    SLOW_DRIP_BYTES,
    SLOW_DRIP_SECONDS,
    RequestRecord,
    SimState,
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "coffee-sim/1"
    state: SimState  # set on the subclass the Simulator makes
    arrived_at: float | None = None

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests and the demo read /_sim/requests instead

    def handle_one_request(self) -> None:
        self.arrived_at = kernel_arrival(self.connection) if KERNEL_STAMPS else None
        super().handle_one_request()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = [s for s in parts.path.split("/") if s]
        shop_id = segments[1] if len(segments) > 1 and segments[0] == "r" else None
        with self.state.lock:
            # when the bytes reached this machine (else when the connection was accepted):
            # our own thread scheduling must not look like the client bunching requests
            # self.server is typed as the base class; this handler only runs under _QuietServer
            accepted = self.server.accepted_at.pop(self.request.fileno(), None)  # type: ignore[attr-defined]
            arrived = self.arrived_at or accepted or time.time()
            self.state.requests.append(RequestRecord(arrived, shop_id, parts.path, parts.query,
                                                     self.headers.get("User-Agent", "")))
        if self.state.latency:
            time.sleep(self.state.latency)
        # The client may give up first (timeouts in tests): then there is no one to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            try:
                self._route(segments, query)
            except Exception as exc:  # a simulator bug must look like a 500, not a hang-up
                self._send(500, f"simulator error: {type(exc).__name__}: {exc}".encode(), "text/plain")

    # --- routing -----------------------------------------------------------------------

    def _route(self, segments: list[str], query: dict[str, str]) -> None:
        if segments[:1] == ["_sim"]:
            return self._sim(segments[1:])
        if segments[:1] == ["wayback"]:
            return self._wayback(segments, urlsplit(self.path), query)
        if len(segments) < 3 or segments[0] != "r" or segments[1] not in self.state.shops:
            return self._send(404, b'{"error": "not found"}')
        shop = self.state.shops[segments[1]]
        rest = "/".join(segments[2:])
        resource = resource_of(shop, rest, query)
        if resource is None:
            return self._send(404, b'{"error": "not found"}', "application/json")
        page = int_param(query.get("page"), 1)
        fault = self.state.faults.take(shop.id, resource, page)
        if fault is not None and self._fault(fault, resource):
            return None
        return self._serve(shop, resource, query, robots_fault=fault)

    def _serve(self, shop: ShopSpec, resource: str, query: dict[str, str],
               robots_fault: Fault | None) -> None:
        if resource == "robots":
            return self._send(200, robots_txt(robots_fault).encode(), "text/plain")
        status, body, headers = page_response(self.state, shop, resource, query, self.state.day_for(shop))
        data = json.dumps(body, default=str).encode()
        if shop.validators and status == 200:
            etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
            if self.headers.get("If-None-Match") == etag:
                return self._not_modified(etag)
            headers = {**(headers or {}), "ETag": etag}
        return self._send(status, data, "application/json; charset=utf-8", headers)

    def _not_modified(self, etag: str) -> None:
        self.send_response(304)
        self.send_header("ETag", etag)
        self.end_headers()

    # --- the web archive ---------------------------------------------------------------

    def _wayback(self, segments: list[str], parts: Any, query: dict[str, str]) -> None:
        if segments[1:4] == ["cdx", "search", "cdx"]:
            return self._cdx(query)
        if len(segments) >= 4 and segments[1] == "web" and segments[2].endswith("id_"):
            prefix = f"/wayback/web/{segments[2]}/"
            original = parts.path[len(prefix):] + (f"?{parts.query}" if parts.query else "")
            original = original.replace(":/", "://", 1) if "://" not in original else original
            return self._capture(segments[2].removesuffix("id_"), original)
        return self._send(404, b"not found", "text/plain")

    def _capture(self, ts: str, original: str) -> None:
        """A raw capture: the page as served that day, or a redirect to the nearest capture."""
        state = self.state
        page = wayback.parse_original(original, state.base_url, state.shops)
        asked = wayback.parse_timestamp(ts)
        if page is None or asked is None:
            return self._send(404, b"not in archive", "text/plain")
        fault = state.faults.take(page.shop.id, "archive", page.page)
        if fault is not None and self._fault(fault, "archive"):
            return None
        today, day = state.day_for(page.shop), wayback.local_day(page.shop, asked)
        exact = wayback.capture_time(page.shop, day, page) == asked
        if not exact or not wayback.has_capture(state.seed, page.shop, day, today, state.archive_coverage):
            nearest = wayback.nearest_capture(state.seed, page, asked, today, state.archive_coverage)
            if nearest is None:
                return self._send(404, b"not in archive", "text/plain")
            location = f"{state.base_url}/wayback/web/{wayback.timestamp(nearest)}id_/{original}"
            return self._send(302, b"", "text/plain", {"Location": location})
        status, body, headers = page_response(state, page.shop, page.resource, page.query, day)
        return self._json(status, body, {f"X-Archive-Orig-{k}": v for k, v in headers.items()})

    def _cdx(self, query: dict[str, str]) -> None:
        state = self.state
        original = query.get("url", "")
        page = wayback.parse_original(original, state.base_url, state.shops)
        try:
            start = dt.datetime.strptime(query.get("from", "")[:8], "%Y%m%d").date()
            end = dt.datetime.strptime(query.get("to", "")[:8], "%Y%m%d").date()
        except ValueError:
            return self._send(400, b"from and to must be YYYYMMDD", "text/plain")
        if page is None:
            return self._json(200, [])
        fault = state.faults.take(page.shop.id, "cdx", page.page)
        if fault is not None and self._fault(fault, "cdx"):
            return None

        def body_for(day: dt.date) -> bytes:
            body = page_response(state, page.shop, page.resource, page.query, day)[1]
            return json.dumps(body, default=str).encode()

        today = state.day_for(page.shop)
        rows = wayback.cdx_rows(state.seed, page, original, start, end, today, state.archive_coverage, body_for)
        return self._json(200, rows)

    # --- faults ------------------------------------------------------------------------

    def _fault(self, fault: Fault, resource: str) -> bool:
        """Act out a fault. True when it answered the request (False: serve normally after)."""
        kind, arg = fault.kind, fault.arg
        if kind in ("latency", "timeout"):
            time.sleep(arg if arg is not None else 5.0)
            return False
        if kind.startswith("robots") or kind == "crawl-delay":
            if kind == "robots-403" and resource == "robots":
                self._send(403, b"Forbidden", "text/plain")
                return True
            return False  # handled while serving robots.txt
        answer = SIMPLE_ANSWERS.get(kind)
        if answer is not None:
            self._send(*answer)
        elif kind.isdigit() and kind != "429":  # a 429 may carry Retry-After: a special fault
            self._send(int(kind), f'{{"error": "simulated {kind}"}}'.encode(), "application/json")
        else:
            self._special_fault(kind, arg)
        return True

    def _special_fault(self, kind: str, arg: float | None) -> None:
        answers: dict[str, Callable[[], None]] = {
            "429": lambda: self._send(429, b'{"errors": "Too Many Requests"}', "application/json",
                                      {} if arg is None else {"Retry-After": str(int(arg))}),
            "429-date": lambda: self._send(429, b"Too Many Requests", "text/plain", {
                "Retry-After": email.utils.formatdate(time.time() + (arg or 1), usegmt=True)}),
            "truncated": lambda: self._send_truncated(
                json.dumps({"products": [{"id": 1, "title": "x" * 2000}]}).encode()),
            "huge": lambda: self._send(200, b'{"products": [], "pad": "' + b"x" * int(arg or 5_000_000) + b'"}',
                                       "application/json"),
            "drop": self._drop,
            "gzip-bomb": lambda: self._send(200, gzip_bomb(int(arg or GZIP_BOMB_BYTES)), "application/json",
                                            {"Content-Encoding": "gzip"}),
            "redirect-loop": lambda: self._send(302, b"", "text/plain", {"Location": self.path}),
            "slow-drip": lambda: self._drip(arg if arg is not None else SLOW_DRIP_SECONDS),
            "body": lambda: self._send(200, *self.state.custom_body),
        }
        if kind not in answers:
            raise ValueError(f"unknown fault kind {kind!r}")
        answers[kind]()

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.close()

    def _drip(self, pause: float) -> None:
        """A valid-looking JSON response that never finishes in reasonable time."""
        body = b'{"products": [' + b" " * SLOW_DRIP_BYTES + b"]}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(pause)
        except OSError:
            return  # the client gave up, as it should

    def _send_truncated(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    # --- /_sim -------------------------------------------------------------------------

    def _sim(self, rest: list[str]) -> None:
        if rest == ["roasters.yml"]:
            return self._send(200, roasters_yaml(self.state).encode(), "application/yaml")
        if rest == ["requests"]:
            with self.state.lock:
                rows = [r.__dict__ for r in self.state.requests]
            return self._json(200, rows)
        if len(rest) == 3 and rest[0] == "truth" and rest[1] in self.state.shops:
            try:
                day = dt.date.fromisoformat(rest[2].removesuffix(".json"))
            except ValueError:
                return self._json(400, {"error": "day must be YYYY-MM-DD"})
            rows = truth(self.state.seed, self.state.shops[rest[1]], day)
            return self._json(200, rows)
        return self._send(404, b'{"error": "not found"}', "application/json")

    # --- plumbing ----------------------------------------------------------------------

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body, default=str).encode(), "application/json; charset=utf-8", headers)

    def _send(self, status: int, body: bytes, ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    accepted_at: dict[int, float]

    def server_bind(self) -> None:
        if KERNEL_STAMPS and SO_TIMESTAMPNS is not None:  # accepted connections inherit it
            self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        super().server_bind()

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        self.accepted_at[sock.fileno()] = time.time()
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (as the runner does on a bomb or a drip) is not news."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class Simulator:
    """Start with `with Simulator(...) as sim:`; `sim.url` is the base URL."""

    _running: ClassVar[set[str]] = set()  # base URLs of started, not yet stopped simulators

    def __init__(self, *, seed: int = 42, shops: tuple[ShopSpec, ...] = DEFAULT_SHOPS,
                 faults: tuple[Fault, ...] | list[Fault] = (), today: dt.date | None = None,
                 latency: float = 0.0, history_days: int = 30,
                 rate_limit_rps: float = DEFAULT_SIM_RPS, shopify_window: int = SHOPIFY_WINDOW,
                 archive_coverage: float = 0.8, page_cap: int = SHOPIFY_MAX_LIMIT,
                 host: str = "127.0.0.1", port: int = 0, follow_clock: bool = False) -> None:
        self._initial_faults = list(faults)
        self.state = SimState(seed=seed, shops={s.id: s for s in shops}, faults=FaultBook(list(faults)),
                              today=today, latency=latency, history_days=history_days,
                              rate_limit_rps=rate_limit_rps, shopify_window=shopify_window,
                              archive_coverage=archive_coverage, page_cap=page_cap, follow_clock=follow_clock)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self._server = _QuietServer((host, port), handler)
        self._server.accepted_at = {}
        self._server.daemon_threads = True
        host_, port_ = self._server.server_address[:2]
        self.state.base_url = f"http://{host_!s}:{port_}"
        self._initial = dataclasses.replace(self.state, shops=dict(self.state.shops), requests=[])
        self._thread: threading.Thread | None = None

    @classmethod
    def running(cls) -> list[str]:
        """Base URLs of the simulators this process started and has not stopped."""
        return sorted(cls._running)

    def reset(self) -> None:
        """Back to the state it was built with: today, faults, settings; requests forgotten."""
        with self.state.lock:
            for f in dataclasses.fields(self.state):
                if f.name not in ("lock", "requests", "faults", "base_url"):
                    setattr(self.state, f.name, getattr(self._initial, f.name))
            self.state.shops = dict(self._initial.shops)
            self.state.requests.clear()
        self.state.faults.replace(self._initial_faults)

    @property
    def url(self) -> str:
        return self.state.base_url

    def start(self) -> Simulator:
        self._thread = threading.Thread(target=self._server.serve_forever, name="coffee-sim", daemon=True)
        self._thread.start()
        Simulator._running.add(self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        Simulator._running.discard(self.url)

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_faults(self, faults: list[Fault]) -> None:
        self.state.faults.replace(faults)

    def set_body(self, body: bytes, content_type: str = "application/json") -> None:
        """The bytes a "body" fault answers with (hostile payload tests)."""
        self.state.custom_body = (body, content_type)

    def requests(self) -> list[RequestRecord]:
        with self.state.lock:
            return list(self.state.requests)

    def roasters_yaml(self) -> str:
        return roasters_yaml(self.state)

    def truth(self, shop_id: str, day: dt.date) -> list[dict[str, Any]]:
        return truth(self.state.seed, self.state.shops[shop_id], day)
