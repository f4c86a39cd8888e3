"""A heatmap cell's status, shading and size (runner/web/cells.py, render.py): pure rules."""

from __future__ import annotations

import datetime as dt

import pytest

from runner.web.cells import BY_CODE, STATUSES, Cell, css_class, display_status, fill
from runner.web.render import cells_html, reasons_of

DAY = dt.date(2026, 11, 20)
NOON = dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc)
LATER = NOON + dt.timedelta(hours=6)
EARLIER = NOON - dt.timedelta(hours=6)


@pytest.mark.parametrize(("status", "acknowledged", "paused_since", "due", "shown"), [
    ("complete", True, DAY, LATER, "complete"),  # a complete day is complete whatever else holds
    ("missing", True, DAY, LATER, "acknowledged"),
    ("partial", True, None, None, "acknowledged"),
    ("missing", False, DAY, None, "paused"),
    ("failed", False, DAY - dt.timedelta(days=3), None, "paused"),
    ("missing", False, DAY + dt.timedelta(days=1), None, "missing"),  # paused after the day: it was missed
    ("partial", False, DAY, None, "partial"),  # something was fetched: not a pause's doing
    ("missing", False, None, LATER, "not_yet_due"),
    ("missing", False, None, EARLIER, "missing"),  # due and not fetched: a gap
    ("failed", False, None, LATER, "failed"),
    ("unprocessed", False, None, None, "unprocessed"),
])
def test_display_status(status, acknowledged, paused_since, due, shown):
    assert display_status(status, acknowledged, DAY, paused_since, due, NOON) == shown


def test_fill_is_the_share_of_the_usual_day():
    assert fill("complete", 50, 2, usual_rows=100, usual_pages=2) == 0.5
    assert fill("complete", 150, 2, usual_rows=100, usual_pages=2) == 1.0
    assert fill("partial", 0, 1, usual_rows=100, usual_pages=4) == 0.25
    assert fill("unprocessed", 0, 2, usual_rows=None, usual_pages=None) == 1.0  # nothing usual: all there
    assert fill("missing", 0, 0, usual_rows=100, usual_pages=4) == 0.0


def test_css_class_shades_only_what_can_be_partly_there():
    assert css_class("complete", 0.5) == "c2" and css_class("complete", 0.99) == "c4"
    assert css_class("partial", 0.26) == "p1" and css_class("partial", 0.0) == "p0"
    assert css_class("missing", 0.0) == "m4" and css_class("acknowledged", 0.0) == "a4"
    assert len({s.code for s in STATUSES}) == len(STATUSES) and all(len(s.code) == 1 for s in STATUSES)
    assert BY_CODE["n"].name == "not_yet_due"


def test_a_row_costs_about_sixteen_bytes_per_cell_and_names_only_unusual_reasons():
    cells = [Cell("r", DAY, "complete", "complete", "", 1.0, False) for _ in range(88)]
    cells += [Cell("r", DAY, "missing", "missing", "no run", 0.0, True),
              Cell("r", DAY, "missing", "missing", "every run failed", 0.0, True), None]
    roasters = [{"cells": cells}]
    reasons, defaults = reasons_of(roasters)
    html = cells_html(cells, {r: i for i, r in enumerate(reasons)}, defaults)
    assert html.count("<i class=c4></i>") == 88 and html.endswith("<i></i>")
    assert html.count("data-w=") == 1  # a tie between missing's two reasons: one is the default
    assert len(html) < 17 * len(cells)


def test_a_stale_day_is_its_own_colour_and_shaded_like_a_complete_one():
    assert css_class("stale", 1.0) == "s4" and css_class("stale", 0.5) == "s2"
    assert fill("stale", 50, 3, usual_rows=100.0, usual_pages=3.0) == 0.5
    assert BY_CODE["s"].name == "stale" and BY_CODE["s"].colour not in {s.colour for s in STATUSES if s.code != "s"}
