"""When a roaster's daily scrape is due: its schedule, in its own timezone, plus a jitter.

A schedule is a time of day (`"06:30"`) or a cron expression (`"30 6 * * 1-5"`), read in
the roaster's timezone. Each local day is scraped once, at the first moment the schedule
names on that day (a DST change that repeats or skips the hour still gives one moment:
the first); a day the expression does not name (a weekday-only schedule on a Sunday) is
due at its local midnight, so no day is left to the catch-up by design. A seeded jitter
(the same for a roaster and a day in every process, different between roasters) spreads
roasters that share a schedule over `jitter_seconds`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
DEFAULT_SCHEDULE = "06:00"
# A fixed moment to ask "does this expression ever fire?" from (never the wall clock):
# croniter searches up to 50 years ahead, so a 29 February fires and a 30 February does not.
FIRES_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)


def cron_expression(schedule: str) -> str:
    """The schedule as a cron expression ("06:30" becomes "30 6 * * *").

    Raises ValueError when it is neither a time of day nor a valid 5-field cron expression."""
    text = schedule.strip() if isinstance(schedule, str) else ""
    match = TIME_OF_DAY.match(text)
    if match:
        return f"{int(match.group(2))} {int(match.group(1))} * * *"
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise ValueError(f"must be a time of day like '06:30' or a cron expression like '30 6 * * *' "
                         f"(got {schedule!r})")
    try:
        croniter(text, FIRES_FROM).get_next(dt.datetime)
    except CroniterError:
        raise ValueError(f"cron expression {schedule!r} never fires (no such day)") from None
    return text


def jitter(roaster_id: str, day: dt.date, jitter_seconds: float) -> dt.timedelta:
    """A delay in [0, jitter_seconds), a pure function of (roaster, day)."""
    if jitter_seconds <= 0:
        return dt.timedelta(0)
    digest = hashlib.sha256(f"{roaster_id}/{day.isoformat()}".encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return dt.timedelta(seconds=share * jitter_seconds)


def due_at(schedule: str, timezone: str, day: dt.date, roaster_id: str, jitter_seconds: float) -> dt.datetime:
    """The moment (UTC) the scrape of local `day` is due."""
    zone = ZoneInfo(timezone)
    midnight = dt.datetime.combine(day, dt.time(0), zone)
    moment = _first_on(schedule, zone, day, midnight)
    last = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone) - dt.timedelta(seconds=1)
    return min(moment + jitter(roaster_id, day, jitter_seconds), last).astimezone(dt.timezone.utc)


def _first_on(schedule: str, zone: ZoneInfo, day: dt.date, midnight: dt.datetime) -> dt.datetime:
    """The schedule's first moment on local `day`, else local midnight (also when no next moment
    can be computed: the config check refuses such a schedule, and a tick must never crash on one)."""
    try:
        # croniter steps from the moment before; one second before midnight finds a 00:00 schedule
        first = croniter(cron_expression(schedule), midnight - dt.timedelta(seconds=1)).get_next(dt.datetime)
    except (CroniterError, ValueError):
        return midnight
    return first if first.astimezone(zone).date() == day else midnight
