"""Backup and restore of the non-derived schemas (raw, control, quarantine).

A backup is written under a temporary name and renamed when pg_dump has finished, 0600,
so a killed backup never leaves a file under a backup's name. A restore checks that the
file is a whole coffee-runner backup before it touches anything, then swaps the schemas
in one transaction (`psql` reading `pg_restore`'s script): the current schemas are set
aside as `<schema>_replaced_<time>`, the derived views bound to them are dropped, the
backup's schemas are created and a marker (`control.restore_pending`) is written. Killed
before the commit, nothing changed; after it, the database holds the restored data and
the marker says the derived tables still need their rebuild, which the restore does next
and any later writing command finishes (`finish_pending`). Set-aside schemas are dropped
only on purpose (`restore --drop-set-aside SUFFIX`), after they were dumped to a file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from runner.core.errors import InputError
from runner.store.db import LIVE_SCHEMAS, Target, bundled_bin_dir, connect, home_folder, libpq_env

BACKUP_SCHEMAS = LIVE_SCHEMAS  # derived schemas are rebuilt by dbt
BACKUP_NAME = "backup_{:%Y%m%d_%H%M%S}.dump"
BACKUP_RE = re.compile(r"^backup_\d{8}_\d{6}\.dump$")
PARTIAL_SUFFIX = ".partial"  # a backup being written; renamed to its name when whole
SET_ASIDE_DUMP = "set_aside_{}.dump"

# Tables every coffee-runner backup holds (migration 0001); their absence means some other dump.
REQUIRED_TABLES = (("control", "schema_migrations"), ("raw", "roasters"), ("raw", "scrape_runs"),
                   ("raw", "scrape_artifacts"))
DEFAULT_KEEP_DAYS = 7
PG_TOOL_TIMEOUT_SECONDS = 3600


# --- libpq tools ------------------------------------------------------------------------------

def pg_tool(target: Target, name: str, conn: psycopg.Connection) -> Path:
    """A pg_dump/pg_restore/psql whose major version matches the server's."""
    server_major = conn.info.server_version // 10000
    candidates = []
    if target.bin_dir is not None:
        candidates.append(target.bin_dir / name)
    candidates.append(bundled_bin_dir() / name)  # pgserver's own tools serve any server of its major
    if found := shutil.which(name):
        candidates.append(Path(found))
    candidates += sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    seen = []
    for path in candidates:
        major = _tool_major(path)
        seen.append(f"{path} ({major})")
        if major == server_major:
            return path
    raise InputError(f"no {name} for PostgreSQL {server_major} found (tried: {', '.join(seen) or 'none'}); "
                     f"install the PostgreSQL {server_major} client tools")


def _tool_major(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return int(match.group(1)) if match else None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- backup ------------------------------------------------------------------------------------

def backups_dir() -> Path:
    return home_folder("backups")


def backup(target: Target, keep_days: int = DEFAULT_KEEP_DAYS, now: dt.datetime | None = None) -> dict[str, Any]:
    if keep_days < 0:
        raise InputError("--keep-days must be 0 or more")
    folder = backups_dir()
    now = now or dt.datetime.now()
    path = folder / BACKUP_NAME.format(now)
    started = time.monotonic()
    tool = dump_schemas(target, list(BACKUP_SCHEMAS), path)
    removed = prune_backups(folder, keep_days, now, keep=path)
    return {"file": str(path), "bytes": path.stat().st_size, "schemas": list(BACKUP_SCHEMAS),
            "pg_dump": str(tool), "removed": [str(p) for p in removed],
            "elapsed_seconds": round(time.monotonic() - started, 2)}


def dump_schemas(target: Target, schemas: list[str], path: Path) -> Path:
    """pg_dump of `schemas` to `path`, 0600, written under a temporary name first. Returns pg_dump's path."""
    with connect(target) as conn:
        tool = pg_tool(target, "pg_dump", conn)
    partial = path.with_name(f".{path.name}{PARTIAL_SUFFIX}")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))  # pg_dump keeps the mode
    args = [str(tool), "--format=custom", "--no-owner", "--file", str(partial)]
    for schema in schemas:
        args += ["--schema", schema]
    proc = subprocess.run(args, env=libpq_env(target), capture_output=True, text=True, timeout=PG_TOOL_TIMEOUT_SECONDS)
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise InputError(f"pg_dump failed: {_last_line(proc.stderr) or proc.returncode}")
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return tool


def prune_backups(folder: Path, keep_days: int, now: dt.datetime, keep: Path | None = None) -> list[Path]:
    """Remove backups older than keep_days, but never the newest one."""
    files = sorted((p for p in folder.iterdir() if BACKUP_RE.match(p.name)), key=lambda p: p.stat().st_mtime)
    if not files:
        return []
    newest = keep or files[-1]
    cutoff = now.timestamp() - keep_days * 86400
    removed = []
    for path in files:
        if path != newest and path != files[-1] and path.stat().st_mtime < cutoff:
            path.unlink()
            removed.append(path)
    return removed


# --- checking a backup file ----------------------------------------------------------------------

TOC_ENTRY = re.compile(r"^\d+;\s+\d+\s+\d+\s+(?P<kind>[A-Z][A-Z ]*?)\s+(?P<schema>\S+)\s+(?P<name>\S+)")


def _check_contents(file: Path, listing: str) -> None:
    """The archive's table of contents names exactly our schemas and the runner's tables."""
    entries = [(m["kind"], m["schema"], m["name"]) for line in listing.splitlines() if (m := TOC_ENTRY.match(line))]
    schemas = {name for kind, _, name in entries if kind == "SCHEMA"}
    tables = {(schema, name) for kind, schema, name in entries if kind == "TABLE"}
    if schemas != set(BACKUP_SCHEMAS) or not set(REQUIRED_TABLES) <= tables:
        found = ", ".join(sorted(schemas)) or "none"
        raise InputError(f"{file}: not a coffee-runner backup (schemas: {found}; expected raw, control, quarantine "
                         "with the runner's tables)")


def check_backup_file(tool: Path, file: Path, env: dict[str, str]) -> None:
    """InputError unless `file` is a whole pg_dump archive of exactly raw, control and quarantine."""
    if not file.is_file():
        raise InputError(f"{file}: no such backup file")
    if file.stat().st_size == 0:
        raise InputError(f"{file}: empty file, not a coffee-runner backup")
    listing = subprocess.run([str(tool), "--list", str(file)], env=env, capture_output=True, text=True,
                             timeout=PG_TOOL_TIMEOUT_SECONDS)
    if listing.returncode != 0:
        raise InputError(f"{file}: not a pg_dump archive ({_last_line(listing.stderr)})")
    _check_contents(file, listing.stdout)
    whole = subprocess.run([str(tool), "--file", os.devnull, str(file)], env=env, capture_output=True, text=True,
                           timeout=PG_TOOL_TIMEOUT_SECONDS)  # reads every byte: a truncated file fails here
    if whole.returncode != 0:
        raise InputError(f"{file}: damaged or truncated backup ({_last_line(whole.stderr)})")
