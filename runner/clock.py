"""The runner's notion of "now": the wall clock, or the moment $COFFEE_NOW names.

"Today" in a roaster's timezone decides a day's fate (a gap, or a day still running;
a live refetch or the archive). Reading it from one place lets tests and demos fix the
moment (e.g. 23:59:59 in a roaster's timezone) and lets dbt see the same moment: the
coverage model reads $COFFEE_NOW through the macro `clock_now()`.
"""

from __future__ import annotations

import datetime as dt
import os

from runner.errors import InputError

NOW_ENV = "COFFEE_NOW"


def now() -> dt.datetime:
    """The current moment (timezone-aware, UTC unless $COFFEE_NOW says otherwise)."""
    value = os.environ.get(NOW_ENV, "").strip()
    if not value:
        return dt.datetime.now(dt.timezone.utc)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{NOW_ENV} must be an ISO 8601 timestamp with an offset (got {value!r})") from None
    if moment.tzinfo is None:
        raise InputError(f"{NOW_ENV} must carry a UTC offset, e.g. 2026-11-20T23:59:59+00:00 (got {value!r})")
    return moment
