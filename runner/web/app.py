"""The one WSGI application of `serve` and `health --serve`: `/health`, `/metrics`
(prometheus_client's own WSGI app over a collector that reads the database on each
scrape), and every other path the dashboard's (`runner.web.routes`). GET and HEAD (the
same answer without its body); anything else is a 405.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import Metric

from runner.core.config import Config
from runner.store.db import Target
from runner.store.pool import Connections
from runner.web import routes
from runner.web.health import Families, Watch, metric_families

Scheduler = Callable[[], dict[str, Any]]  # the service's state, under `serve`
StartResponse = Callable[..., Any]
METHODS = ("GET", "HEAD")


class App:
    """`app(environ, start_response)`: one request. Database access through `connections`
    (the service's pool, shared with its scheduler)."""

    def __init__(self, config: Config, target: Target, connections: Connections,
                 scheduler: Scheduler | None = None) -> None:
        self.config, self.target, self.connections, self.scheduler = config, target, connections, scheduler
        self.watch = Watch(config, target, connections)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(Families(self._families))
        self._metrics = make_wsgi_app(registry)

    def _families(self) -> list[Metric]:
        """One scrape: a fresh health report (and the scheduler's state)."""
        return metric_families(self.connections, self.watch.check(), self.scheduler() if self.scheduler else None)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in METHODS:
            return _reply(start_response, 405, b"GET or HEAD only\n", "text/plain", method, [("Allow", "GET, HEAD")])
        path, query = environ.get("PATH_INFO") or "/", environ.get("QUERY_STRING", "")
        if path == "/metrics":
            return _headless(self._metrics, {**environ, "REQUEST_METHOD": "GET"}, start_response, method)
        status, body, ctype = self.answer(path, query)
        return _reply(start_response, status, body, ctype, method)

    def answer(self, path: str, query: str) -> tuple[int, bytes, str]:
        """(status, body, content type) of a GET of anything but /metrics."""
        if path == "/health":
            report = self.watch.check()
            report = {**report, "scheduler": self.scheduler()} if self.scheduler else report
            return 200 if report["healthy"] else 503, json.dumps(report, default=str).encode(), "application/json"
        page = routes.handle(self.config, self.connections, path, query)
        return page.status, page.body, page.content_type


def _reply(start_response: StartResponse, status: int, body: bytes, ctype: str, method: str,
           extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    start_response(f"{status} {HTTPStatus(status).phrase}",
                   [("Content-Type", ctype), ("Content-Length", str(len(body))), *(extra or [])])
    return [b"" if method == "HEAD" else body]


def _headless(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], start_response: StartResponse,
              method: str) -> list[bytes]:
    """Another WSGI app's answer to GET; to HEAD, its status and headers (with the length of
    the body it would send) and no body."""
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> None:
        captured.update(status=status, headers=headers)

    body = b"".join(app(environ, capture))
    headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
    start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
    return [b"" if method == "HEAD" else body]


def background_checks(app: App, every: float, stop: threading.Event) -> threading.Thread:
    """Health checked every `every` seconds until `stop`: the webhook hears when it turns bad
    even when nobody asks."""
    def check() -> None:
        while not stop.wait(every):
            app.watch.check()

    thread = threading.Thread(target=check, name="coffee-health-watch", daemon=True)
    thread.start()
    return thread
