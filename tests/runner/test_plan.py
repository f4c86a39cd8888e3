"""Unit tests (no database) of the plan's decision: what a backfill does for one (roaster, day)."""

from __future__ import annotations

import datetime as dt

import pytest

from runner.backfill.estimate import estimate
from runner.backfill.plan import action_for
from runner.core.config import Roaster

KOLKATA = Roaster(id="blue-peak", name="Blue Peak", platform="shopify", base_url="http://x", timezone="Asia/Kolkata",
                  archive=True)
NO_ARCHIVE = Roaster(id="dune", name="Dune", platform="woocommerce", base_url="http://y", timezone="Europe/London")
# 20:00 UTC on Nov 20 is already Nov 21 in Kolkata (UTC+5:30) and still Nov 20 in London
NOW = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.timezone.utc)
KOLKATA_TODAY, LONDON_TODAY = dt.date(2026, 11, 21), dt.date(2026, 11, 20)


@pytest.mark.parametrize(("status", "day", "roaster", "strategy", "expected"), [
    ("complete", KOLKATA_TODAY, KOLKATA, "incremental", None),  # nothing to do
    ("complete", KOLKATA_TODAY, KOLKATA, "full", "reparse"),
    ("missing", KOLKATA_TODAY, KOLKATA, "validation", "reparse"),  # validation never fetches
    ("unprocessed", dt.date(2020, 1, 1), NO_ARCHIVE, "incremental", "reparse"),  # raw is enough
    ("missing", KOLKATA_TODAY, KOLKATA, "incremental", "refetch_live"),  # its local today
    ("partial", LONDON_TODAY, KOLKATA, "incremental", "refetch_archive"),  # UTC's today is past there
    ("failed", LONDON_TODAY, NO_ARCHIVE, "incremental", "refetch_live"),
    ("invalid", LONDON_TODAY - dt.timedelta(days=1), NO_ARCHIVE, "incremental", "unrecoverable"),
    ("missing", KOLKATA_TODAY + dt.timedelta(days=1), KOLKATA, "incremental", "unrecoverable"),  # the future
])
def test_action_for(status, day, roaster, strategy, expected):
    assert action_for(status, day, roaster, strategy, NOW) == expected


def test_action_for_reads_the_injected_clock(monkeypatch):
    monkeypatch.setenv("COFFEE_NOW", "2026-11-20T23:59:59-05:00")  # New York's last second: Nov 21 in UTC
    assert action_for("missing", dt.date(2026, 11, 21), NO_ARCHIVE, "incremental") == "refetch_live"
    assert action_for("missing", dt.date(2026, 11, 20), NO_ARCHIVE, "incremental") == "unrecoverable"


ACTIONS = ["refetch_archive", "refetch_archive", "refetch_live", "reparse"]
NOTHING_MEASURED: dict[str, float] = {}


def test_estimate_spreads_item_time_over_the_workers_and_adds_one_build():
    alone = estimate(ACTIONS, 1, NOTHING_MEASURED, 0.0)
    assert alone > 0
    assert estimate(ACTIONS, 2, NOTHING_MEASURED, 0.0) == pytest.approx(alone / 2)
    assert estimate(ACTIONS, 2, NOTHING_MEASURED, 12.0) == pytest.approx(alone / 2 + 12.0)  # one build, any size
    assert estimate(ACTIONS, 0, NOTHING_MEASURED, 0.0) == alone  # no division by zero workers


def test_measured_times_replace_the_defaults_and_nothing_to_do_takes_no_time():
    instant = dict.fromkeys(["refetch_archive", "refetch_live"], 0.0)
    only_reparse = estimate(["reparse"], 1, NOTHING_MEASURED, 0.0)
    assert estimate(ACTIONS, 1, instant, 0.0) == pytest.approx(only_reparse)  # reparse keeps its default
    assert estimate(["refetch_live"], 1, NOTHING_MEASURED, None) > estimate(["refetch_live"], 1, NOTHING_MEASURED, 0.0)
    assert estimate([], 4, {"refetch_live": 9.0}, 12.0) == 0.0  # no build either
