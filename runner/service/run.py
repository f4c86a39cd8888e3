"""The service's lifecycle: bind the HTTP server, start its thread, install the signals
(SIGTERM and SIGINT stop, SIGHUP rereads the config), run the loop, shut everything down."""

from __future__ import annotations

import logging
import signal
import threading

from runner.core.config import Config
from runner.core.errors import InputError
from runner.ops import alerts
from runner.service.loop import Service
from runner.store.db import Target
from runner.web.health import bind

HTTP_JOIN_SECONDS = 5.0

log = logging.getLogger(__name__)


def run_service(config_path: str | None, config: Config, target: Target, host: str, port: int) -> None:
    """`coffee-runner serve` until a stop signal."""
    service = Service(config_path, config, target)
    try:
        server = bind(config, service.target, host, port, service.stop, lambda: service.view.as_dict())
    except OSError as exc:
        raise InputError(f"--port {port}: cannot listen ({exc.strerror})") from None
    http = threading.Thread(target=server.serve_forever, name="coffee-http", daemon=True)
    http.start()
    log.info("serving on http://%s:%d", host, server.server_address[1])
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stop.set())
    signal.signal(signal.SIGHUP, lambda *_: service.reload.set())
    try:
        service.run()
    finally:
        service.stop.set()
        http.join(timeout=HTTP_JOIN_SECONDS)
        server.server_close()
        alerts.flush()
