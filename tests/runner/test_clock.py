"""runner/core/clock.py: the frozen and the moving clock, and the days the runner accepts
(no database, no wall clock: every moment here is given)."""

from __future__ import annotations

import datetime as dt
import types

import pytest

from runner.core import clock
from runner.core.errors import InputError

MOMENT = dt.datetime(2026, 11, 20, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
ANCHOR = 1_800_000_000.0  # a unix time: the real moment MOMENT was true


@pytest.fixture(autouse=True)
def no_clock(monkeypatch):
    for name in (clock.NOW_ENV, clock.RATE_ENV, clock.ANCHOR_ENV):
        monkeypatch.delenv(name, raising=False)


def test_a_frozen_clock_is_the_moment_named_with_its_offset(monkeypatch):
    monkeypatch.setenv(clock.NOW_ENV, MOMENT.isoformat())
    assert clock.now() == MOMENT and clock.now().utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert clock.frozen_env() == {clock.NOW_ENV: MOMENT.isoformat()}
    assert clock.real_seconds(60) == 60  # a frozen clock waits as long as the wall clock


def test_a_moving_clock_runs_rate_times_faster_from_its_anchor(monkeypatch):
    monkeypatch.setenv(clock.NOW_ENV, MOMENT.isoformat())
    monkeypatch.setenv(clock.RATE_ENV, "60")
    monkeypatch.setenv(clock.ANCHOR_ENV, str(ANCHOR))
    monkeypatch.setattr(clock, "time", types.SimpleNamespace(time=lambda: ANCHOR + 10))  # ten real seconds on
    assert clock.now() == MOMENT + dt.timedelta(minutes=10)
    assert clock.real_seconds(600) == 10 and clock.simulated_seconds(10) == 600
    assert clock.frozen_env() == {clock.NOW_ENV: (MOMENT + dt.timedelta(minutes=10)).isoformat()}


def test_without_a_moment_the_clock_is_the_wall_clock_and_children_get_nothing():
    assert clock.now().tzinfo is not None and clock.frozen_env() == {}


@pytest.mark.parametrize(("name", "value", "says"), [
    (clock.NOW_ENV, "yesterday", "ISO 8601"),
    (clock.NOW_ENV, "2026-11-20T12:00:00", "UTC offset"),
    (clock.NOW_ENV, "0001-01-01T00:00:00+00:00", "outside the days"),
    (clock.RATE_ENV, "fast", "must be a number"),
    (clock.RATE_ENV, "0", "(0, 1e+06]"),
])
def test_a_bad_clock_is_one_line(monkeypatch, name, value, says):
    monkeypatch.setenv(clock.NOW_ENV, MOMENT.isoformat())
    monkeypatch.setenv(name, value)
    with pytest.raises(InputError) as info:
        clock.now()
    assert says in str(info.value) and "\n" not in str(info.value)


def test_days_and_ranges_the_runner_accepts():
    assert clock.parse_day("2026-02-28", "--start") == dt.date(2026, 2, 28)
    for bad in ("2026-02-30", "20261120", "9999-12-31"):
        with pytest.raises(InputError, match="--start"):
            clock.parse_day(bad, "--start")
    clock.check_range(clock.FIRST_DAY, clock.FIRST_DAY + dt.timedelta(days=clock.MAX_RANGE_DAYS - 1))
    with pytest.raises(InputError, match="after"):
        clock.check_range(dt.date(2026, 11, 2), dt.date(2026, 11, 1))
    with pytest.raises(InputError, match="longer than"):
        clock.check_range(clock.FIRST_DAY, clock.FIRST_DAY + dt.timedelta(days=clock.MAX_RANGE_DAYS))
