"""Backfills: `plan` (writes nothing) and `backfill` (start, dry run, resume)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import click

from runner.backfill import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_FAILURE_RATE,
    DEFAULT_TIMEOUT_SECONDS,
    Options,
    Summary,
    resume_backfill,
    start_backfill,
)
from runner.backfill.plan import planned_days, preview_plan
from runner.cli.options import (
    STRATEGY,
    Finite,
    config_of,
    emit,
    json_option,
    range_options,
    roaster_option,
    roasters_of,
    version_options,
)
from runner.cli.progress import ProgressDrawer, resume_hint
from runner.cli.render import backfill_text, plan_text
from runner.core.config import Config
from runner.core.errors import BackfillInterrupted, DatabaseUnavailable, InputError
from runner.ops import alerts
from runner.store.db import resolve_target
from runner.transform.provenance import version_filter

OVERRIDABLE = ("concurrency", "max_failure_rate", "timeout_seconds")  # given again on a --resume


@click.command("plan")
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
    Options(concurrency).check()
    config = config_of(ctx)
    wanted = version_filter(built_by, since_version)
    plan = preview_plan(config, resolve_target(), strategy, start, end, roasters_of(config, roaster_ids),
                        concurrency, wanted)
    emit(as_json, plan.as_dict(), plan_text(plan))


@click.command("backfill")
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
    config = config_of(ctx)
    options = _options(config, concurrency, max_failure_rate, timeout_seconds)
    if resume is not None:
        if any((start, end, roaster_ids, dry_run, built_by, since_version)):
            raise InputError("--resume takes no --start, --end, --roaster, --dry-run or version option")
        given = {name: getattr(options, name) for name in OVERRIDABLE
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
        summary = _resumed(config, resume, given)
    else:
        wanted = version_filter(built_by, since_version)
        if wanted is None and (start is None or end is None):
            raise InputError("backfill needs --start and --end, --built-by or --since-version (or --resume)")
        roasters = roasters_of(config, roaster_ids)
        target = resolve_target()
        if dry_run:
            plan = preview_plan(config, target, strategy, start, end, roasters, concurrency, wanted)
            emit(as_json, {"dry_run": True, **plan.as_dict()}, plan_text(plan))
            return
        first, last, only = planned_days(config, target, roasters, start, end, wanted)
        summary = _drawn(lambda draw: start_backfill(config, target, strategy, first, last, roasters, options,
                                                     draw, draw.seconds, only=only))
    emit(as_json, summary.as_dict(), backfill_text(summary))
    if summary.resumable:
        click.echo(resume_hint(summary.backfill_id), err=True)
    alerts.flush()
    ctx.exit(summary.exit_code)


def _options(config: Config, concurrency: int, max_failure_rate: float | None,
             timeout_seconds: float | None) -> Options:
    """The command line's options; the thresholds default to the config's monitoring."""
    monitoring = config.monitoring
    options = Options(concurrency,
                      monitoring.failure_threshold if max_failure_rate is None else max_failure_rate,
                      monitoring.timeout_threshold if timeout_seconds is None else timeout_seconds)
    options.check()
    return options


def _resumed(config: Config, resume: str, given: dict[str, float]) -> Summary:
    """`--resume [ID]`: the backfill's stored options, except those given again."""
    if not resume.strip():
        raise InputError("--resume: the backfill id is empty (give an id, or --resume alone for the latest)")
    target = resolve_target()
    return _drawn(lambda draw: resume_backfill(config, target, None if resume == "latest" else resume,
                                               given, draw, draw.seconds))


def _drawn(run: Callable[[ProgressDrawer], Summary]) -> Summary:
    """Run a backfill with its progress drawn on stderr; an interrupted one says how to resume."""
    draw = ProgressDrawer()
    try:
        return run(draw)
    except (BackfillInterrupted, DatabaseUnavailable) as exc:
        if exc.backfill_id:
            draw.close()
            click.echo(resume_hint(exc.backfill_id), err=True)
        raise
    finally:
        draw.close()
