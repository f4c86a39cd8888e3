"""URL parameters, validated the way the CLI validates its options.

A bad value raises InputError with one line; the server answers it with 400.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs

from runner.core import clock
from runner.core.clock import check_range
from runner.core.config import Config, Roaster
from runner.core.errors import InputError

DEFAULT_DAYS = 90  # `/` shows the last 90 days unless ?start= says otherwise
MAX_PAGE_DAYS = 366  # a page shows at most a year: a bigger map is unreadable and heavy
FORMATS = ("html", "json")


@dataclass(frozen=True)
class Query:
    start: dt.date
    end: dt.date
    roasters: list[Roaster]
    format: str = "html"


def parse_day(name: str, value: str) -> dt.date:
    return clock.parse_day(value, name)


def parse_query(raw: str, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """The query string as lists of values; an unknown or empty parameter is refused."""
    try:
        values = parse_qs(raw, keep_blank_values=True, strict_parsing=bool(raw))
    except ValueError:
        raise InputError(f"malformed query string {raw!r}") from None
    for name, given in values.items():
        if name not in allowed:
            raise InputError(f"unknown parameter {name!r} (allowed: {', '.join(allowed)})")
        if name != "roaster" and len(given) > 1:
            raise InputError(f"{name} given {len(given)} times")
        if not all(v.strip() for v in given):
            raise InputError(f"{name} is empty")
    return values


def output_format(values: dict[str, list[str]]) -> str:
    chosen = values.get("format", ["html"])[0]
    if chosen not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)} (got {chosen!r})")
    return chosen


def range_query(config: Config, raw: str, *, default_days: int = DEFAULT_DAYS,
                allowed: tuple[str, ...] = ("start", "end", "roaster", "format")) -> Query:
    """?start=&end=&roaster=&format=: see `page_range`; roaster repeatable or comma-separated."""
    values = parse_query(raw, allowed)
    ids = [i.strip() for v in values.get("roaster", []) for i in v.split(",") if i.strip()]
    start = parse_day("start", values["start"][0]) if "start" in values else None
    end = parse_day("end", values["end"][0]) if "end" in values else None
    return page_range(config, start, end, ids, output_format(values), default_days)


def page_range(config: Config, start: dt.date | None, end: dt.date | None, roaster_ids: list[str],
               fmt: str = "html", default_days: int = DEFAULT_DAYS) -> Query:
    """Both ends inclusive; the end defaults to the latest roaster-local today, the start
    to `default_days` before it; no roaster named: every active one."""
    roasters = config.select(roaster_ids)
    if not roasters:
        raise InputError(f"{config.path}: no active roasters")
    end = end or max(r.today() for r in roasters)
    start = start or end - dt.timedelta(days=default_days - 1)
    check_range(start, end)
    if (end - start).days >= MAX_PAGE_DAYS:
        raise InputError(f"range {start}..{end} is longer than {MAX_PAGE_DAYS} days; narrow it with start and end")
    return Query(start, end, roasters, fmt)


def backfill_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InputError(f"{value!r} is not a backfill id (a UUID)") from None
