"""The processes' lifecycles: the web application on its server (`serve_web`, also what
`health --serve` runs), and the scraper service around it (`run_service`: the HTTP thread,
the signals SIGTERM and SIGINT to stop and SIGHUP to reread the config, the loop, and a
clean shutdown). One connection pool serves the pages, /health, /metrics and the scheduler.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

from runner.core.config import Config
from runner.core.errors import InputError
from runner.ops import alerts
from runner.service.loop import Service
from runner.store.db import Target
from runner.store.pool import Connections, open_pool
from runner.web.app import App, Scheduler, background_checks
from runner.web.server import HTTP_THREADS, HttpServer

HTTP_JOIN_SECONDS = 10.0
SCHEDULER_CONNECTIONS = 2  # the loop's own reads, beside the server's threads

log = logging.getLogger(__name__)


@contextlib.contextmanager
def serve_web(config: Config, target: Target, host: str, port: int, stop: threading.Event,
              connections: Connections, scheduler: Scheduler | None = None) -> Iterator[str]:
    """The web application listening on host:port (InputError when it cannot), answering on
    its own thread until `stop` or the block ends; yields its base URL."""
    app = App(config, target, connections, scheduler)
    try:
        server = HttpServer(app, host, port, config.service.http_idle_timeout)
    except OSError as exc:
        raise InputError(f"--port {port}: cannot listen ({exc.strerror})") from None
    http = threading.Thread(target=server.serve, args=(stop,), name="coffee-http", daemon=True)
    http.start()
    background_checks(app, config.monitoring.progress_check_interval, stop)
    try:
        yield f"http://{host}:{server.port}"
    finally:
        stop.set()
        http.join(timeout=HTTP_JOIN_SECONDS)


def serve_health(config: Config, target: Target, host: str, port: int, stop: threading.Event) -> None:
    """`health --serve`: /health, /metrics and the dashboard until `stop` (SIGINT, SIGTERM)."""
    with open_pool(target, HTTP_THREADS) as connections, \
            serve_web(config, target, host, port, stop, connections) as url:
        log.info("health on %s/health and /metrics", url)
        _stop_on_signals(stop)
        stop.wait()
    alerts.flush()


def run_service(config_path: str | None, config: Config, target: Target, host: str, port: int) -> None:
    """`coffee-runner serve` until a stop signal."""
    with open_pool(target, HTTP_THREADS + SCHEDULER_CONNECTIONS) as connections:
        service = Service(config_path, config, target, connections)
        with serve_web(config, target, host, port, service.stop, connections,
                       lambda: service.view.as_dict()) as url:
            log.info("serving on %s", url)
            _stop_on_signals(service.stop)
            signal.signal(signal.SIGHUP, lambda *_: service.reload.set())
            try:
                service.run()
            finally:
                service.stop.set()
    alerts.flush()


def _stop_on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
