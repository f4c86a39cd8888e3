"""Database connection: an external PostgreSQL or the embedded one; migrations.

`COFFEE_DATABASE_URL` wins. Without it the runner starts (once) an embedded PostgreSQL
from the `pgserver` package with its data in `$COFFEE_HOME/pg`, listening on a unix
socket only, and leaves it running so that later commands, dbt and psql find it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shlex
import sys
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from psycopg import sql

from runner.core.dbt_project import rules
from runner.core.errors import DatabaseUnavailable, InputError, NoRow, SetAsideWithoutLive
from runner.core.settings import settings

Row = TypeVar("Row")

DATABASE_NAME = "coffee_scraper"
URL_SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_SECONDS = 10
EMBEDDED_STOP_SECONDS = 30
# Derived schemas first: the runbook's bare names (roasters, prices, ...) are dbt marts.
SEARCH_PATH = "marts, ops, public"
MIGRATION_LOCK_KEY = 0x0C0FFEE  # advisory lock: one migrator at a time

log = logging.getLogger(__name__)


def coffee_home() -> Path:
    return Path(settings().home).resolve()


def log_file() -> Path:
    """The log pipeline's file: $COFFEE_LOG_FILE, else $COFFEE_HOME/logs/backfill.log."""
    return Path(settings().log_file or coffee_home() / "logs" / "backfill.log")


def home_folder(*parts: str) -> Path:
    """$COFFEE_HOME/<parts>, created if needed; InputError when it cannot be (a file in the
    way, no permission): the variable is operator input."""
    folder = coffee_home().joinpath(*parts)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise InputError(f"COFFEE_HOME {coffee_home()}: cannot create {folder} ({exc.strerror or exc})") from None
    return folder


@dataclass(frozen=True)
class Target:
    """Where the database is. `url` may hold a password: never print it, use `safe_url`."""

    url: str
    embedded: bool
    bin_dir: Path | None = None  # server binaries (pg_dump, psql) of the embedded server

    @property
    def safe_url(self) -> str:
        return redact(self.url)


PASSWORD_PARAM = re.compile(r"(^|&)(password=)[^&]*")


def redact(url: str) -> str:
    """The URL with any password (in the user info or a `password=` parameter) replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc, query=PASSWORD_PARAM.sub(r"\1\2***", parts.query)).geturl()


def resolve_target() -> Target:
    url = settings().database_url
    if url:
        # Checked here, not by libpq: its message would quote the value, password and all.
        if not url.startswith(URL_SCHEMES):
            raise InputError("COFFEE_DATABASE_URL must be a postgresql:// URL")
        return Target(url=url, embedded=False)
    return start_embedded(home_folder("pg"))


def start_embedded(pgdata: Path) -> Target:
    """Start (or find running) the embedded server and make sure our database exists."""
    pgdata.mkdir(parents=True, exist_ok=True)
    # pgserver warns about XDG_RUNTIME_DIR and logs at INFO; neither helps an operator.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pgserver
            from pgserver._commands import POSTGRES_BIN_PATH

            server = pgserver.get_server(pgdata, cleanup_mode=None)
        except Exception as exc:  # pgserver raises assorted errors; all mean "not started"
            raise DatabaseUnavailable(f"cannot start embedded PostgreSQL in {pgdata}: {exc}") from None
    admin_url = server.get_uri("postgres")
    _ensure_database(admin_url, DATABASE_NAME)
    return Target(url=server.get_uri(DATABASE_NAME), embedded=True, bin_dir=Path(POSTGRES_BIN_PATH))


def bundled_bin_dir() -> Path:
    """pgserver's PostgreSQL binaries (server and client tools), imported without its
    warnings (platformdirs warns about XDG_RUNTIME_DIR: noise on an operator's stderr)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def stop_embedded(pgdata: Path, timeout: float = EMBEDDED_STOP_SECONDS) -> bool:
    """Stop the embedded server of `pgdata` (fast shutdown: sessions end, data is safe).

    Returns False when no server was running there."""
    if not (pgdata / "postmaster.pid").exists():
        return False
    # pg_ctl is made by setattr when pgserver._commands loads: mypy cannot see it
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    # pgserver runs the server as the user "pgserver" when started by root; pg_ctl must too.
    user = pgdata.stat().st_uid if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "-t", str(int(timeout)), "stop"], pgdata=pgdata, timeout=timeout + 5, user=user)
    return True


def _ensure_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if exists:
            return
        # Another process may create it between our check and our create.
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def connect(target: Target, *, autocommit: bool = False) -> psycopg.Connection:
    try:
        return psycopg.connect(target.url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to {target.safe_url}: {_first_line(exc)}") from None


async def connect_async(url: str, *, timeout: int = CONNECT_TIMEOUT_SECONDS) -> psycopg.AsyncConnection:
    """An autocommit async connection (workers, the raw store, the shared budget)."""
    return await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=timeout)


def one_row(row: Row | None) -> Row:
    """The row of a query that always returns one (an aggregate, a RETURNING, a row this
    transaction holds): NoRow when it did not, instead of a TypeError further on."""
    if row is None:
        raise NoRow("a query that returns one row returned none")
    return row


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --- migrations ------------------------------------------------------------------------

@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    folder = resources.files("runner.store") / "migrations"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(version, rest.removesuffix(".sql"), entry.read_text("utf-8")))
    return found


def applied_migrations(conn: psycopg.Connection) -> dict[str, str]:
    exists = one_row(conn.execute("select to_regclass('control.schema_migrations')").fetchone())[0]
    if exists is None:
        return {}
    rows = conn.execute("select version, checksum from control.schema_migrations").fetchall()
    return dict(rows)


def pending_migrations(conn: psycopg.Connection) -> list[Migration]:
    applied = applied_migrations(conn)
    return [m for m in available_migrations() if m.version not in applied]


LIVE_SCHEMAS = ("raw", "control", "quarantine")  # the non-derived schemas (backups hold exactly these)
# a schema a restore set aside: the live schema's name, then the restore's suffix
SET_ASIDE_RE = re.compile(r"^(raw|control|quarantine)_(replaced_\d{8}_\d{6})$")


def refuse_beside_set_aside(conn: psycopg.Connection) -> None:
    """SetAsideWithoutLive when a live schema is missing but a set-aside copy of it exists:
    creating an empty one beside it would hide the data from every command."""
    names = {r[0] for r in conn.execute("select nspname from pg_namespace")}
    for schema in LIVE_SCHEMAS:
        copies = sorted(n for n in names if (m := SET_ASIDE_RE.match(n)) and m.group(1) == schema)
        if schema not in names and copies:
            raise SetAsideWithoutLive(
                f"schema {schema} is missing but {copies[-1]} exists (an interrupted restore?): put it back with "
                f"psql -c 'alter schema {copies[-1]} rename to {schema}', or restore a backup with "
                "coffee-runner restore FILE --yes")


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply pending migrations, each in its own transaction. Returns the versions applied."""
    refuse_beside_set_aside(conn)
    done: list[str] = []
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute("create schema if not exists control")
        conn.execute(
            """create table if not exists control.schema_migrations (
                   version text primary key, name text not null, checksum text not null,
                   applied_at timestamptz not null default now())"""
        )
    applied = applied_migrations(conn)
    for migration in available_migrations():
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise DatabaseUnavailable(
                    f"migration {migration.version}_{migration.name} changed after it was applied; "
                    "add a new migration instead of editing an applied one"
                )
            continue
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            # Another process may have applied it while we waited for the lock.
            if conn.execute("select 1 from control.schema_migrations where version = %s",
                            (migration.version,)).fetchone():
                continue
            conn.execute(migration.sql)
            conn.execute(
                "insert into control.schema_migrations (version, name, checksum) values (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
        done.append(migration.version)
    sync_rule_checks(conn)
    return done


# Check constraints that carry a rule from dbt_project.yml (runner/core/dbt_project.py): the
# migrations create them; when the rule there changes, the next migrate() follows it.
RULE_CHECKS = (("raw.roasters", "roasters_id_check", "id", "slug_pattern"),
               ("raw.roasters", "roasters_currency_check", "currency", "currency_pattern"))


def sync_rule_checks(conn: psycopg.Connection) -> list[str]:
    """Re-create the rule checks whose pattern differs from the project's; returns their names."""
    changed = []
    patterns = rules()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        for table, name, column, rule in RULE_CHECKS:
            row = conn.execute("select pg_get_constraintdef(oid) from pg_constraint "
                               "where conname = %s and conrelid = %s::regclass", (name, table)).fetchone()
            literal = sql.Literal(patterns[rule]).as_string(conn)
            if row is not None and f"~ {literal}" in row[0]:
                continue
            statement = sql.SQL("alter table {} drop constraint if exists {}, add constraint {} check ({} ~ {})")
            conn.execute(statement.format(sql.Identifier(*table.split(".")), sql.Identifier(name),
                                          sql.Identifier(name), sql.Identifier(column), sql.Literal(patterns[rule])))
            changed.append(name)
    return changed


def set_search_path(conn: psycopg.Connection) -> bool:
    """Make the runbook's bare table names resolve to the marts for every new session.

    Needs ownership of the database; on a shared server where we are not the owner we
    say so instead of failing init.
    """
    name = one_row(conn.execute("select current_database()").fetchone())[0]
    if _search_path_is_set(conn):
        return True
    try:
        with conn.transaction():
            # Processes starting together would collide in pg_db_role_setting: one at a time.
            conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            if not _search_path_is_set(conn):
                conn.execute(sql.SQL("alter database {} set search_path = " + SEARCH_PATH)
                             .format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege:
        log.warning("not the owner of database %s: set search_path = %s yourself", name, SEARCH_PATH)
        return False
    return True


def _search_path_is_set(conn: psycopg.Connection) -> bool:
    current = conn.execute(
        """select s.setconfig from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase
            where d.datname = current_database() and s.setrole = 0""").fetchone()
    return bool(current and f"search_path={SEARCH_PATH}" in (current[0] or []))


# --- environment for psql and dbt ------------------------------------------------------

def libpq_params(target: Target) -> tuple[dict[str, str], str | None]:
    """The URL as libpq PG* variables (host, port, user, database), and the password apart."""
    parts = urlsplit(target.url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    params = {
        "PGHOST": query.get("host") or parts.hostname or "localhost",
        "PGPORT": str(query.get("port") or parts.port or 5432),
        "PGUSER": unquote(parts.username or query.get("user") or "postgres"),
        "PGDATABASE": unquote(parts.path.lstrip("/")) or DATABASE_NAME,
    }
    return params, _password(parts.password, query)


def _password(in_url: str | None, query: dict[str, str]) -> str | None:
    """The URL's user info, else its password= parameter, else the operator's PGPASSWORD."""
    return unquote(in_url or "") or query.get("password") or os.environ.get("PGPASSWORD") or None


def libpq_env(target: Target) -> dict[str, str]:
    """This process's environment for a child tool (pg_dump, dbt) that must reach the target.

    The password travels in the environment, never on a command line.
    """
    params, password = libpq_params(target)
    env = {**os.environ, **params}
    env.pop("PGPASSWORD", None)  # set again below only when it belongs to the target
    if password:
        env["PGPASSWORD"] = password
    return env


def env_exports(target: Target, profiles_dir: Path | None) -> list[str]:
    """`export` lines so that plain psql and dbt reach the same database."""
    params, password = libpq_params(target)
    values: dict[str, str] = {"COFFEE_HOME": str(coffee_home()), **params,
                              "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if target.embedded:
        values["COFFEE_DATABASE_URL"] = target.url  # embedded: no password in it
    if password:
        values["PGPASSFILE"] = str(_write_pgpass(values, password))
    if profiles_dir is not None:
        values["DBT_PROFILES_DIR"] = str(profiles_dir)
        # The runner's own dbt runs use these too, so partial parsing is shared.
        values["DBT_TARGET_PATH"] = str(profiles_dir / "target")
        values["DBT_LOG_PATH"] = str(profiles_dir / "logs")
    lines = [f"export {k}={shlex.quote(v)}" for k, v in values.items()]
    # The runner's range channel to dbt (runner/transform/dbt_runner.py): a value left over from pasting
    # one of its logged commands would silently narrow every later plain `dbt build`.
    lines.append("unset COFFEE_DBT_RANGE")
    # dbt from this venv, then the embedded server's psql/pg_dump (they match its version).
    path = [Path(sys.executable).parent] + ([target.bin_dir] if target.bin_dir is not None else [])
    lines.append(f'export PATH={":".join(shlex.quote(str(p)) for p in path)}:"$PATH"')
    return lines


def _write_pgpass(values: dict[str, str], password: str) -> Path:
    """The password goes to a 0600 file for libpq, never to stdout."""
    path = home_folder() / "pgpass"
    esc = [s.replace("\\", "\\\\").replace(":", "\\:") for s in
           (values["PGHOST"], values["PGPORT"], values["PGDATABASE"], values["PGUSER"], password)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(":".join(esc) + "\n")
    return path
