"""The production HTTP server of the one WSGI application: waitress, on the service's port.

Waitress is a pure-Python, well-kept WSGI server (the Pylons project's) with its own
thread pool, idle-connection timeout and request size limits; it needs no C compiler and
no reverse proxy in front for a service on 127.0.0.1 or a private network.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel

HTTP_THREADS = 4  # pages, /health and /metrics answered at once; the pool has as many connections
CLEANUP_SECONDS = 1  # how often waitress looks for idle connections to close
SHUTDOWN_SECONDS = 5.0

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


class HttpServer:
    """A listening server (bound in __init__: OSError when the port is taken); `serve` answers
    until `stop` is set, then closes every connection."""

    def __init__(self, app: WsgiApp, host: str, port: int, idle_timeout: float) -> None:
        self._server: Any = create_server(
            app, host=host, port=port, threads=HTTP_THREADS, ident="coffee-runner",
            channel_timeout=max(1, math.ceil(idle_timeout)), cleanup_interval=CLEANUP_SECONDS,
            expose_tracebacks=False, clear_untrusted_proxy_headers=True)
        self._server.channel_class = _Channel

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def serve(self, stop: threading.Event) -> None:
        """Answer requests on this thread until `stop`."""
        closer = threading.Thread(target=self._close_on, args=(stop,), name="coffee-http-stop", daemon=True)
        closer.start()
        self._server.run()
        closer.join()

    def _close_on(self, stop: threading.Event) -> None:
        stop.wait()
        self._server.task_dispatcher.shutdown(timeout=SHUTDOWN_SECONDS)
        wasyncore.close_all(self._server._map)  # the loop in `serve` ends when its map is empty


class _Channel(HTTPChannel):
    """Waitress's connection, saying so (one line) when a client leaves mid-request."""

    def handle_close(self) -> None:
        if self.request is not None and not self.request.completed:
            log.info("client %s went away mid-request", self.addr[0] if self.addr else "?")
        super().handle_close()


class WentAway(logging.Filter):
    """Waitress's own lines about clients that reset or drop their connection become one
    line each ("client ... went away"), without a traceback; other lines pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, (ConnectionError, TimeoutError)):
            record.msg, record.args = "client went away: %s", (type(error).__name__,)
            record.exc_info, record.exc_text, record.levelno, record.levelname = None, None, logging.INFO, "INFO"
        elif str(record.msg).startswith("Client disconnected while serving"):
            record.msg = "client went away: " + record.getMessage()
            record.args = ()
        return True


logging.getLogger("waitress").addFilter(WentAway())
