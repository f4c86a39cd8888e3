"""Keeping raw data safe: `backup`, `restore`, `cleanup` (quarantine and undo)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from runner.cli.options import config_of, emit, json_option
from runner.core.errors import EXIT_FAILED, InputError
from runner.ops.backup import backup
from runner.ops.cleanup import cleanup_apply, cleanup_dry_run, cleanup_undo
from runner.ops.restore import drop_set_aside, restore
from runner.store.db import resolve_target
from runner.transform.bootstrap import prepare_database
from runner.transform.coverage import ensure_built


@click.command("backup")
@click.option("--keep-days", default=7, show_default=True, help="Remove backups older than this (never the newest).")
@json_option
def backup_cmd(keep_days: int, as_json: bool) -> None:
    """pg_dump of raw, control and quarantine to $COFFEE_HOME/backups (derived data is rebuilt by dbt)."""
    result = backup(resolve_target(), keep_days)
    removed = f", removed {len(result['removed'])} old backup(s)" if result["removed"] else ""
    emit(as_json, result, f"backup written: {result['file']} ({result['bytes']} bytes){removed}")


@click.command("restore")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--drop-set-aside", "drop_suffix", metavar="SUFFIX",
              help="Instead of restoring: drop the schemas a restore set aside (*_SUFFIX, as health lists them), "
                   "after dumping them to $COFFEE_HOME/backups/set_aside_SUFFIX.dump.")
@json_option
def restore_cmd(file: Path | None, yes: bool, drop_suffix: str | None, as_json: bool) -> None:
    """Restore raw, control and quarantine from FILE (the current ones are set aside), then rebuild."""
    if (file is None) == (drop_suffix is None):
        raise InputError("restore takes a backup FILE, or --drop-set-aside SUFFIX")
    if not yes:
        _confirm(file, drop_suffix)
    if drop_suffix is not None:
        dropped = drop_set_aside(resolve_target(), drop_suffix)
        emit(as_json, dropped, f"dropped {', '.join(dropped['dropped'])}; their dump: {dropped['dump']}")
        return
    assert file is not None
    result = restore(resolve_target(), file)
    emit(as_json, result, f"restored {file}; previous schemas kept as {', '.join(result['set_aside']) or 'none'}; "
                          f"dbt rebuild {'ok' if result['ok'] else 'FAILED (any writing command tries again)'}")
    if not result["ok"]:
        sys.exit(EXIT_FAILED)


def _confirm(file: Path | None, drop_suffix: str | None) -> None:
    """Ask on a terminal; elsewhere, --yes is required."""
    if not sys.stdin.isatty():
        what = "replaces the raw, control and quarantine schemas" if file else "drops schemas"
        raise InputError(f"restore {what}: add --yes to confirm")
    question = (f"Replace raw, control and quarantine with {file}? The current schemas are kept under "
                "*_replaced_<time> names." if file is not None else
                f"Drop the set-aside schemas *_{drop_suffix}? They are dumped to a file first.")
    click.confirm(question, abort=True, err=True)


@click.command("cleanup")
@click.option("--apply", "apply_", is_flag=True, help="Move the rows (default: a dry run that only counts).")
@click.option("--no-backup", is_flag=True, help="With --apply: skip the backup taken first.")
@click.option("--undo", "undo", metavar="BATCH", help="Put a quarantined batch back exactly.")
@json_option
@click.pass_context
def cleanup_cmd(ctx: click.Context, apply_: bool, no_backup: bool, undo: str | None, as_json: bool) -> None:
    """Move failed runs and superseded failed attempts to quarantine (restorable); never deletes raw data."""
    config = config_of(ctx)
    target = resolve_target()
    if undo is None and not apply_:
        counts = cleanup_dry_run(config, target)
        emit(as_json, {"dry_run": True, "would_move": counts},
             "dry run (nothing moved; --apply to move):\n" + "\n".join(f"  {k:<22} {v}" for k, v in counts.items()))
        return
    if undo is not None:
        if apply_:
            raise InputError("--undo and --apply go separately")
        result = cleanup_undo(target, undo)
        emit(as_json, result, f"batch {undo} put back: {result['restored']}")
        return
    prepare_database(config, target)
    ensure_built(target)
    result = cleanup_apply(target, take_backup=not no_backup)
    emit(as_json, result, f"moved to quarantine as batch {result['batch_id']}: {result['moved']}"
                          f"\nundo with: coffee-runner cleanup --undo {result['batch_id']}")
