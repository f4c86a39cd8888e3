"""The runner's notion of "now": the wall clock, or the moment $COFFEE_NOW names.

"Today" in a roaster's timezone decides a day's fate (a gap, or a day still running;
a live refetch or the archive). Reading it from one place lets tests and demos fix the
moment (e.g. 23:59:59 in a roaster's timezone) and lets dbt see the same moment: the
coverage model reads $COFFEE_NOW through the macro `clock_now()`.

A clock that moves: with $COFFEE_CLOCK_RATE as well, the moment advances RATE simulated
seconds per real second from $COFFEE_NOW, counted from the Unix time
$COFFEE_CLOCK_ANCHOR (default: this process's first reading). The service runs days in
minutes this way (its tests and the demo); every process given the same three values
agrees on the time. `frozen_env()` is what a child that reads only $COFFEE_NOW (dbt)
gets: the moment of the call.
"""

from __future__ import annotations

import datetime as dt
import time

from runner.core.errors import InputError
from runner.core.settings import settings

NOW_ENV = "COFFEE_NOW"
RATE_ENV = "COFFEE_CLOCK_RATE"
ANCHOR_ENV = "COFFEE_CLOCK_ANCHOR"
MAX_RATE = 1_000_000.0
# The days the runner accepts anywhere a day is given (options, URL parameters, the config,
# $COFFEE_NOW): Python's dates end at years 1 and 9999 (PostgreSQL's reach much further),
# and a day's arithmetic (its local midnight in any time zone, the day after, a week's
# window) must stay inside them, so a year of headroom is kept at each end.
FIRST_DAY = dt.date(2, 1, 1)
LAST_DAY = dt.date(9998, 12, 31)
MAX_RANGE_DAYS = 3660  # ten years: a typo guard, not a limit anyone should meet
_first_reading: list[float] = []


def check_day(day: dt.date, label: str) -> dt.date:
    """`day`, or InputError naming `label` when it is outside [FIRST_DAY, LAST_DAY]."""
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(f"{label}: {day.isoformat()} is outside the days the runner handles "
                         f"({FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()})")
    return day


def check_range(start: dt.date, end: dt.date) -> None:
    if start > end:
        raise InputError(f"--start {start} is after --end {end}")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise InputError(f"range {start}..{end} is longer than {MAX_RANGE_DAYS} days")


def parse_day(value: str, label: str) -> dt.date:
    """A YYYY-MM-DD day within the runner's days, or InputError naming `label`."""
    try:
        day = dt.datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InputError(f"{label}: {value!r} is not a date (YYYY-MM-DD)") from None
    return check_day(day, label)


def now() -> dt.datetime:
    """The current moment (timezone-aware, UTC unless $COFFEE_NOW says otherwise)."""
    env = settings()  # read once: each reading scans the environment
    value = env.now.strip()
    if not value:
        return dt.datetime.now(dt.timezone.utc)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{NOW_ENV} must be an ISO 8601 timestamp with an offset (got {value!r})") from None
    if moment.tzinfo is None:
        raise InputError(f"{NOW_ENV} must carry a UTC offset, e.g. 2026-11-20T23:59:59+00:00 (got {value!r})")
    check_day(moment.date(), NOW_ENV)
    rate = _number(RATE_ENV, env.clock_rate)
    if rate is None:
        return moment
    if not 0 < rate <= MAX_RATE:
        raise InputError(f"{RATE_ENV} must be a number in (0, {MAX_RATE:g}] (got {rate:g})")
    anchor = _number(ANCHOR_ENV, env.clock_anchor)
    if anchor is None:
        if not _first_reading:
            _first_reading.append(time.time())
        anchor = _first_reading[0]
    return moment + dt.timedelta(seconds=(time.time() - anchor) * rate)


def _rate() -> float:
    """Simulated seconds per real second: the moving clock's rate, else 1."""
    env = settings()
    moving = env.now.strip() and _number(RATE_ENV, env.clock_rate)
    return moving or 1.0


def real_seconds(simulated: float) -> float:
    """How long to really wait for `simulated` seconds of this clock to pass."""
    return simulated / _rate()


def simulated_seconds(real: float) -> float:
    """How much of this clock passes in `real` seconds."""
    return real * _rate()


def frozen_env() -> dict[str, str]:
    """Environment entries that give a child the current moment, fixed (empty: wall clock)."""
    if not settings().now.strip():
        return {}
    return {NOW_ENV: now().isoformat()}


def _number(name: str, raw: str) -> float | None:
    value = raw.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{name} must be a number (got {value!r})") from None
