"""How long a backfill will take: measured times from this database, else defaults."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from runner.store.db import one_row
from runner.store.raw import mean_run_seconds

# Seconds per item when no earlier backfill or run says otherwise: an archive day is a
# few CDX lookups and captures at the archive's polite rate; a reparse is SQL only.
DEFAULT_ITEM_SECONDS = {"reparse": 0.05, "refetch_live": 5.0, "refetch_archive": 8.0, "unrecoverable": 0.0}
DEFAULT_DBT_SECONDS = 30.0
RECENT_BUILDS = 5  # the estimate's build time: the mean of this many last final builds


def estimate_seconds(conn: psycopg.Connection, actions: Sequence[str], concurrency: int) -> float:
    """The estimate from this database's history (see `estimate`)."""
    measured = {("refetch_live" if kind == "live" else "refetch_archive"): seconds
                for kind, seconds in mean_run_seconds(conn).items()}
    measured.update(mean_item_seconds(conn))
    return estimate(actions, concurrency, measured, mean_build_seconds(conn, RECENT_BUILDS))


def estimate(actions: Sequence[str], concurrency: int, item_seconds: dict[str, float],
             dbt_seconds: float | None) -> float:
    """Seconds a backfill of these actions takes: each action's measured time (from earlier
    backfills, else earlier runs, else DEFAULT_ITEM_SECONDS) spread over the workers, plus
    one dbt build (the mean of the last ones, else DEFAULT_DBT_SECONDS). Nothing to do: 0."""
    if not actions:
        return 0.0
    per_item = {**DEFAULT_ITEM_SECONDS, **item_seconds}
    work = sum(per_item[a] for a in actions) / max(1, concurrency)
    return work + (DEFAULT_DBT_SECONDS if dbt_seconds is None else dbt_seconds)


def mean_item_seconds(conn: psycopg.Connection) -> dict[str, float]:
    """Mean time of finished items, by action."""
    return {action: float(seconds) for action, seconds in conn.execute(
        """select action, avg(elapsed_ms) / 1000.0 from control.backfill_items
            where state in ('done', 'unrecoverable', 'skipped') and elapsed_ms is not null
            group by action""").fetchall()}


def mean_build_seconds(conn: psycopg.Connection, last: int) -> float | None:
    """Mean duration of the last `last` final builds."""
    return one_row(conn.execute(
        """select avg((dbt ->> 'elapsed_seconds')::float) from
             (select dbt from control.backfills where dbt ? 'elapsed_seconds'
               order by created_at desc limit %s) as recent""", (last,)).fetchone())[0]
