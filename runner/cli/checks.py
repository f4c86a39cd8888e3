"""The runbook's checks: `assess`, `gaps`, `verify`, and `digests` (the raw store's bytes)."""

from __future__ import annotations

import datetime as dt

import click

from runner.cli.options import config_of, emit, json_option, range_options, roaster_option, roasters_of
from runner.cli.render import assess_text, digests_text, gaps_text, verify_text
from runner.core.clock import check_range
from runner.core.errors import EXIT_FAILED, InputError
from runner.ops import alerts
from runner.ops.checks import acknowledge, assess, default_range, gaps, verify
from runner.store.bodies import check_digests
from runner.store.db import connect, resolve_target
from runner.transform.bootstrap import prepare_database


@click.command("assess")
@range_options(required=False)
@roaster_option
@json_option
@click.pass_context
def assess_cmd(ctx: click.Context, start: dt.date | None, end: dt.date | None,
               roaster_ids: tuple[str, ...], as_json: bool) -> None:
    """The pre-backfill assessment: counts, statuses, coverage per roaster, disk (default: last 30 days)."""
    config = config_of(ctx)
    first, last = default_range(start, end)
    target = resolve_target()
    prepare_database(config, target)
    report = assess(config, target, first, last, roasters_of(config, roaster_ids))
    emit(as_json, report, assess_text(report))


@click.command("gaps")
@range_options(required=True)
@roaster_option
@click.option("--acknowledge", "acknowledging", is_flag=True, help="Record the range as a gap nothing can fill.")
@click.option("--reason", help="Why (with --acknowledge).")
@json_option
@click.pass_context
def gaps_cmd(ctx: click.Context, start: dt.date, end: dt.date, roaster_ids: tuple[str, ...],
             acknowledging: bool, reason: str | None, as_json: bool) -> None:
    """Every (roaster, day) in the range that is not complete, with its status."""
    config = config_of(ctx)
    check_range(start, end)
    roasters = roasters_of(config, roaster_ids)
    target = resolve_target()
    prepare_database(config, target)
    if acknowledging:
        if len(roaster_ids) != 1 or reason is None:
            raise InputError("--acknowledge needs exactly one --roaster and a --reason")
        done = acknowledge(target, roasters[0], start, end, reason)
        emit(as_json, {"acknowledged": done}, f"acknowledged {done['roaster_id']} {done['start']}..{done['end']}: "
                                               f"{done['reason']}")
        return
    report = gaps(target, start, end, roasters)
    emit(as_json, report, gaps_text(report))


@click.command("verify")
@range_options(required=True)
@roaster_option
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, start: dt.date, end: dt.date, roaster_ids: tuple[str, ...],
               as_json: bool) -> None:
    """dbt tests for the range, the runbook's integrity queries, coverage. Exit 1 on any failure."""
    config = config_of(ctx)
    target = resolve_target()
    prepare_database(config, target)
    report = verify(config, target, start, end, roasters_of(config, roaster_ids))
    emit(as_json, report, verify_text(report))
    alerts.flush()  # shape drift alerts leave before the process exits
    if not report["ok"]:
        ctx.exit(EXIT_FAILED)


@click.command("digests")
@range_options(required=True)
@roaster_option
@json_option
@click.pass_context
def digests_cmd(ctx: click.Context, start: dt.date, end: dt.date, roaster_ids: tuple[str, ...],
                as_json: bool) -> None:
    """Recompute the sha256 of every stored body the range's captures refer to. Exit 1 on a mismatch."""
    config = config_of(ctx)
    check_range(start, end)
    ids = [r.id for r in roasters_of(config, roaster_ids)] if roaster_ids else None
    target = resolve_target()
    prepare_database(config, target)
    with connect(target) as conn:
        report = check_digests(conn, start, end, ids)
    emit(as_json, report, digests_text(report))
    if not report["ok"]:
        ctx.exit(EXIT_FAILED)
