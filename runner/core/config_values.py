"""The values of roasters.yml, one check per kind (rates, schedules, URLs, dates, time
zones), and the YAML loader: what `runner/core/config.py`'s models call. No I/O but reading
the system's time zone names once."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import available_timezones

import yaml

from runner.core import clock
from runner.core.dbt_project import currency_re, slug_re
from runner.core.schedule import cron_expression

MAX_RATE_LIMIT_RPS = 100.0


class Loader(yaml.SafeLoader):
    """safe_load's YAML, except that an unquoted timestamp that is no real date
    (`since: 2026-02-30`) stays text: its field's validator then names it in one line,
    where PyYAML's own constructor would raise a bare ValueError."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)


Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def rate_value(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_RATE_LIMIT_RPS:
        raise ValueError(f"must be a number in (0, {MAX_RATE_LIMIT_RPS:g}]")
    return float(value)


def schedule_value(value: Any) -> str:
    cron_expression(value)  # raises ValueError with the message
    return value.strip()


def http_url(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"must be an http(s) URL without query (got {value!r})")
    return value


def date_value(value: Any) -> dt.date | None:
    """A YAML date or an ISO string, within the days the runner handles."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, dt.date) or not clock.FIRST_DAY <= value <= clock.LAST_DAY:
        raise ValueError(f"must be a date YYYY-MM-DD from {clock.FIRST_DAY} to {clock.LAST_DAY}")
    return value


def slug_value(value: Any) -> str:
    if not isinstance(value, str) or not slug_re().match(value):
        raise ValueError(f"must be a slug like 'blue-tokai' ({slug_re().pattern.strip('^$')})")
    return value


def name_value(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError("must be a non-empty string")
    return value.strip() if value else None


def currency_value(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not currency_re().match(value)):
        raise ValueError("must be an ISO 4217 code like 'USD'")
    return value


def zone_value(value: Any) -> str:
    if not is_zone_name(value):
        raise ValueError(f"unknown timezone {value!r}")
    return str(value)


def one_line(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise ValueError("must be a one-line string")
    return value


def is_zone_name(name: Any) -> bool:
    """An IANA zone name Python knows (not a file path, `posix/...`, `right/...` or `localtime`,
    which ZoneInfo opens but PostgreSQL never knows); `check_timezones` asks the server too."""
    return isinstance(name, str) and name in _zone_names()


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones() - {"localtime", "posixrules"})
