"""What a heatmap cell shows: the one home of the dashboard's statuses, codes and shading.

A cell starts from its `ops.coverage_daily` status (the day status every command reads)
and adds what only an operator's view needs: an acknowledged gap, a paused roaster, and
today's scrape not being due yet. The colours are Okabe and Ito's colour-blind-safe
palette; each status also has a one-letter code, the class of its cell in the page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

FILL_LEVELS = 4  # shading steps of a cell (0..4 quarters of the day there)
SOLID = str(FILL_LEVELS)


@dataclass(frozen=True)
class Status:
    name: str
    code: str  # the cell's class in the page: one letter
    colour: str
    meaning: str
    shaded: bool  # the cell's shading shows how much of the day is there


# In the order of the legend and the totals: from done to nothing there.
STATUSES = (
    Status("complete", "c", "#009E73", "every catalog page valid and its prices in the marts", True),
    Status("stale", "s", "#A6DBC9", "complete, but built by other code or under changed roaster settings "
           "(a reparse fixes it)", True),
    Status("unprocessed", "u", "#56B4E9", "raw is complete, the marts lack its rows (a reparse fixes it)", True),
    Status("partial", "p", "#E69F00", "some pages missing or invalid", True),
    Status("invalid", "i", "#D55E00", "fetched, but nothing valid", False),
    Status("failed", "f", "#CC79A7", "runs exist, all failed", False),
    Status("missing", "m", "#333333", "no run at all", False),
    Status("acknowledged", "a", "#999999", "a gap an operator recorded as unrecoverable", False),
    Status("paused", "z", "#0072B2", "not fetched since the roaster (or everything) was paused", False),
    Status("not_yet_due", "n", "#F0E442", "today's scrape is not due yet", False),
)
BY_NAME = {s.name: s for s in STATUSES}
BY_CODE = {s.code: s for s in STATUSES}

@dataclass(slots=True)
class Cell:
    roaster_id: str
    day: dt.date
    status: str  # a name in STATUSES
    coverage_status: str  # ops.coverage_daily.status
    reason: str
    fill: float  # 0..1: how much of the day is there
    is_open_gap: bool
    css: str = ""  # the page's class for it: the status's code and the shading step (set on creation)

    def __post_init__(self) -> None:
        self.css = css_class(self.status, self.fill)


def css_class(status: str, fill: float) -> str:
    """A shaded status shows its fill in FILL_LEVELS steps; the others are solid."""
    found = BY_NAME[status]
    if not found.shaded or fill >= 1.0:
        return found.code + SOLID
    return found.code + str(max(0, min(FILL_LEVELS, round(fill * FILL_LEVELS))))


def display_status(status: str, acknowledged: bool, day: dt.date, paused_since: dt.date | None,
                   due: dt.datetime | None, now: dt.datetime) -> str:
    """The cell's status. A complete day is complete whatever else holds. A gap an operator
    acknowledged is acknowledged. A day with nothing fetched is `paused` when the roaster has
    been paused since that day or earlier (nobody fetches it), and `not_yet_due` when it is
    today and its scheduled scrape is still ahead (`due`: that moment, UTC)."""
    if status == "complete":
        return "complete"
    if acknowledged:
        return "acknowledged"
    nothing_there = status in ("missing", "failed")
    if nothing_there and paused_since is not None and day >= paused_since:
        return "paused"
    if status == "missing" and due is not None and now < due:
        return "not_yet_due"
    return status


def fill(status: str, price_rows: int, valid_pages: int, usual_rows: float | None,
         usual_pages: float | None) -> float:
    """How much of the day is there, 0..1: its price rows against the roaster's usual
    (the median of its complete days on the page), or its valid pages against the usual
    when the marts hold none of the day (unprocessed, partial). Nothing usual: all or nothing."""
    if status in ("complete", "stale") and usual_rows:
        return min(1.0, price_rows / usual_rows)
    if status in ("unprocessed", "partial") and usual_pages:
        return min(1.0, valid_pages / usual_pages)
    return 1.0 if status in ("complete", "stale", "unprocessed") else 0.0
