"""Connect and prepare: what every writing command does before its work, written once.

Preparing checks the config against the server (time zones), applies migrations, sets
the search path, syncs the roasters, marks dead runs failed, and finishes the rebuild of
a restore that was killed before its `dbt build` ended (the marker
`control.restore_pending`, written by `runner.ops.restore`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import psycopg

from runner.core.config import Config, check_timezones
from runner.store.db import Target, connect, migrate, set_search_path
from runner.store.raw import reap_dead_runs
from runner.store.roasters import sync_roasters
from runner.transform.dbt_runner import BUILD, run_dbt

PENDING = "control.restore_pending"

log = logging.getLogger(__name__)


def prepare(conn: psycopg.Connection, config: Config, target: Target | None = None) -> dict[str, Any]:
    """What every writing command does first: migrate, search_path, roasters, dead runs, and
    the rebuild of a restore that was killed before it finished (given the target). A config
    the server cannot follow (a time zone it does not know) is refused before anything is written."""
    check_timezones(config, conn)
    applied = migrate(conn)
    search_path_set = set_search_path(conn)
    roasters = sync_roasters(conn, config)
    reaped = reap_dead_runs(conn)
    if reaped:
        log.warning("marked %d interrupted run(s) as failed", reaped)
    finished = None
    if (found := pending(conn)) is not None:
        if target is None:
            log.warning("the restore of %s still needs its rebuild: run `coffee-runner init`", found["file"])
        else:
            finished = finish_pending(target)
    return {"migrations_applied": applied, "search_path_set": search_path_set, "roasters": roasters,
            "runs_reaped": reaped, "restore_finished": finished}


def prepare_database(config: Config, target: Target) -> dict[str, Any]:
    """Connect, prepare, disconnect: what `prepare` did."""
    with connect(target, autocommit=True) as conn:
        return prepare(conn, config, target)


@contextlib.contextmanager
def prepared(config: Config, target: Target) -> Iterator[psycopg.Connection]:
    """An autocommit connection to a prepared database (the CLI's and the service's preamble)."""
    with connect(target, autocommit=True) as conn:
        prepare(conn, config, target)
        yield conn


def pending(conn: psycopg.Connection) -> dict[str, Any] | None:
    """The restore whose rebuild has not finished, if any."""
    exists = conn.execute(f"select to_regclass('{PENDING}') is not null").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute(f"select file, set_aside, swapped_at from {PENDING}").fetchone()
    if row is None:
        return None
    return {"file": row[0], "set_aside": list(row[1]), "swapped_at": row[2].isoformat()}


def finish_pending(target: Target) -> dict[str, Any] | None:
    """A swapped restore's last step: migrations, then every derived table rebuilt from the
    restored data. None when no restore is pending; the marker stays when dbt fails."""
    with connect(target, autocommit=True) as conn:
        found = pending(conn)
        if found is None:
            return None
        migrate(conn)  # a backup of an older release gets this release's migrations
    log.info("restore of %s: rebuilding the derived tables (dbt build --full-refresh)", found["file"])
    result = run_dbt(target, [*BUILD, "--full-refresh"])
    if result.ok:
        with connect(target, autocommit=True) as conn:
            conn.execute(f"drop table if exists {PENDING}")
    return {**found, "dbt": result.as_dict(), "ok": result.ok}
