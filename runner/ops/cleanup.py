"""Cleanup to quarantine, and its exact undo.

Nothing here destroys raw data: cleanup moves rows to `quarantine` (restorable with
`cleanup --undo`). Backup and restore live in runner/ops/backup.py and runner/ops/restore.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg import sql

from runner.core.config import Config, check_timezones
from runner.core.errors import InputError
from runner.ops.backup import backup
from runner.store.db import Target, connect, migrate, one_row
from runner.store.raw import dead_runs, reap_dead_runs
from runner.transform.coverage import ensure_built
from runner.transform.dbt_runner import BUILD, range_vars, run_dbt

# --- cleanup to quarantine -----------------------------------------------------------------------

# Runs that failed, and retried attempts (429s, 5xx, HTML) that a later attempt replaced:
# what "superseded" means is stg_raw__scrape_artifacts.is_final_attempt (dbt), read here.
FAILED_RUNS = "select id from raw.scrape_runs where status = 'fail'"
SUPERSEDED = f"""
    select artifact_id as id from staging.stg_raw__scrape_artifacts
     where not is_final_attempt and run_id not in ({FAILED_RUNS})"""
# The runbook's "clear failed artifacts" (DELETE ... WHERE validation_status = 'invalid'),
# as a move: every other artifact the last dbt build judged invalid, final pages included
# (an HTML maintenance page answered with 200 on every retry). A final catalog page
# answered with 200, the kind ops.coverage_daily counts as an invalid page, gets a reason
# starting with INVALID_PAGE, which coverage reads: a run that lost a page that way is
# partial, and the plan refetches its day. Others (a 404 from a route the fetcher then
# left for another) get INVALID_RESPONSE and change no day.
INVALID_PAGE = "invalid page"
INVALID_RESPONSE = "invalid response"
INVALID = f"""
    select id,
           case when is_catalog_page and is_final_attempt and page_status = 200 then '{INVALID_PAGE}'
                else '{INVALID_RESPONSE}' end
           || ': ' || coalesce(validation_errors ->> 0, 'invalid') as reason
      from marts.scrape_artifacts
     where validation_status = 'invalid' and run_id not in ({FAILED_RUNS})
       and id not in ({SUPERSEDED}) and id in (select id from raw.scrape_artifacts)"""
# The days whose derived rows a move changes: each run's day as dbt computed it, else
# (a run the marts have not seen) its target day or its start's local day.
RUN_DAYS = """
    select min(d.day), max(d.day), array_agg(distinct d.roaster_id) from (
        select r.roaster_id, coalesce(m.day, r.target_day, (r.started_at at time zone ro.timezone)::date) as day
          from raw.scrape_runs r join raw.roasters ro on ro.id = r.roaster_id
          left join marts.scrape_runs m on m.id = r.id
         where r.id in ({runs})) as d"""
MOVED_DAYS = RUN_DAYS.format(runs="""select id from move_runs union
    select run_id from raw.scrape_artifacts where id in (select id from move_artifacts)""")
RESTORED_DAYS = RUN_DAYS.format(runs="""select run_id from quarantine.scrape_artifacts where batch_id = %(b)s
    union select id from quarantine.scrape_runs where batch_id = %(b)s""")


def cleanup_dry_run(config: Config, target: Target) -> dict[str, int]:
    """`cleanup` without --apply: reads only (no roaster sync, no reaping); the server must
    know every zone since dbt may build the views it reads on a database where it never ran."""
    with connect(target, autocommit=True) as conn:
        check_timezones(config, conn)
        migrate(conn)
    ensure_built(target)  # "superseded" is read from dbt's staging view
    with connect(target, autocommit=True) as conn:
        return cleanup_preview(conn)


def cleanup_preview(conn: psycopg.Connection) -> dict[str, int]:
    """What `cleanup --apply` would move (a dry run: reads only raw; the derived views
    it reads are built first on a database where dbt never ran)."""
    stale = len(dead_runs(conn))
    counts = {
        "failed_runs": _count(conn, f"select count(*) from ({FAILED_RUNS}) as f"),
        "failed_run_artifacts": _count(conn, "select count(*) from raw.scrape_artifacts "
                                             f"where run_id in ({FAILED_RUNS})"),
        "superseded_attempts": _count(conn, f"select count(*) from ({SUPERSEDED}) as s"),
        "invalid_artifacts": _count(conn, f"select count(*) from ({INVALID}) as i"),
        "stale_running_runs": stale,
    }
    return counts


def _count(conn: psycopg.Connection, query: str) -> int:
    return int(one_row(conn.execute(query).fetchone())[0])


def cleanup_apply(target: Target, take_backup: bool = True) -> dict[str, Any]:
    backup_file = backup(target)["file"] if take_backup else None
    batch = uuid.uuid4()
    with connect(target, autocommit=True) as conn:
        reaped = reap_dead_runs(conn)  # stale 'running' runs become failed runs, and move too
        with conn.transaction():
            conn.execute("set local coffee.quarantine_move = 'on'")
            conn.execute(f"create temp table move_runs on commit drop as {FAILED_RUNS}")
            conn.execute(f"""create temp table move_artifacts on commit drop as
                             select id, 'failed run' as reason from raw.scrape_artifacts
                              where run_id in (select id from move_runs)
                             union all
                             select id, 'superseded attempt' from ({SUPERSEDED}) as s
                             union all
                             select id, reason from ({INVALID}) as i""")
            days = one_row(conn.execute(MOVED_DAYS).fetchone())
            counts = {"runs": _count(conn, "select count(*) from move_runs"),
                      "artifacts": _count(conn, "select count(*) from move_artifacts"), "stale_runs_reaped": reaped}
            conn.execute("insert into quarantine.batches (id, counts, backup_file) values (%s, %s, %s)",
                         (batch, psycopg.types.json.Jsonb(counts), backup_file))
            conn.execute("""insert into quarantine.backfill_item_refs
                            select %s, backfill_id, roaster_id, day, run_id from control.backfill_items
                             where run_id in (select id from move_runs)""", (batch,))
            conn.execute("update control.backfill_items set run_id = null where run_id in (select id from move_runs)")
            _move_rows(conn, "scrape_artifacts", batch, "m.reason",
                       "join move_artifacts m on m.id = a.id")
            conn.execute("delete from raw.scrape_artifacts where id in (select id from move_artifacts)")
            _move_rows(conn, "scrape_runs", batch, "'failed run'", "where a.id in (select id from move_runs)")
            conn.execute("delete from raw.scrape_runs where id in (select id from move_runs)")
    dbt_result = _rebuild(target, days)
    return {"batch_id": str(batch), "moved": counts, "backup": backup_file, "dbt": dbt_result}


def _move_rows(conn: psycopg.Connection, table: str, batch: uuid.UUID, reason: str, which: str) -> None:
    """Copy raw rows into quarantine by column name (the quarantine tables have raw's
    columns, in migration order, plus batch_id, reason and quarantined_at)."""
    columns = [sql.Identifier(c) for c in _columns(conn, "raw", table)]
    conn.execute(sql.SQL("insert into {} ({}, batch_id, reason, quarantined_at) select {}, %s, {}, now() "
                         "from {} as a {}").format(
        sql.Identifier("quarantine", table), sql.SQL(", ").join(columns),
        sql.SQL(", ").join(sql.SQL("a.{}").format(c) for c in columns), sql.SQL(reason),
        sql.Identifier("raw", table), sql.SQL(which)), (batch,))


def cleanup_undo(target: Target, batch_id: str) -> dict[str, Any]:
    try:
        batch = uuid.UUID(batch_id)
    except ValueError:
        raise InputError(f"--undo {batch_id!r} is not a batch id") from None
    with connect(target, autocommit=True) as conn, conn.transaction():
        row = conn.execute("select undone_at from quarantine.batches where id = %s for update", (batch,)).fetchone()
        if row is None:
            raise InputError(f"no quarantine batch {batch_id}")
        if row[0] is not None:
            raise InputError(f"batch {batch_id} was already put back at {row[0]:%Y-%m-%d %H:%M}")
        for table in ("scrape_runs", "scrape_artifacts"):
            columns = sql.SQL(", ").join(sql.Identifier(c) for c in _columns(conn, "raw", table))
            conn.execute(sql.SQL("insert into {} ({}) select {} from {} where batch_id = %s").format(
                sql.Identifier("raw", table), columns, columns, sql.Identifier("quarantine", table)), (batch,))
        conn.execute("""update control.backfill_items i set run_id = r.run_id from quarantine.backfill_item_refs r
                         where r.batch_id = %s and i.backfill_id = r.backfill_id and i.roaster_id = r.roaster_id
                           and i.day = r.day""", (batch,))
        days = one_row(conn.execute(RESTORED_DAYS, {"b": batch}).fetchone())
        restored = {t: conn.execute(sql.SQL("delete from {} where batch_id = %s").format(
            sql.Identifier("quarantine", t)), (batch,)).rowcount
            for t in ("scrape_artifacts", "scrape_runs", "backfill_item_refs")}
        conn.execute("update quarantine.batches set undone_at = now() where id = %s", (batch,))
    return {"batch_id": batch_id, "restored": restored, "dbt": _rebuild(target, days)}


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    return [r[0] for r in conn.execute("""select column_name from information_schema.columns
                                           where table_schema = %s and table_name = %s order by ordinal_position""",
                                       (schema, table)).fetchall()]


def _rebuild(target: Target, days: tuple) -> dict[str, Any]:
    """Rebuild the derived rows of the days whose raw rows moved."""
    if not days or days[0] is None:
        return {}
    result = run_dbt(target, [*BUILD], range_vars(days[0].isoformat(), days[1].isoformat(), sorted(days[2])))
    return result.as_dict()
