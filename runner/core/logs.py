"""The runner's one log pipeline, for the commands and the service alike.

Every line goes to stderr: text for a person at a terminal ("coffee-runner: ..."), or one
JSON object per line with `COFFEE_LOG_FORMAT=json` (the systemd unit sets it, so
`journalctl -u coffee-scraper -o json` carries the objects in MESSAGE). The same events
also go, always as JSON lines, to the file `COFFEE_LOG_FILE` (default
`$COFFEE_HOME/logs/backfill.log`; the unit sets `/var/log/coffee-scraper/backfill.log`),
for `tail -f` and `grep -i error`. `bound(backfill_id=..., roaster=..., day=...)` adds
its fields to every line logged inside it, on this thread or task.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMAT_ENV = "COFFEE_LOG_FORMAT"
FILE_ENV = "COFFEE_LOG_FILE"
FORMATS = ("text", "json")
LOGGERS = ("runner", "waitress")  # ours, and the HTTP server's (its lines about clients)
QUIET = ("httpx", "httpcore", "pgserver", "psycopg.pool")

log = logging.getLogger("runner")
_bound: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("coffee_log_fields", default=None)


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Every line logged inside carries these fields (None values are left out)."""
    token = _bound.set({**(_bound.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


class _Fields(logging.Filter):
    """Copies the bound fields onto each record (`record.bound`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.bound = {**(_bound.get() or {}), **getattr(record, "bound", {})}
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: at, level, event, message, the bound fields and the
    event's own fields (`extra={"event": ..., "fields": {...}}`)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "at": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
            "level": record.levelname, "event": getattr(record, "event", "log"), "logger": record.name,
            "message": record.getMessage(), "pid": record.process,
            **getattr(record, "bound", {}), **getattr(record, "fields", {}),
        }
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class _Stderr(logging.StreamHandler[Any]):
    """Writes to whatever sys.stderr is at the time (tests swap it per invocation)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        return


def _no_events(record: logging.LogRecord) -> bool:
    return not hasattr(record, "event")


def log_format() -> str:
    value = os.environ.get(FORMAT_ENV, "text").strip().lower() or "text"
    return value if value in FORMATS else "text"


def setup_logging(verbose: bool, log_file: Path | None) -> None:
    """Configure the pipeline once per process (again: only the level changes). Without a
    log file, stderr only."""
    level = logging.DEBUG if verbose else logging.INFO
    handlers = None if any(isinstance(h, _Stderr) for h in log.handlers) else _handlers(log_file)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if handlers is not None:
            logger.propagate = False
            for handler in handlers:
                logger.addHandler(handler)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _handlers(log_file: Path | None) -> list[logging.Handler]:
    stderr = _Stderr()
    if log_format() == "json":
        stderr.setFormatter(JsonLines())
    else:  # a person reads it: events are for machines (the file, the journal)
        stderr.setFormatter(logging.Formatter("coffee-runner: %(message)s"))
        stderr.addFilter(_no_events)
    handlers: list[logging.Handler] = [stderr]
    if log_file is not None:
        handlers += _file_sink(log_file)
    for handler in handlers:
        handler.addFilter(_Fields())
    return handlers


def _file_sink(log_file: Path) -> list[logging.Handler]:
    """The JSON lines file; none (and one line on stderr) when it cannot be opened."""
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        sink = logging.handlers.WatchedFileHandler(log_file, encoding="utf-8")  # reopened after logrotate
    except OSError as exc:
        print(f"coffee-runner: log file {log_file}: {exc.strerror or exc}; logging to stderr only", file=sys.stderr)
        return []
    sink.setFormatter(JsonLines())
    return [sink]
