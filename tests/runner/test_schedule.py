"""runner/core/schedule.py: when a roaster's daily scrape is due (no database)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from runner.core.config import parse_config
from runner.core.errors import InputError
from runner.core.schedule import cron_expression, due_at, jitter

UTC = dt.timezone.utc


def local(day: dt.date, hour: int, minute: int, timezone: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), ZoneInfo(timezone))


@pytest.mark.parametrize(("text", "expr"), [("06:30", "30 6 * * *"), ("0:05", "5 0 * * *"),
                                            ("23:59", "59 23 * * *"), (" 30 6 * * 1-5 ", "30 6 * * 1-5")])
def test_time_of_day_or_cron(text, expr):
    assert cron_expression(text) == expr


@pytest.mark.parametrize("text", ["24:00", "6:3", "noon", "* * * *", "61 6 * * *", "", "0 6 * * * *"])
def test_bad_schedules_are_refused(text):
    with pytest.raises(ValueError, match="time of day"):
        cron_expression(text)


@pytest.mark.parametrize("timezone", ["America/New_York", "Asia/Kolkata", "Europe/Berlin", "UTC"])
def test_due_at_is_the_local_time_in_the_roasters_timezone(timezone):
    day = dt.date(2026, 11, 20)
    assert due_at("06:30", timezone, day, "x", 0) == local(day, 6, 30, timezone).astimezone(UTC)


def test_spring_forward_skips_the_hour_and_still_gives_one_moment():
    # 2026-03-08 02:30 does not exist in New York: the scrape is due at the first moment after
    day = dt.date(2026, 3, 8)
    moment = due_at("02:30", "America/New_York", day, "x", 0)
    assert moment.astimezone(ZoneInfo("America/New_York")).date() == day
    assert moment == dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT


def test_fall_back_repeats_the_hour_and_the_first_one_counts():
    # 2026-11-01 01:30 happens twice in New York (EDT, then EST): due at the first
    assert due_at("01:30", "America/New_York", dt.date(2026, 11, 1), "x", 0) == \
        dt.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_a_day_the_cron_skips_is_due_at_its_midnight():
    saturday = dt.date(2026, 11, 21)
    assert due_at("30 6 * * 1-5", "Europe/Berlin", saturday, "x", 0) == local(saturday, 0, 0, "Europe/Berlin")
    monday = dt.date(2026, 11, 23)
    assert due_at("30 6 * * 1-5", "Europe/Berlin", monday, "x", 0) == local(monday, 6, 30, "Europe/Berlin")


def test_jitter_is_seeded_per_roaster_and_day_and_stays_in_its_window():
    day = dt.date(2026, 11, 20)
    delays = {rid: jitter(rid, day, 600) for rid in ("a", "b", "c", "d", "e")}
    assert all(dt.timedelta(0) <= d < dt.timedelta(seconds=600) for d in delays.values())
    assert len(set(delays.values())) == 5  # roasters sharing a schedule are spread
    assert jitter("a", day, 600) == delays["a"]  # the same in every process
    assert jitter("a", day + dt.timedelta(days=1), 600) != delays["a"]
    assert jitter("a", day, 0) == dt.timedelta(0)


def test_the_jitter_never_pushes_a_scrape_into_the_next_day():
    day = dt.date(2026, 11, 20)
    moment = due_at("23:59", "Asia/Kolkata", day, "a", 3600)
    assert moment.astimezone(ZoneInfo("Asia/Kolkata")).date() == day


def test_config_reads_schedules_and_the_service_section(tmp_path):
    text = """
schedule: "05:00"
service: {catch_up_days: 3, tick_seconds: 10, jitter_seconds: 0}
roasters:
  - {id: a, platform: shopify, base_url: "https://a.example", schedule: "30 7 * * *"}
  - {id: b, platform: shopify, base_url: "https://b.example"}
"""
    config = parse_config(text, Path("roasters.yml"))
    assert [config.schedule_of(r) for r in config.roasters] == ["30 7 * * *", "05:00"]
    assert (config.service.catch_up_days, config.service.tick_seconds, config.service.jitter_seconds) == (3, 10.0, 0.0)
    assert config.service.shutdown_grace == 30.0


def test_bad_schedule_and_service_values_are_one_line_each():
    text = """
schedule: "25:00"
service: {tick_seconds: 0, catch_up_days: 1.5, nope: 1}
roasters:
  - {id: a, platform: shopify, base_url: "https://a.example", schedule: "every day"}
"""
    with pytest.raises(InputError) as err:
        parse_config(text, Path("roasters.yml"))
    lines = str(err.value).splitlines()
    assert any("field 'schedule'" in line and "25:00" in line for line in lines)
    assert any("roaster 'a': field 'schedule'" in line for line in lines)
    assert any("field 'service.tick_seconds': must be a positive float" in line for line in lines)
    assert any("field 'service.catch_up_days': must be a number >= 0" in line for line in lines)
    assert any("unknown key 'nope'" in line for line in lines)
    assert len(lines) == 5 and all(line.startswith("roasters.yml: ") for line in lines)


def test_a_schedule_that_never_fires_is_refused_and_a_day_is_still_due():
    with pytest.raises(ValueError, match="never fires"):
        cron_expression("0 6 30 2 *")
    assert cron_expression("0 6 29 2 *") == "0 6 29 2 *"  # a leap day fires
    # past the config check (a config loaded by an older release): the day is due at its
    # local midnight, the tick goes on
    day = dt.date(2026, 3, 2)
    assert due_at("0 6 30 2 *", "Asia/Tokyo", day, "a", 0) == local(day, 0, 0, "Asia/Tokyo").astimezone(UTC)
