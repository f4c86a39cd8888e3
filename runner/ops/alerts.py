"""JSON alerts to the configured webhook: retried, bounded, never raising.

Sending happens on a daemon thread so the work is never held up; `flush()` gives
pending alerts a bounded moment to leave before the process exits.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time
from typing import Any

import httpx

from runner.core.config import Config

ALERT_ATTEMPTS = 3
ALERT_TIMEOUT_SECONDS = 5.0
ALERT_BACKOFF_SECONDS = 0.5
FLUSH_SECONDS = 15.0

log = logging.getLogger(__name__)
_pending: list[threading.Thread] = []


def alert(config: Config, event: str, **fields: Any) -> None:
    url = config.monitoring.alert_webhook
    if not url:
        return
    payload = {"event": event, "at": dt.datetime.now(dt.timezone.utc).isoformat(), "host": socket.gethostname(),
               **fields}
    thread = threading.Thread(target=_post, args=(url, payload, config.user_agent), daemon=True)
    thread.start()
    _pending.append(thread)


def _post(url: str, payload: dict[str, Any], user_agent: str) -> None:
    for attempt in range(1, ALERT_ATTEMPTS + 1):
        try:
            response = httpx.post(url, json=payload, timeout=ALERT_TIMEOUT_SECONDS,
                                  headers={"User-Agent": user_agent})
            if response.status_code < 500:
                if response.status_code >= 400:
                    log.warning("alert webhook refused the alert: HTTP %s", response.status_code)
                return
        except httpx.HTTPError as exc:
            log.debug("alert attempt %d failed: %s", attempt, exc)
        time.sleep(ALERT_BACKOFF_SECONDS * attempt)
    log.warning("alert %s could not be delivered to the webhook", payload["event"])


def flush(timeout: float = FLUSH_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while _pending:
        thread = _pending.pop()
        thread.join(max(0.0, deadline - time.monotonic()))
