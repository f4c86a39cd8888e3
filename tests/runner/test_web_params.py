"""runner/web/params.py: URL parameters checked the way the CLI checks its options, one
line per problem (no database; the config's days come from a frozen clock)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from runner.core.config import parse_config
from runner.core.errors import InputError
from runner.web import params
from tests.runner.helpers import CLOCK, TODAY

CONFIG = parse_config("""
roasters:
  - {id: east, platform: shopify, base_url: "http://e.example", timezone: Asia/Tokyo}
  - {id: west, platform: shopify, base_url: "http://w.example", timezone: America/Los_Angeles}
  - {id: gone, platform: shopify, base_url: "http://g.example", active: false}
""", Path("r.yml"))


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    monkeypatch.setenv("COFFEE_NOW", CLOCK.replace(hour=20).isoformat())  # already tomorrow in Tokyo


def test_the_default_range_ends_on_the_latest_local_today_of_the_active_roasters():
    q = params.range_query(CONFIG, "")
    assert q.end == TODAY + dt.timedelta(days=1) and (q.end - q.start).days == params.DEFAULT_DAYS - 1
    assert [r.id for r in q.roasters] == ["east", "west"] and q.format == "html"


def test_roasters_repeat_or_come_comma_separated_and_json_is_asked_by_format():
    q = params.range_query(CONFIG, "roaster=west&roaster=gone,east&start=2026-11-01&end=2026-11-02&format=json")
    assert [r.id for r in q.roasters] == ["west", "gone", "east"]
    assert (q.start, q.end, q.format) == (dt.date(2026, 11, 1), dt.date(2026, 11, 2), "json")


@pytest.mark.parametrize(("raw", "says"), [
    ("colour=red", "unknown parameter 'colour'"),
    ("start=", "start is empty"),
    ("start=2026-11-01&start=2026-11-02", "start given 2 times"),
    ("start=2026-13-01", "is not a date"),
    ("start=2026-11-02&end=2026-11-01", "is after"),
    ("start=2024-01-01&end=2026-11-01", f"longer than {params.MAX_PAGE_DAYS} days"),
    ("format=xml", "format must be one of html, json"),
    ("roaster=nope", "unknown roaster 'nope'"),
    ("a=1&&b", "malformed query string"),
])
def test_bad_parameters_are_one_line(raw, says):
    with pytest.raises(InputError) as info:
        params.range_query(CONFIG, raw)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_a_backfill_id_is_a_uuid():
    assert params.backfill_id("0" * 8 + "-0000-0000-0000-" + "0" * 12) == "00000000-0000-0000-0000-000000000000"
    with pytest.raises(InputError, match="not a backfill id"):
        params.backfill_id("latest")
