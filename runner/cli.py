"""coffee-runner command line: parses options, calls plain functions, prints results.

Exit codes: 0 success; 1 finished but something failed; 2 bad input or usage;
3 aborted by a threshold (resumable).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import psycopg

from runner import __version__, clock
from runner.backfill import DEFAULT_CONCURRENCY, DEFAULT_MAX_FAILURE_RATE, DEFAULT_TIMEOUT_SECONDS, Summary
from runner.config import Config, check_timezones, load_config
from runner.config_values import MAX_RATE_LIMIT_RPS
from runner.db import Target, connect, env_exports, migrate, resolve_target
from runner.errors import EXIT_FAILED, EXIT_INPUT, DatabaseUnavailable, InputError
from runner.fetch import fetch_scheduled, prepare
from runner.progress import ProgressDrawer, resume_hint

log = logging.getLogger("runner")


class BadInput(click.ClickException):
    """Operator input is wrong: one line (per problem), exit code 2."""

    exit_code = EXIT_INPUT


class CoffeeGroup(click.Group):
    """Turns the runner's own errors into one-line messages with documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            raise BadInput(str(exc)) from None
        except DatabaseUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise click.ClickException(f"database error: {first}") from None


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (tests swap it per invocation)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        return


def setup_logging(verbose: bool) -> None:
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("coffee-runner: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "httpcore", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def json_option(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout; logs stay on stderr.")(func)


def emit(as_json: bool, data: Any, text: str) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text)


def _config(ctx: click.Context) -> Config:
    if "config" not in ctx.meta:
        ctx.meta["config"] = load_config(ctx.find_root().params.get("config_path"))
    return ctx.meta["config"]


@click.group(cls=CoffeeGroup)
@click.option("--config", "config_path", metavar="PATH",
              help="roasters.yml (default: $COFFEE_ROASTERS, else ./roasters.yml).")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging on stderr.")
@click.version_option(__version__, prog_name="coffee-runner")
def cli(config_path: str | None, verbose: bool) -> None:
    """Fetch roaster shop catalogs politely into PostgreSQL, and backfill what is missing."""
    setup_logging(verbose)


@cli.command("env")
@json_option
def env_cmd(as_json: bool) -> None:
    """Print export lines for psql and dbt: eval "$(coffee-runner env)"."""
    from runner.dbt import profiles_dir

    target = resolve_target()
    lines = env_exports(target, profiles_dir())
    data = {"database": target.safe_url, "embedded": target.embedded, "exports": lines}
    emit(as_json, data, "\n".join(lines))


@cli.command("init")
@json_option
@click.pass_context
def init_cmd(ctx: click.Context, as_json: bool) -> None:
    """Apply migrations (idempotent) and sync roasters from the config."""
    config = _config(ctx)
    target = resolve_target()
    with connect(target, autocommit=True) as conn:
        result = prepare(conn, config, target)
    result["database"] = target.safe_url
    roasters = result["roasters"]
    applied = ", ".join(result["migrations_applied"]) or "none (already current)"
    emit(as_json, result,
         f"database: {target.safe_url}\nmigrations applied: {applied}\n"
         f"roasters: {roasters['configured']} configured, {roasters['deactivated']} deactivated")


@cli.command("fetch")
@click.option("--roaster", "roaster_ids", multiple=True, metavar="ID", help="Only this roaster (repeatable).")
@json_option
@click.pass_context
def fetch_cmd(ctx: click.Context, roaster_ids: tuple[str, ...], as_json: bool) -> None:
    """One live scrape run per roaster that is not paused, now. Exit 1 when any run is partial or failed."""
    config = _config(ctx)
    roasters = config.select(roaster_ids)
    if not roasters:
        raise InputError(f"{config.path}: no active roasters to fetch")
    summaries, paused = fetch_scheduled(config, resolve_target(), roasters)
    rows = [s.as_dict() for s in summaries]
    lines = [f"{s.roaster_id:<24} {s.status:<8} pages={s.pages:<4} artifacts={s.artifacts:<4} "
             f"{s.error or ''}".rstrip() for s in summaries]
    lines += [f"{roaster_id:<24} paused   {why}" for roaster_id, why in paused.items()]
    emit(as_json, {"runs": rows, "paused": paused}, "\n".join(lines))
    if any(s.status not in ("ok", "skipped") for s in summaries):
        ctx.exit(EXIT_FAILED)


@cli.command("pause")
@click.option("--roaster", "roaster_ids", multiple=True, metavar="ID",
              help="Pause this roaster (repeatable); without it, every roaster.")
@click.option("--reason", required=True, help="Why: shown by health and /metrics.")
@json_option
@click.pass_context
def pause_cmd(ctx: click.Context, roaster_ids: tuple[str, ...], reason: str, as_json: bool) -> None:
    """Stop normal processing (scheduled fetches) without stopping any process."""
    from runner import pauses

    if not reason.strip():
        raise InputError("--reason: must not be empty")
    scopes = [r.id for r in _config(ctx).select(roaster_ids)] if roaster_ids else []
    target = resolve_target()
    with connect(target, autocommit=True) as conn:
        prepare(conn, _config(ctx), target)
        now_paused = pauses.pause(conn, scopes, reason)
    emit(as_json, {"paused": [p.as_dict() for p in now_paused]},
         "\n".join(f"paused {p.scope}: {p.reason}" for p in now_paused))


@cli.command("unpause")
@click.option("--roaster", "roaster_ids", multiple=True, metavar="ID",
              help="Lift this roaster's pause (repeatable); without it, every pause.")
@json_option
@click.pass_context
def unpause_cmd(ctx: click.Context, roaster_ids: tuple[str, ...], as_json: bool) -> None:
    """Restart normal processing: lift pauses set by `pause`."""
    from runner import pauses

    scopes = [r.id for r in _config(ctx).select(roaster_ids)] if roaster_ids else []
    target = resolve_target()
    with connect(target, autocommit=True) as conn:
        prepare(conn, _config(ctx), target)
        lifted = pauses.unpause(conn, scopes)
        left = pauses.active(conn)
    text = "\n".join([f"unpaused {scope}" for scope in lifted] or ["nothing was paused"])
    text += "".join(f"\nstill paused {p.scope}: {p.reason}" for p in left)
    emit(as_json, {"unpaused": lifted, "paused": [p.as_dict() for p in left]}, text)


class Day(click.ParamType):
    """YYYY-MM-DD within the days the runner handles (runner.clock.check_day)."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return clock.parse_day(str(value), param.get_error_hint(ctx) if param and ctx else "date")
        except InputError as exc:
            self.fail(str(exc).split(": ", 1)[1], param, ctx)


class Finite(click.FloatRange):
    """A float range that also refuses nan and inf (click's FloatRange lets nan through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


DATE = Day()
PORT = click.IntRange(0, 65535)  # 0: any free port


def roaster_option(func: Any) -> Any:
    return click.option("--roaster", "roaster_ids", multiple=True, metavar="ID",
                        help="Only this roaster (repeatable).")(func)


def range_options(required: bool) -> Any:
    def wrap(func: Any) -> Any:
        func = click.option("--end", type=DATE, required=required, help="Last day, YYYY-MM-DD (inclusive).")(func)
        return click.option("--start", type=DATE, required=required, help="First day, YYYY-MM-DD.")(func)

    return wrap


def _check_against_database(config: Config, target: Target) -> None:
    """What the config check cannot know without the server (its time zones), for the
    commands that read without `prepare`: InputError, exit 2."""
    with connect(target) as conn:
        check_timezones(config, conn)


def _roasters(config: Config, roaster_ids: tuple[str, ...]) -> list:
    roasters = config.select(roaster_ids)
    if not roasters:
        raise InputError(f"{config.path}: no active roasters")
    return roasters


@cli.command("assess")
@range_options(required=False)
@roaster_option
@json_option
@click.pass_context
def assess_cmd(ctx: click.Context, start: dt.date | None, end: dt.date | None,
               roaster_ids: tuple[str, ...], as_json: bool) -> None:
    """The pre-backfill assessment: counts, statuses, coverage per roaster, disk (default: last 30 days)."""
    from runner.ops import assess, default_range
    from runner.report import assess_text

    config = _config(ctx)
    first, last = default_range(start, end)
    target = resolve_target()
    with connect(target, autocommit=True) as conn:
        prepare(conn, config, target)
    report = assess(config, target, first, last, _roasters(config, roaster_ids))
    emit(as_json, report, assess_text(report))


@cli.command("gaps")
@range_options(required=True)
@roaster_option
@click.option("--acknowledge", is_flag=True, help="Record the range as a gap nothing can fill.")
@click.option("--reason", help="Why (with --acknowledge).")
@json_option
@click.pass_context
def gaps_cmd(ctx: click.Context, start: dt.date, end: dt.date, roaster_ids: tuple[str, ...],
             acknowledge: bool, reason: str | None, as_json: bool) -> None:
    """Every (roaster, day) in the range that is not complete, with its status."""
    from runner.ops import acknowledge as ack
    from runner.plan import check_range, coverage

    config = _config(ctx)
    first, last = start, end
    assert first is not None and last is not None
    check_range(first, last)
    roasters = _roasters(config, roaster_ids)
    target = resolve_target()
    with connect(target, autocommit=True) as conn:
        prepare(conn, config, target)
    if acknowledge:
        if len(roaster_ids) != 1 or reason is None:
            raise InputError("--acknowledge needs exactly one --roaster and a --reason")
        done = ack(target, roasters[0], first, last, reason)
        emit(as_json, {"acknowledged": done}, f"acknowledged {done['roaster_id']} {done['start']}..{done['end']}: "
                                               f"{done['reason']}")
        return
    days = coverage(target, first, last, roasters, materialize=True)
    gaps = [d for d in days if d.status != "complete"]
    data = {"start": first.isoformat(), "end": last.isoformat(),
            "gaps": [{"roaster_id": d.roaster_id, "day": d.day.isoformat(), "status": d.status,
                      "acknowledged": d.acknowledged, "reason": d.reason} for d in gaps],
            "counts": dict(sorted(Counter(d.status for d in gaps).items())),
            "open": sum(1 for d in gaps if d.is_open_gap)}
    lines = [f"{d.roaster_id:<24} {d.day} {d.status:<12} {d.reason or ''}"
             f"{'  (acknowledged)' if d.acknowledged else ''}" for d in gaps]
    lines.append(f"{len(gaps)} gap(s) in {first}..{last}: " + (", ".join(f"{k} {v}" for k, v in
                                                                       data["counts"].items()) or "none"))
    emit(as_json, data, "\n".join(lines))


STRATEGY = click.Choice(["incremental", "full", "validation"])


def version_options(func: Any) -> Any:
    func = click.option("--since-version", metavar="V",
                        help="Only days built by code version V or any version first recorded after it.")(func)
    return click.option("--built-by", metavar="V",
                         help="Only days built by code version V (or dbt invocation V): a rollback's repair.")(func)


def _version_filter(built_by: str | None, since_version: str | None):
    from runner.provenance import VersionFilter

    for name, value in (("--built-by", built_by), ("--since-version", since_version)):
        if value is not None and not value.strip():
            raise InputError(f"{name}: the version is empty")
    if built_by and since_version:
        raise InputError("--built-by and --since-version go separately")
    if built_by or since_version:
        return VersionFilter(built_by or since_version or "", since=bool(since_version))
    return None


@cli.command("plan")
@range_options(required=False)
@roaster_option
@click.option("--strategy", type=STRATEGY, default="incremental", show_default=True)
@click.option("--concurrency", type=int, default=DEFAULT_CONCURRENCY, show_default=True,
              help="Workers assumed by the estimate.")
@version_options
@json_option
@click.pass_context
def plan_cmd(ctx: click.Context, start: dt.date | None, end: dt.date | None, roaster_ids: tuple[str, ...],
             strategy: str, concurrency: int, built_by: str | None, since_version: str | None,
             as_json: bool) -> None:
    """What a backfill would do for each (roaster, day), and how long. Writes nothing.

    Without --start/--end: every day of the roasters' calendars (or of the version's days)."""
    from runner.backfill import Options
    from runner.report import plan_text

    Options(concurrency).check()
    config = _config(ctx)
    wanted = _version_filter(built_by, since_version)
    plan = _plan(config, strategy, start, end, roaster_ids, concurrency, wanted)
    emit(as_json, plan.as_dict(), plan_text(plan))


def _plan(config: Config, strategy: str, start: dt.date | None, end: dt.date | None,
          roaster_ids: tuple[str, ...], concurrency: int, wanted: Any = None):
    from runner.plan import build_plan, estimate_seconds

    roasters = _roasters(config, roaster_ids)
    target = resolve_target()
    first, last, only = _planned_days(config, target, roasters, start, end, wanted)
    plan = build_plan(config, target, strategy, first, last, roasters, materialize=False, only=only)
    with connect(target) as conn:
        plan.estimate_seconds = estimate_seconds(conn, plan.items, concurrency)
    return plan


def _planned_days(config: Config, target: Target, roasters: list, start: dt.date | None, end: dt.date | None,
                  wanted: Any) -> tuple[dt.date, dt.date, Any]:
    """The range and, with a version filter, the (roaster, day)s a plan covers. No range:
    the version's days, else every day of the roasters' calendars."""
    from runner import provenance
    from runner.plan import check_range

    if (start is None) != (end is None):
        raise InputError("give both --start and --end, or neither")
    with connect(target, autocommit=True) as conn:
        prepare(conn, config, target)
        only = None
        if wanted is not None:
            only = provenance.days_built(conn, provenance.resolve(conn, wanted), [r.id for r in roasters])
        if start is None or end is None:
            if only:
                start, end = min(day for _, day in only), max(day for _, day in only)
            else:
                start, end = provenance.calendar_range(conn, roasters)
    check_range(start, end)
    return start, end, only


@cli.command("backfill")
@range_options(required=False)
@roaster_option
@click.option("--strategy", type=STRATEGY, default="incremental", show_default=True)
@click.option("--dry-run", is_flag=True, help="Show the plan; do nothing.")
@click.option("--concurrency", type=int, default=DEFAULT_CONCURRENCY, show_default=True,
              help="Workers in this process.")
@click.option("--max-failure-rate", type=Finite(), default=None,
              help="Abort (exit 3, resumable) when more than this share of items fail "
                   f"[default: monitoring.failure_threshold, {DEFAULT_MAX_FAILURE_RATE:.2f}].")
@click.option("--timeout", "timeout_seconds", type=Finite(), default=None,
              help="Abort (exit 3, resumable) after this many seconds "
                   f"[default: monitoring.timeout_threshold, {DEFAULT_TIMEOUT_SECONDS:g}].")
@click.option("--resume", "resume", is_flag=False, flag_value="latest", default=None, metavar="[ID]",
              help="Continue (or join) a backfill: the given one, else the latest unfinished.")
@version_options
@json_option
@click.pass_context
def backfill_cmd(ctx: click.Context, start: dt.date | None, end: dt.date | None,
                 roaster_ids: tuple[str, ...], strategy: str, dry_run: bool, concurrency: int,
                 max_failure_rate: float | None, timeout_seconds: float | None, resume: str | None,
                 built_by: str | None, since_version: str | None, as_json: bool) -> None:
    """Run a backfill: record the plan, fetch what is missing, rebuild, verify.

    Exit 0 done; 1 items or tests failed; 3 aborted by --max-failure-rate or --timeout.
    """
    from runner.backfill import Options, resume_backfill, start_backfill
    from runner.report import backfill_text, plan_text

    config = _config(ctx)
    monitoring = config.monitoring
    max_failure_rate = monitoring.failure_threshold if max_failure_rate is None else max_failure_rate
    timeout_seconds = monitoring.timeout_threshold if timeout_seconds is None else timeout_seconds
    options = Options(concurrency, max_failure_rate, timeout_seconds)
    options.check()
    target = resolve_target()
    if resume is not None:
        if not resume.strip():
            raise InputError("--resume: the backfill id is empty (give an id, or --resume alone for the latest)")
        if start or end or roaster_ids or dry_run or built_by or since_version:
            raise InputError("--resume takes no --start, --end, --roaster, --dry-run or version option")
        # The backfill's stored options, except those given again on this command line.
        given = {name: value for name, value in (("concurrency", concurrency),
                                                 ("max_failure_rate", max_failure_rate),
                                                 ("timeout_seconds", timeout_seconds))
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
        summary = _drawn(lambda draw: resume_backfill(config, target, None if resume == "latest" else resume,
                                                      given, draw, draw.seconds))
    else:
        wanted = _version_filter(built_by, since_version)
        if wanted is None and (start is None or end is None):
            raise InputError("backfill needs --start and --end, --built-by or --since-version (or --resume)")
        if dry_run:
            plan = _plan(config, strategy, start, end, roaster_ids, concurrency, wanted)
            emit(as_json, {"dry_run": True, **plan.as_dict()}, plan_text(plan))
            return
        roasters = _roasters(config, roaster_ids)
        first, last, only = _planned_days(config, target, roasters, start, end, wanted)
        summary = _drawn(lambda draw: start_backfill(config, target, strategy, first, last, roasters, options,
                                                     draw, draw.seconds, only=only))
    emit(as_json, summary.as_dict(), backfill_text(summary))
    if summary.resumable:
        click.echo(resume_hint(summary.backfill_id), err=True)
    from runner import alerts

    alerts.flush()
    ctx.exit(summary.exit_code)


def _drawn(run: Callable[[ProgressDrawer], Summary]) -> Summary:
    """Run a backfill with its progress drawn on stderr; an interrupted one says how to resume."""
    draw = ProgressDrawer()
    try:
        return run(draw)
    except (KeyboardInterrupt, DatabaseUnavailable) as exc:
        if getattr(exc, "backfill_id", None):
            draw.close()
            click.echo(resume_hint(exc.backfill_id), err=True)  # type: ignore[attr-defined]
        raise
    finally:
        draw.close()


@cli.command("verify")
@range_options(required=True)
@roaster_option
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, start: dt.date, end: dt.date, roaster_ids: tuple[str, ...],
               as_json: bool) -> None:
    """dbt tests for the range, the runbook's integrity queries, coverage. Exit 1 on any failure."""
    from runner.ops import verify
    from runner.report import verify_text

    config = _config(ctx)
    first, last = start, end
    assert first is not None and last is not None
    target = resolve_target()
    with connect(target, autocommit=True) as conn:
        prepare(conn, config, target)
    report = verify(config, target, first, last, _roasters(config, roaster_ids))
    emit(as_json, report, verify_text(report))
    from runner import alerts

    alerts.flush()  # shape drift alerts leave before the process exits
    if not report["ok"]:
        ctx.exit(EXIT_FAILED)


@cli.command("backup")
@click.option("--keep-days", default=7, show_default=True, help="Remove backups older than this (never the newest).")
@json_option
def backup_cmd(keep_days: int, as_json: bool) -> None:
    """pg_dump of raw, control and quarantine to $COFFEE_HOME/backups (derived data is rebuilt by dbt)."""
    from runner.backup import backup

    result = backup(resolve_target(), keep_days)
    removed = f", removed {len(result['removed'])} old backup(s)" if result["removed"] else ""
    emit(as_json, result, f"backup written: {result['file']} ({result['bytes']} bytes){removed}")


@cli.command("restore")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--drop-set-aside", "drop_suffix", metavar="SUFFIX",
              help="Instead of restoring: drop the schemas a restore set aside (*_SUFFIX, as health lists them), "
                   "after dumping them to $COFFEE_HOME/backups/set_aside_SUFFIX.dump.")
@json_option
def restore_cmd(file: Path | None, yes: bool, drop_suffix: str | None, as_json: bool) -> None:
    """Restore raw, control and quarantine from FILE (the current ones are set aside), then rebuild."""
    from runner.restore import drop_set_aside, restore

    if (file is None) == (drop_suffix is None):
        raise InputError("restore takes a backup FILE, or --drop-set-aside SUFFIX")
    question = (f"Replace raw, control and quarantine with {file}? The current schemas are kept under "
                "*_replaced_<time> names." if file is not None else
                f"Drop the set-aside schemas *_{drop_suffix}? They are dumped to a file first.")
    if not yes:
        if not sys.stdin.isatty():
            what = "replaces the raw, control and quarantine schemas" if file else "drops schemas"
            raise InputError(f"restore {what}: add --yes to confirm")
        click.confirm(question, abort=True, err=True)
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


@cli.command("cleanup")
@click.option("--apply", "apply_", is_flag=True, help="Move the rows (default: a dry run that only counts).")
@click.option("--no-backup", is_flag=True, help="With --apply: skip the backup taken first.")
@click.option("--undo", "undo", metavar="BATCH", help="Put a quarantined batch back exactly.")
@json_option
@click.pass_context
def cleanup_cmd(ctx: click.Context, apply_: bool, no_backup: bool, undo: str | None, as_json: bool) -> None:
    """Move failed runs and superseded failed attempts to quarantine (restorable); never deletes raw data."""
    from runner.maintenance import cleanup_apply, cleanup_preview, cleanup_undo
    from runner.plan import ensure_built

    config = _config(ctx)
    target = resolve_target()
    with connect(target, autocommit=True) as conn:
        if undo is None and not apply_:
            check_timezones(config, conn)  # dbt may build: the server must know every zone
            migrate(conn)  # a dry run reads only: no roaster sync, no reaping
            ensure_built(target)  # "superseded" is read from dbt's staging view
            counts = cleanup_preview(conn)
            emit(as_json, {"dry_run": True, "would_move": counts},
                 "dry run (nothing moved; --apply to move):\n" + "\n".join(f"  {k:<22} {v}" for k, v in counts.items()))
            return
    if undo is not None:
        if apply_:
            raise InputError("--undo and --apply go separately")
        result = cleanup_undo(target, undo)
        emit(as_json, result, f"batch {undo} put back: {result['restored']}")
        return
    with connect(target, autocommit=True) as conn:
        prepare(conn, config, target)
    ensure_built(target)
    result = cleanup_apply(target, take_backup=not no_backup)
    emit(as_json, result, f"moved to quarantine as batch {result['batch_id']}: {result['moved']}"
                          f"\nundo with: coffee-runner cleanup --undo {result['batch_id']}")


@cli.command("health")
@click.option("--serve", is_flag=True, help="Answer GET /health, GET /metrics and the dashboard until interrupted.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, default=8000, show_default=True)
@json_option
@click.pass_context
def health_cmd(ctx: click.Context, serve: bool, host: str, port: int, as_json: bool) -> None:
    """Database, migrations, roaster recency, 24 h failure rate, backfills, disk. Exit 1 when unhealthy."""
    from runner import alerts
    from runner.health import health
    from runner.health import serve as serve_http

    config = _config(ctx)
    target = resolve_target()
    if serve:
        _check_against_database(config, target)
        try:
            serve_http(config, target, host, port)
        except OSError as exc:
            raise InputError(f"--port {port}: cannot listen ({exc.strerror})") from None
        except KeyboardInterrupt:
            log.info("health server stopped")
        alerts.flush()
        return
    report = health(config, target)
    lines = [f"{'healthy' if report['healthy'] else 'UNHEALTHY'}"]
    lines += [f"  {'ok ' if c['ok'] else 'BAD'} {name}" for name, c in report["checks"].items()]
    emit(as_json, report, "\n".join(lines))
    if not report["healthy"]:
        ctx.exit(EXIT_FAILED)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, default=8000, show_default=True,
              help="GET /health, /metrics and the dashboard (0: any free port).")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int) -> None:
    """The scraper service: scheduled scrapes, catch-up of open gaps, retries, /health, /metrics, the dashboard.

    SIGTERM or SIGINT stop it (exit 0); SIGHUP rereads the config."""
    from runner import alerts
    from runner.health import bind
    from runner.service import Service

    config = _config(ctx)
    target = resolve_target()
    _check_against_database(config, target)  # before the port is bound and the threads start
    service = Service(ctx.find_root().params.get("config_path"), config, target)
    try:
        server = bind(config, service.target, host, port, service.stop, lambda: service.view.as_dict())
    except OSError as exc:
        raise InputError(f"--port {port}: cannot listen ({exc.strerror})") from None
    http = threading.Thread(target=server.serve_forever, name="coffee-http", daemon=True)
    http.start()
    log.info("serving on http://%s:%d", host, server.server_address[1])
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stop.set())
    signal.signal(signal.SIGHUP, lambda *_: service.reload.set())
    try:
        service.run()
    finally:
        service.stop.set()
        http.join(timeout=5)
        server.server_close()
        alerts.flush()


@cli.command("report")
@click.option("--html", "html_dir", required=True, metavar="DIR",
              help="Write the dashboard's pages here as static files.")
@range_options(required=False)
@roaster_option
@json_option
@click.pass_context
def report_cmd(ctx: click.Context, html_dir: str, start: dt.date | None, end: dt.date | None,
               roaster_ids: tuple[str, ...], as_json: bool) -> None:
    """The dashboard as static files: the heatmap, a page per day that is not complete, each
    roaster's prices, the backfills (default range: the last 90 days)."""
    from runner.web.export import check_output_dir, write_report
    from runner.web.params import page_range

    config = _config(ctx)
    query = page_range(config, start, end, list(roaster_ids))
    target = resolve_target()
    _check_against_database(config, target)
    written = write_report(config, target, check_output_dir(html_dir), query)
    emit(as_json, written, f"wrote {written['index']} ({written['day_pages']} day pages, "
                           f"{written['roasters']} roasters, {written['backfill_pages']} backfills; "
                           f"{written['start']}..{written['end']})")


@cli.command("simulate")
@click.option("--port", type=PORT, default=8765, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=42, show_default=True,
              help="Catalogs are a pure function of the seed.")
@click.option("--today", type=DATE, help="Pretend today is this day.")
@click.option("--latency", type=Finite(0, 600), default=0.0, show_default=True, help="Seconds added to every answer.")
@click.option("--history-days", type=click.IntRange(0, 3650), default=30, show_default=True,
              help="`since` in the served config.")
@click.option("--rps", type=Finite(0, MAX_RATE_LIMIT_RPS, min_open=True), default=20.0, show_default=True,
              help="rate_limit_rps in the served config.")
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="e.g. kind=429,shop=aurora-beans,times=2,arg=1 (repeatable).")
@json_option
def simulate_cmd(port: int, seed: int, today: dt.date | None, latency: float, history_days: int,
                 rps: float, faults: tuple[str, ...], as_json: bool) -> None:
    """Serve the local shop simulator until interrupted."""
    from runner.simulator import Simulator, parse_fault

    try:
        parsed = [parse_fault(f) for f in faults]
    except ValueError as exc:
        raise InputError(f"--fault: {exc}") from None
    try:
        sim = Simulator(seed=seed, faults=parsed, today=today,
                        latency=latency, history_days=history_days, rate_limit_rps=rps, port=port)
    except OSError as exc:
        raise InputError(f"--port {port}: cannot listen ({exc.strerror})") from None
    info = {"url": sim.url, "config_url": f"{sim.url}/_sim/roasters.yml",
            "shops": list(sim.state.shops)}
    emit(as_json, info, f"simulator on {sim.url}\nconfig: curl -s {sim.url}/_sim/roasters.yml > roasters.yml")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        sim.serve_forever()


@cli.command("demo")
@click.option("--scenario", metavar="NAME", default=None,
              help="Stage and repair one of the runbook's twelve scenarios on its own (README: scenarios).")
@json_option
def demo_cmd(scenario: str | None, as_json: bool) -> None:
    """The whole story on the embedded database and the simulator."""
    from runner.demo import run_demo, run_scenario_demo

    if scenario is not None:
        from runner.scenario_book import BY_NAME

        if scenario not in BY_NAME:
            raise click.BadParameter(f"{scenario!r} is not one of {', '.join(BY_NAME)}", param_hint="--scenario")
    report = run_demo() if scenario is None else run_scenario_demo(scenario)
    emit(as_json, report.as_dict(), report.text())
    if not report.ok:
        sys.exit(EXIT_FAILED)


def main() -> None:
    cli(prog_name="coffee-runner")
