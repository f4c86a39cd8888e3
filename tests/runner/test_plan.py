"""Unit tests (no database) of the plan's decision: what a backfill does for one (roaster, day)."""

from __future__ import annotations

import datetime as dt

import pytest

from runner.config import Roaster
from runner.plan import DEFAULT_DBT_SECONDS, DEFAULT_ITEM_SECONDS, PlanItem, action_for, estimate

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


def _items(*actions: str) -> list[PlanItem]:
    return [PlanItem("blue-peak", dt.date(2026, 11, 1) + dt.timedelta(days=n), "missing", a)
            for n, a in enumerate(actions)]


def test_estimate_spreads_item_time_over_the_workers_and_adds_one_build():
    items = _items("refetch_archive", "refetch_archive", "refetch_live", "reparse")
    measured = {"refetch_archive": 2.0, "refetch_live": 1.0}  # reparse keeps its default
    expected = (2.0 + 2.0 + 1.0 + DEFAULT_ITEM_SECONDS["reparse"]) / 2 + 12.0
    assert estimate(items, 2, measured, 12.0) == pytest.approx(expected)


def test_estimate_falls_back_to_the_defaults_and_is_zero_for_nothing():
    items = _items("refetch_live", "unrecoverable")
    assert estimate(items, 1, {}, None) == pytest.approx(DEFAULT_ITEM_SECONDS["refetch_live"] + DEFAULT_DBT_SECONDS)
    assert estimate(items, 0, {}, None) == estimate(items, 1, {}, None)  # no division by zero workers
    assert estimate([], 4, {"refetch_live": 9.0}, 12.0) == 0.0  # no build either
