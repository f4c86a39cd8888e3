"""runner/transform/provenance.py: which code version built which days, on a migrated
database (control.mart_rebuilds written as dbt's post-hooks write it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from runner.core.config import parse_config
from runner.core.errors import InputError
from runner.transform.provenance import VersionFilter, calendar_range, resolve, version_filter
from tests.runner.helpers import CLOCK

pytestmark = pytest.mark.unbuilt

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def rebuilds(db):
    for version, hours in (("aaaa1111", 0), ("bbbb2222", 1), ("bbbb3333", 2), ("cccc4444", 3)):
        db.execute("""insert into control.mart_rebuilds (model, kind, started_at, rebuilt_at, code_version)
                      values ('prices', 'full', %s, %s, %s)""",
                   (T0 + dt.timedelta(hours=hours),) * 2 + (version,))
    return db


def test_a_version_names_itself_and_since_names_every_later_one(rebuilds):
    assert resolve(rebuilds, VersionFilter("aaaa")) == ["aaaa1111"]
    assert resolve(rebuilds, VersionFilter("bbbb3", since=True)) == ["bbbb3333", "cccc4444"]
    with pytest.raises(InputError, match="matches 2 versions"):
        resolve(rebuilds, VersionFilter("bbbb"))
    with pytest.raises(InputError, match="no build recorded"):
        resolve(rebuilds, VersionFilter("dddd"))
    with pytest.raises(InputError, match="at least"):
        resolve(rebuilds, VersionFilter("a"))


def test_the_two_version_options_go_separately_and_never_empty():
    assert version_filter(None, None) is None
    assert version_filter(None, "abcd") == VersionFilter("abcd", since=True)
    for built_by, since, says in (("", None, "--built-by: the version is empty"),
                                  ("abcd", "abcd", "go separately")):
        with pytest.raises(InputError, match=says):
            version_filter(built_by, since)


def test_a_calendar_runs_from_the_earliest_since_or_first_run_to_the_latest_today(db):
    config = parse_config("""
roasters:
  - {id: east, platform: shopify, base_url: "http://e.example", timezone: Asia/Tokyo, since: 2026-10-01}
  - {id: west, platform: shopify, base_url: "http://w.example", timezone: America/Los_Angeles}
""", Path("r.yml"))
    late = CLOCK.replace(hour=20)  # already the next day in Tokyo
    assert calendar_range(db, list(config.roasters), late) == (dt.date(2026, 10, 1), late.date() + dt.timedelta(days=1))
    west = [config.roaster("west")]
    assert calendar_range(db, west, late) == (late.date(), late.date())  # no since, no run: today only
