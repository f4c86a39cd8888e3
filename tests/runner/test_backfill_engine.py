"""Unit tests (no database) of the backfill engine's decision: when to stop, resumably."""

from __future__ import annotations

import pytest

from runner.backfill import Options, abort_reason
from runner.backfill.context import MIN_ITEMS_FOR_FAILURE_RATE

OPTIONS = Options(concurrency=2, max_failure_rate=0.2, timeout_seconds=60)


@pytest.mark.parametrize(("counts", "elapsed", "expected"), [
    ({"done": 8, "failed": 2}, 1, None),  # 20% is not over 20%
    ({"done": 7, "failed": 3}, 1, "failure rate 3/10 is over 20%"),
    ({"failed": 9}, 1, None),  # 9 finished: too few for a rate
    ({"failed": 3, "unrecoverable": 4, "skipped": 3, "pending": 90}, 1, "failure rate 3/10 is over 20%"),
    ({"done": 2, "failed": 2, "pending": 6, "running": 2}, 1, None),  # open items are not finished
    ({"done": 1, "pending": 5}, 60.5, "timeout: over 60 s"),
    ({"done": 1, "pending": 5}, 60, None),  # at the deadline, not over it
    ({"done": 5, "failed": 5}, 61, "failure rate 5/10 is over 20%"),  # the rate is named first
])
def test_abort_reason(counts, elapsed, expected):
    assert abort_reason(counts, elapsed, OPTIONS) == expected


def test_the_failure_rate_needs_the_minimum_number_of_finished_items():
    just_enough = {"failed": MIN_ITEMS_FOR_FAILURE_RATE}
    one_short = {"failed": MIN_ITEMS_FOR_FAILURE_RATE - 1}
    assert abort_reason(just_enough, 0, OPTIONS) is not None
    assert abort_reason(one_short, 0, OPTIONS) is None
    assert abort_reason(just_enough, 0, Options(max_failure_rate=1.0)) is None  # 100% is never over 100%
