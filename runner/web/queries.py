"""The dashboard's SQL: coverage, a day's runs and artifacts, backfills, price history.

Every query reads what the CLI's commands read (`ops.coverage_daily`, the marts, the
backfill ledger), as last built: a page never runs dbt.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row

from runner.store.db import one_row

RECENT_BACKFILLS = 50  # /backfills lists this many, newest first
MAX_CHART_VARIANTS = 12  # /roasters/<id> draws this many variants (most observed first)


def _dicts(conn: psycopg.Connection, sql: str, params: tuple | dict) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params).fetchall()


def is_built(conn: psycopg.Connection) -> bool:
    """Whether dbt has built the coverage table this dashboard reads."""
    return one_row(conn.execute("select to_regclass('ops.coverage_daily') is not null").fetchone())[0]


COVERAGE_SQL = """
with days as (
    select roaster_id, day, status, acknowledged, coalesce(acknowledged_reason, reason) as reason,
           price_rows::int as price_rows, valid_artifacts::int as valid_artifacts, is_open_gap
      from ops.coverage_daily
     where day between %(start)s and %(end)s and roaster_id = any(%(roasters)s)
),
usual as (
    -- a roaster's ordinary day on this page: the median of its complete days
    select roaster_id,
           percentile_cont(0.5) within group (order by price_rows)::float as usual_rows,
           percentile_cont(0.5) within group (order by valid_artifacts)::float as usual_pages
      from days
     where status = 'complete'
     group by roaster_id
)
select days.*, usual.usual_rows, usual.usual_pages
  from days left join usual using (roaster_id)
 order by days.roaster_id, days.day
"""


def coverage_rows(conn: psycopg.Connection, start: dt.date, end: dt.date, roasters: list[str]) -> list[tuple]:
    return conn.execute(COVERAGE_SQL, {"start": start, "end": end, "roasters": roasters}).fetchall()


def day_coverage(conn: psycopg.Connection, roaster_id: str, day: dt.date) -> dict[str, Any] | None:
    rows = _dicts(conn, """select roaster_id, day, status, runs, valid_artifacts, price_rows, rejected_items,
                                  missing_variations, reason, acknowledged, acknowledged_reason, is_open_gap
                             from ops.coverage_daily where roaster_id = %s and day = %s""", (roaster_id, day))
    return rows[0] if rows else None


def day_runs(conn: psycopg.Connection, roaster_id: str, day: dt.date) -> list[dict[str, Any]]:
    """The day's runs (the marts' day rule), newest first."""
    return _dicts(conn, """select id, kind, status, started_at, finished_at, pages, artifacts, error
                             from marts.scrape_runs where roaster_id = %s and day = %s
                            order by started_at desc""", (roaster_id, day))


def day_artifacts(conn: psycopg.Connection, run_ids: list) -> list[dict[str, Any]]:
    """Every artifact of these runs: still in raw (with the marts' verdict) or in quarantine."""
    return _dicts(conn, """
        select a.run_id, a.id, a.url, a.resource, a.page, a.attempt, a.http_status, a.byte_length,
               a.captured_at, m.validation_status, m.validation_errors, m.item_count, null as quarantined
          from raw.scrape_artifacts as a
          left join marts.scrape_artifacts as m on m.id = a.id
         where a.run_id = any(%(runs)s)
        union all
        select q.run_id, q.id, q.url, q.resource, q.page, q.attempt, q.http_status, q.byte_length,
               q.captured_at, null, null, null, q.reason
          from quarantine.scrape_artifacts as q
         where q.run_id = any(%(runs)s)
         order by run_id, resource, page nulls first, attempt""", {"runs": run_ids})


def day_rejected(conn: psycopg.Connection, run_ids: list) -> list[dict[str, Any]]:
    return _dicts(conn, """select run_id, listing_position, product_title, variant_title, reason, raw_value
                             from marts.rejected_items where run_id = any(%s)
                            order by run_id, listing_position""", (run_ids,))


BACKFILL_SQL = """
select b.id, b.strategy, b.start_day, b.end_day, b.roasters, b.status, b.origin, b.owner,
       b.max_failure_rate, b.concurrency, b.gaps_before, b.gaps_after, b.dbt, b.error,
       b.created_at, b.finished_at, now() as read_at,
       coalesce(i.items, '{}'::jsonb) as items, coalesce(i.total, 0) as total
  from control.backfills as b
  left join lateral (
      select jsonb_object_agg(state, n) as items, sum(n)::int as total
        from (select state, count(*) as n from control.backfill_items
               where backfill_id = b.id group by state) as s
  ) as i on true
"""


def backfills(conn: psycopg.Connection, limit: int = RECENT_BACKFILLS) -> list[dict[str, Any]]:
    """Running backfills first, then the most recent."""
    return _dicts(conn, BACKFILL_SQL + " order by b.status = 'running' desc, b.created_at desc limit %s", (limit,))


def backfill(conn: psycopg.Connection, backfill_id: str) -> dict[str, Any] | None:
    rows = _dicts(conn, BACKFILL_SQL + " where b.id = %s", (backfill_id,))
    return rows[0] if rows else None


def backfill_items(conn: psycopg.Connection, backfill_id: str) -> list[dict[str, Any]]:
    return _dicts(conn, """select roaster_id, day, status_before, action, state, attempts, elapsed_ms, error
                             from control.backfill_items where backfill_id = %s
                            order by state in ('pending', 'running', 'done'), day, roaster_id""", (backfill_id,))


def price_history(conn: psycopg.Connection, roaster_id: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """One point per (variant, day) of the most observed variants: the day's last price."""
    return _dicts(conn, """
        with top as (
            select variant_id, count(*) as n from marts.prices
             where roaster_id = %(r)s and day between %(start)s and %(end)s
             group by variant_id order by n desc, variant_id limit %(limit)s
        )
        select distinct on (p.variant_id, p.day)
               p.variant_id, p.day, p.price, p.currency, p.compare_at_price, p.is_sale, p.in_stock,
               p.product_title, p.variant_title
          from marts.prices as p join top using (variant_id)
         where p.roaster_id = %(r)s and p.day between %(start)s and %(end)s
         order by p.variant_id, p.day, p.scraped_at desc""",
                  {"r": roaster_id, "start": start, "end": end, "limit": MAX_CHART_VARIANTS})
