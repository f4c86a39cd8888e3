"""runner/service/loop.py's decisions: what each roaster needs at a moment (no database)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from runner.core.config import parse_config
from runner.service.loop import decide, heal_due, retry_backoff
from runner.store import pauses
from runner.store.raw import UnitRuns

UTC = dt.timezone.utc
CONFIG = parse_config("""
schedule: "06:00"
service: {jitter_seconds: 0, retry_backoff_seconds: 300, retry_backoff_max: 3600}
roasters:
  - {id: ny, platform: shopify, base_url: "https://ny.example", timezone: America/New_York}
  - {id: kol, platform: shopify, base_url: "https://kol.example", timezone: Asia/Kolkata}
  - {id: idle, platform: shopify, base_url: "https://idle.example", active: false}
""", Path("roasters.yml"))


def states(now: dt.datetime, runs=None, paused=()) -> dict[str, tuple]:
    decisions = decide(CONFIG, now, list(paused), runs or {})
    return {d.roaster_id: (d.state, d.day, d.next_run_at) for d in decisions}


def test_each_roaster_is_due_at_its_own_local_time():
    now = dt.datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 22:00 the day before in New York, 08:30 in Kolkata
    got = states(now)
    assert set(got) == {"ny", "kol"}  # inactive roasters are not scheduled
    assert got["kol"] == ("due", dt.date(2026, 11, 20), now)
    assert got["ny"] == ("due", dt.date(2026, 11, 19), now)  # its 06:00 of the 19th has passed


def test_before_the_scheduled_time_it_waits_and_says_until_when():
    now = dt.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # 05:00 in New York
    assert states(now)["ny"] == ("scheduled", dt.date(2026, 11, 20), dt.datetime(2026, 11, 20, 11, 0, tzinfo=UTC))


def test_done_running_and_paused_days_are_left_alone():
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    runs = {("ny", dt.date(2026, 11, 20)): UnitRuns(ok=True), ("kol", dt.date(2026, 11, 20)): UnitRuns(running=True)}
    got = states(now, runs)
    assert got["ny"][0] == "done" and got["kol"][0] == "running"
    paused = [pauses.Pause("*", "maintenance", now, "me")]
    assert {s[0] for s in states(now, paused=paused).values()} == {"paused"}


@pytest.mark.parametrize(("failures", "seconds"), [(1, 300), (2, 600), (3, 1200), (5, 3600), (9, 3600)])
def test_backoff_doubles_up_to_its_cap(failures, seconds):
    assert retry_backoff(failures, 300, 3600) == seconds


def test_a_failed_day_is_retried_after_the_backoff_or_the_shops_retry_after_whichever_is_later():
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    unit = ("ny", dt.date(2026, 11, 20))
    got = states(now, {unit: UnitRuns(failures=1, seconds_since_failure=100)})["ny"]
    assert got[0] == "retry_wait" and got[2] == now + dt.timedelta(seconds=200)
    got = states(now, {unit: UnitRuns(failures=1, seconds_since_failure=100, retry_after="900")})["ny"]
    assert got[0] == "retry_wait" and got[2] == now + dt.timedelta(seconds=800)
    assert states(now, {unit: UnitRuns(failures=1, seconds_since_failure=301)})["ny"][0] == "due"
    assert states(now, {unit: UnitRuns(failures=2, seconds_since_failure=301)})["ny"][0] == "retry_wait"


def test_a_moving_clock_counts_the_databases_seconds_at_its_rate(monkeypatch):
    monkeypatch.setenv("COFFEE_NOW", "2026-11-20T12:00:00+00:00")
    monkeypatch.setenv("COFFEE_CLOCK_RATE", "100")
    monkeypatch.setenv("COFFEE_CLOCK_ANCHOR", "0")
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    unit = ("ny", dt.date(2026, 11, 20))
    # 2 real seconds at 100x are 200 simulated ones: 100 left of a 300 s backoff
    got = states(now, {unit: UnitRuns(failures=1, seconds_since_failure=2)})["ny"]
    assert got[0] == "retry_wait" and got[2] == now + dt.timedelta(seconds=100)


def test_heal_is_due_first_after_its_interval_and_at_each_local_midnight():
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    days = {"ny": dt.date(2026, 11, 20)}
    assert heal_due(None, now, 3600, {}, days)
    assert not heal_due(now - dt.timedelta(seconds=10), now, 3600, days, days)
    assert heal_due(now - dt.timedelta(seconds=3600), now, 3600, days, days)
    assert heal_due(now - dt.timedelta(seconds=10), now, 3600, {"ny": dt.date(2026, 11, 19)}, days)
