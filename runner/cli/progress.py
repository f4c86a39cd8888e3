"""Drawing a backfill's progress (the CLI's side of runner.backfill.events.Progress):
a bar on a terminal, log lines otherwise; both on stderr, so stdout stays the result."""

from __future__ import annotations

import logging
import sys

from runner.backfill.events import Progress

BAR_WIDTH = 24
TTY_REDRAW_SECONDS = 0.5  # a bar redraws often; log lines come every monitoring.progress_check_interval

log = logging.getLogger("runner.backfill")


def progress_text(p: Progress) -> str:
    c = p.counts
    return (f"{p.finished}/{p.total} done={c.get('done', 0)} failed={c.get('failed', 0)} "
            f"unrecoverable={c.get('unrecoverable', 0)} skipped={c.get('skipped', 0)} "
            f"{p.rate:.2f} items/s eta {p.eta_seconds:.0f}s")


class ProgressDrawer:
    """The handler a backfill reports to; `seconds` is how often it wants a report."""

    def __init__(self, tty: bool | None = None) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.drawn = False

    @property
    def seconds(self) -> float | None:
        return TTY_REDRAW_SECONDS if self.tty else None  # None: the config's interval

    def __call__(self, p: Progress) -> None:
        if not self.tty:
            log.info("progress %s", progress_text(p))
            return
        filled = int(BAR_WIDTH * p.finished / p.total) if p.total else BAR_WIDTH
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress_text(p)}   ")
        sys.stderr.flush()
        self.drawn = True

    def close(self) -> None:
        """End the bar's line (once), before anything else is printed."""
        if self.drawn:
            sys.stderr.write("\n")
            self.drawn = False


def resume_hint(backfill_id: str) -> str:
    return f"resume with: coffee-runner backfill --resume {backfill_id}"
