"""Restore raw, control and quarantine from a backup, atomically as the operator sees it.

1. The file is checked first (runner/ops/backup.py): a whole pg_dump archive of exactly our
   three schemas, or one line and exit 2 with nothing touched.
2. One transaction, in `psql` fed by `pg_restore`'s script: take the migration and dbt
   locks, set the current schemas aside (`<schema>_replaced_<time>`), drop the derived
   views bound to their tables (they would follow the rename and read the set-aside
   data), create the backup's schemas, and write the marker `control.restore_pending`.
   The commit is sent only when pg_restore has read the whole file; a process killed
   before it closes psql's input, psql exits, and the server rolls everything back.
3. Migrations, then `dbt build --full-refresh`; the marker is dropped when it succeeds.
   Killed during the rebuild, the database holds the restored data and the marker: the
   next writing command (`prepare`) finishes the rebuild, and `health` says it is pending.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import subprocess
import tempfile
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql

from runner.core.errors import InputError
from runner.ops.backup import (
    BACKUP_SCHEMAS,
    PG_TOOL_TIMEOUT_SECONDS,
    SET_ASIDE_DUMP,
    backups_dir,
    check_backup_file,
    dump_schemas,
    pg_tool,
)
from runner.store.db import MIGRATION_LOCK_KEY, SET_ASIDE_RE, Target, connect, libpq_env
from runner.transform.bootstrap import PENDING, finish_pending, pending
from runner.transform.dbt_runner import DBT_LOCK_KEY

COPY_CHUNK = 1 << 16

log = logging.getLogger(__name__)


def restore(target: Target, file: Path, now: dt.datetime | None = None) -> dict[str, Any]:
    """Check FILE, swap the schemas in one transaction, rebuild everything derived."""
    env = libpq_env(target)
    with connect(target) as conn:
        pg_restore, psql = pg_tool(target, "pg_restore", conn), pg_tool(target, "psql", conn)
        check_backup_file(pg_restore, file, env)
        suffix = f"replaced_{now or dt.datetime.now():%Y%m%d_%H%M%S}"
        present = [s for s in BACKUP_SCHEMAS if _schema_exists(conn, s)]
        if any(_schema_exists(conn, f"{s}_{suffix}") for s in present):
            raise InputError(f"schemas *_{suffix} exist already: restore again in a second")
        aside = [f"{s}_{suffix}" for s in present]
        script = _Script(conn, present, suffix, file.resolve(), aside)
    _swap(pg_restore, psql, file, script, env)
    finished = finish_pending(target)
    assert finished is not None
    return {"file": str(file), "schemas": list(BACKUP_SCHEMAS), "set_aside": aside,
            "dbt": finished["dbt"], "ok": finished["ok"]}


def _schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select 1 from pg_namespace where nspname = %s", (name,)).fetchone() is not None


# The views outside our schemas whose rules read a table inside them: dbt's staging views
# (and the views built on those). PostgreSQL binds a view to its tables' oids, so after
# the rename they would read the set-aside tables; dropped here, dbt's rebuild recreates them.
BOUND_VIEWS = """
    select coalesce(array_agg(distinct format('drop %s if exists %I.%I cascade',
                                              case vc.relkind when 'm' then 'materialized view' else 'view' end,
                                              vn.nspname, vc.relname)), '{{}}')
      from pg_depend d
      join pg_rewrite r on r.oid = d.objid
      join pg_class vc on vc.oid = r.ev_class
      join pg_namespace vn on vn.oid = vc.relnamespace
      join pg_class t on t.oid = d.refobjid
      join pg_namespace tn on tn.oid = t.relnamespace
     where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
       and tn.nspname = any({schemas}) and vn.nspname <> all({schemas}) and vc.oid <> t.oid"""


class _Script:
    """The SQL psql runs around pg_restore's script: before it and, when it was whole, after it."""

    def __init__(self, conn: psycopg.Connection, present: list[str], suffix: str, file: Path,
                 aside: list[str]) -> None:
        schemas = sql.Literal(list(BACKUP_SCHEMAS)).as_string(conn)
        renames = "".join(sql.SQL("alter schema {} rename to {};\n").format(
            sql.Identifier(s), sql.Identifier(f"{s}_{suffix}")).as_string(conn) for s in present)
        self.before = (
            "begin;\n"
            f"select pg_advisory_xact_lock({MIGRATION_LOCK_KEY});\n"  # no migration meanwhile
            f"select pg_advisory_xact_lock({DBT_LOCK_KEY});\n"  # no dbt build meanwhile
            "do $coffee$ declare bound text[]; drop_view text; begin\n"
            f"{BOUND_VIEWS.format(schemas=schemas + '::text[]')} into bound;\n"
            f"{renames}"
            "foreach drop_view in array bound loop execute drop_view; end loop;\n"
            "end $coffee$;\n")
        self.after = (
            f"drop table if exists {PENDING};\n"
            f"create table {PENDING} (file text not null, set_aside text[] not null,"
            " swapped_at timestamptz not null default now());\n"
            f"insert into {PENDING} (file, set_aside) values ({sql.Literal(str(file)).as_string(conn)}, "
            f"{sql.Literal(aside).as_string(conn)}::text[]);\n"
            "commit;\n")


def _swap(pg_restore: Path, psql: Path, file: Path, script: _Script, env: dict[str, str]) -> None:
    """Run the swap transaction; InputError (nothing changed) when it did not commit."""
    with tempfile.TemporaryFile() as psql_err, tempfile.TemporaryFile() as restore_err:
        applying = subprocess.Popen([str(psql), "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
                                     "--dbname", env["PGDATABASE"], "--file", "-"], env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_err)
        reading = subprocess.Popen([str(pg_restore), "--no-owner", "--file", "-", str(file)], env=env,
                                   stdout=subprocess.PIPE, stderr=restore_err)
        assert applying.stdin is not None and reading.stdout is not None
        whole = _feed(applying.stdin, reading, script)
        psql_code = applying.wait(timeout=PG_TOOL_TIMEOUT_SECONDS)
        if psql_code != 0 or not whole:
            why = _tail(restore_err) if not whole and reading.returncode else _tail(psql_err)
            raise InputError(f"restore of {file} failed, nothing changed: {why or f'psql exit {psql_code}'}")


def _feed(stdin: IO[bytes], reading: subprocess.Popen[bytes], script: _Script) -> bool:
    """psql's input: the swap's head, pg_restore's script, and the commit only when pg_restore
    finished well (else a rollback). True when the commit was sent."""
    assert reading.stdout is not None
    whole = False
    try:
        stdin.write(script.before.encode())
        while chunk := reading.stdout.read(COPY_CHUNK):
            stdin.write(chunk)
        whole = reading.wait(timeout=PG_TOOL_TIMEOUT_SECONDS) == 0
        stdin.write((script.after if whole else "rollback;\n").encode())
    except BrokenPipeError:  # psql stopped on an error (ON_ERROR_STOP): it rolled back
        whole = False
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()
        if reading.poll() is None:
            reading.kill()
        reading.wait()
    return whole


def _tail(handle: IO[bytes]) -> str:
    handle.seek(0)
    lines = [line for line in handle.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def state(conn: psycopg.Connection) -> dict[str, Any]:
    """What health and assess show: a rebuild still pending, and the set-aside schemas."""
    return {"pending_rebuild": pending(conn), "set_aside": set_aside(conn)}


# --- set-aside schemas ---------------------------------------------------------------------------

def set_aside(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """The schemas restores set aside, grouped by restore (their suffix), oldest first."""
    names = [r[0] for r in conn.execute("select nspname from pg_namespace order by nspname")]
    groups: dict[str, list[str]] = {}
    for name in names:
        if match := SET_ASIDE_RE.match(name):
            groups.setdefault(match.group(2), []).append(name)
    return [{"suffix": suffix, "schemas": schemas} for suffix, schemas in sorted(groups.items())]


def drop_set_aside(target: Target, suffix: str) -> dict[str, Any]:
    """Drop the schemas one restore set aside, after dumping them to backups/set_aside_<suffix>.dump."""
    with connect(target, autocommit=True) as conn:
        group = next((g for g in set_aside(conn) if g["suffix"] == suffix), None)
        if group is None:
            known = ", ".join(g["suffix"] for g in set_aside(conn)) or "none"
            raise InputError(f"--drop-set-aside {suffix!r}: no such set-aside restore (there are: {known})")
        path = backups_dir() / SET_ASIDE_DUMP.format(suffix)
        dump_schemas(target, group["schemas"], path)
        with conn.transaction():
            for name in group["schemas"]:
                conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))
    return {"suffix": suffix, "dropped": group["schemas"], "dump": str(path)}
