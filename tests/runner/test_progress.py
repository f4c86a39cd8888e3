"""The CLI's drawing of a backfill's progress reports (no database)."""

from __future__ import annotations

import logging
import math

from runner.backfill import Progress
from runner.cli.progress import ProgressDrawer, progress_text, resume_hint

HALF = Progress("b1", {"done": 4, "failed": 1, "skipped": 1, "pending": 5, "running": 1}, elapsed_seconds=3.0)


def test_progress_counts_finished_items_and_their_rate():
    assert (HALF.total, HALF.finished) == (12, 6)
    assert HALF.rate == 2.0 and HALF.eta_seconds == 3.0
    idle = Progress("b1", {"pending": 3}, elapsed_seconds=0.0)
    assert idle.rate == 0.0 and math.isnan(idle.eta_seconds)
    assert progress_text(HALF) == "6/12 done=4 failed=1 unrecoverable=0 skipped=1 2.00 items/s eta 3s"


def test_a_terminal_gets_one_bar_redrawn_in_place_and_one_newline(capsys):
    draw = ProgressDrawer(tty=True)
    draw(HALF)
    draw(Progress("b1", {"done": 12}, elapsed_seconds=6.0))
    draw.close()
    draw.close()  # a second close (interrupt, then finally) adds nothing
    err = capsys.readouterr().err
    assert err.count("\r[") == 2 and err.endswith("\n") and err.count("\n") == 1
    assert "[############............] 6/12" in err and "[########################] 12/12" in err
    assert draw.seconds == 0.5


def test_a_log_gets_lines_at_the_configured_interval(capsys, caplog):
    draw = ProgressDrawer(tty=False)
    with caplog.at_level(logging.INFO, logger="runner.backfill"):
        draw(HALF)
        draw.close()
    assert [r.getMessage() for r in caplog.records] == ["progress " + progress_text(HALF)]
    assert "\r[" not in capsys.readouterr().err  # no bar (a CLI's log handler may print the line)
    assert draw.seconds is None  # None: monitoring.progress_check_interval
    assert resume_hint("b1") == "resume with: coffee-runner backfill --resume b1"
