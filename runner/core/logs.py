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
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from runner.core.settings import settings

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
    return settings().log_format


class _FileSink(logging.Handler):
    """JSON lines appended to the log file named at the time of each record (a process's
    $COFFEE_HOME may change, logrotate may move the file): opened, written, closed."""

    def __init__(self, where: Callable[[], Path]) -> None:
        super().__init__()
        self.where = where
        self.setFormatter(JsonLines())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            path = self.where()
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as sink:
                sink.write(self.format(record) + "\n")
        except OSError:
            return  # the folder's problem is reported by the command that needs it


def setup_logging(verbose: bool, log_file: Callable[[], Path], *, named: bool = False) -> None:
    """Configure the pipeline once per process (again: only the level changes). A log file
    that cannot be written is said on stderr when the operator `named` it ($COFFEE_LOG_FILE;
    the default's folder, $COFFEE_HOME, reports its own problem)."""
    level = logging.DEBUG if verbose else logging.INFO
    if named:
        _check_writable(log_file())
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


def _handlers(log_file: Callable[[], Path]) -> list[logging.Handler]:
    stderr = _Stderr()
    if log_format() == "json":
        stderr.setFormatter(JsonLines())
    else:  # a person reads it: events are for machines (the file, the journal)
        stderr.setFormatter(logging.Formatter("coffee-runner: %(message)s"))
        stderr.addFilter(_no_events)
    handlers: list[logging.Handler] = [stderr, _FileSink(log_file)]
    for handler in handlers:
        handler.addFilter(_Fields())
    return handlers


def _check_writable(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.open("a", encoding="utf-8").close()
    except OSError as exc:
        print(f"coffee-runner: log file {path}: {exc.strerror or exc}; logging to stderr only", file=sys.stderr)
