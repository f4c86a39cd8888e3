"""Which code built which days: the versions recorded on mart rows and in control.mart_rebuilds.

A version is the dbt macro `code_version` (macros/provenance/code_version.sql): a
fingerprint of the models, macros, seeds and vars that derive the marts, without comments
and whitespace. Every mart row carries it (and the dbt `invocation_id` that wrote it);
every replacement of mart rows records it in control.mart_rebuilds. Whether a day is
stale is decided by ops.coverage_daily (macros/provenance/stale_reason.sql); this module
answers the operator's questions after a rollback: which days did version V build, and
which versions came after it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg

from runner.core.config import Roaster
from runner.core.errors import InputError
from runner.store.db import one_row

MIN_VERSION_CHARS = 4  # a prefix shorter than this would match versions by accident

# Days whose mart rows a set of versions (or an invocation) wrote: from the artifacts,
# which every day with data has, and from the prices, which a moved day may still hold.
DAYS_SQL = """
    select roaster_id, day from marts.scrape_artifacts
     where (code_version = any(%(versions)s) or invocation_id = any(%(versions)s))
       and roaster_id = any(%(roasters)s)
    union
    select roaster_id, day from marts.prices
     where (code_version = any(%(versions)s) or invocation_id = any(%(versions)s))
       and roaster_id = any(%(roasters)s)
"""


@dataclass(frozen=True)
class VersionFilter:
    """`--built-by V` (only V) or `--since-version V` (V and every version first recorded after it)."""

    version: str
    since: bool = False

    @property
    def option(self) -> str:
        return f"--{'since-version' if self.since else 'built-by'} {self.version}"


def version_filter(built_by: str | None, since_version: str | None) -> VersionFilter | None:
    """The filter `--built-by V` or `--since-version V` name; None without either."""
    for name, value in (("--built-by", built_by), ("--since-version", since_version)):
        if value is not None and not value.strip():
            raise InputError(f"{name}: the version is empty")
    if built_by and since_version:
        raise InputError("--built-by and --since-version go separately")
    if built_by or since_version:
        return VersionFilter(built_by or since_version or "", since=bool(since_version))
    return None


def resolve(conn: psycopg.Connection, wanted: VersionFilter) -> list[str]:
    """The full versions (or invocation ids) the filter names; InputError when none matches."""
    if len(wanted.version) < MIN_VERSION_CHARS:
        raise InputError(f"{wanted.option}: give at least {MIN_VERSION_CHARS} characters of a version")
    rows = conn.execute(
        """select code_version, min(rebuilt_at) from control.mart_rebuilds
            where code_version like %(prefix)s or invocation_id = %(exact)s
            group by code_version order by 2""",
        {"prefix": wanted.version + "%", "exact": wanted.version}).fetchall()
    if not rows:
        raise InputError(f"{wanted.option}: no build recorded that version or invocation "
                         "(control.mart_rebuilds; `coffee-runner plan --json` shows the current one)")
    if len(rows) > 1 and not wanted.since:
        raise InputError(f"{wanted.option} matches {len(rows)} versions: give more characters")
    if not wanted.since:
        return [rows[0][0]]
    later = conn.execute(
        """select code_version from control.mart_rebuilds where code_version is not null
            group by code_version having min(rebuilt_at) >= %s""", (rows[0][1],)).fetchall()
    return sorted({r[0] for r in later})


def days_built(conn: psycopg.Connection, versions: list[str], roaster_ids: list[str]) -> set[tuple[str, dt.date]]:
    """The (roaster, day)s whose mart rows these versions wrote."""
    rows = conn.execute(DAYS_SQL, {"versions": versions, "roasters": roaster_ids}).fetchall()
    return {(r[0], r[1]) for r in rows}


def calendar_range(conn: psycopg.Connection, roasters: list[Roaster],
                   now: dt.datetime | None = None) -> tuple[dt.date, dt.date]:
    """Every day these roasters' calendars can hold: from the earliest `since` or first
    run (a day early: a run's local day may precede its UTC date) to the latest today."""
    ids = [r.id for r in roasters]
    first_run = one_row(conn.execute(
        """select min(coalesce(target_day, started_at::date - 1)) from raw.scrape_runs
            where roaster_id = any(%s)""", (ids,)).fetchone())[0]
    end = max(r.today(now) for r in roasters)
    starts = [r.since for r in roasters if r.since is not None] + ([first_run] if first_run else [])
    return min([*starts, end]), end
