"""Normal processing: `env`, `init`, `fetch`, `pause`, `unpause`."""

from __future__ import annotations

import click

from runner.acquire.fetch import fetch_scheduled
from runner.cli.options import config_of, emit, json_option
from runner.cli.render import fetch_text
from runner.core.errors import EXIT_FAILED, InputError
from runner.store import pauses
from runner.store.db import env_exports, resolve_target
from runner.transform.bootstrap import prepare_database, prepared
from runner.transform.dbt_runner import profiles_dir


@click.command("env")
@json_option
def env_cmd(as_json: bool) -> None:
    """Print export lines for psql and dbt: eval "$(coffee-runner env)"."""
    target = resolve_target()
    lines = env_exports(target, profiles_dir())
    data = {"database": target.safe_url, "embedded": target.embedded, "exports": lines}
    emit(as_json, data, "\n".join(lines))


@click.command("init")
@json_option
@click.pass_context
def init_cmd(ctx: click.Context, as_json: bool) -> None:
    """Apply migrations (idempotent) and sync roasters from the config."""
    target = resolve_target()
    result = prepare_database(config_of(ctx), target)
    result["database"] = target.safe_url
    roasters = result["roasters"]
    applied = ", ".join(result["migrations_applied"]) or "none (already current)"
    emit(as_json, result,
         f"database: {target.safe_url}\nmigrations applied: {applied}\n"
         f"roasters: {roasters['configured']} configured, {roasters['deactivated']} deactivated")


@click.command("fetch")
@click.option("--roaster", "roaster_ids", multiple=True, metavar="ID", help="Only this roaster (repeatable).")
@json_option
@click.pass_context
def fetch_cmd(ctx: click.Context, roaster_ids: tuple[str, ...], as_json: bool) -> None:
    """One live scrape run per roaster that is not paused, now. Exit 1 when any run is partial or failed."""
    config = config_of(ctx)
    roasters = config.select(roaster_ids)
    if not roasters:
        raise InputError(f"{config.path}: no active roasters to fetch")
    summaries, paused = fetch_scheduled(config, resolve_target(), roasters)
    emit(as_json, {"runs": [s.as_dict() for s in summaries], "paused": paused}, fetch_text(summaries, paused))
    if any(s.status not in ("ok", "skipped") for s in summaries):
        ctx.exit(EXIT_FAILED)


@click.command("pause")
@click.option("--roaster", "roaster_ids", multiple=True, metavar="ID",
              help="Pause this roaster (repeatable); without it, every roaster.")
@click.option("--reason", required=True, help="Why: shown by health and /metrics.")
@json_option
@click.pass_context
def pause_cmd(ctx: click.Context, roaster_ids: tuple[str, ...], reason: str, as_json: bool) -> None:
    """Stop normal processing (scheduled fetches) without stopping any process."""
    if not reason.strip():
        raise InputError("--reason: must not be empty")
    scopes = [r.id for r in config_of(ctx).select(roaster_ids)] if roaster_ids else []
    with prepared(config_of(ctx), resolve_target()) as conn:
        now_paused = pauses.pause(conn, scopes, reason)
    emit(as_json, {"paused": [p.as_dict() for p in now_paused]},
         "\n".join(f"paused {p.scope}: {p.reason}" for p in now_paused))


@click.command("unpause")
@click.option("--roaster", "roaster_ids", multiple=True, metavar="ID",
              help="Lift this roaster's pause (repeatable); without it, every pause.")
@json_option
@click.pass_context
def unpause_cmd(ctx: click.Context, roaster_ids: tuple[str, ...], as_json: bool) -> None:
    """Restart normal processing: lift pauses set by `pause`."""
    scopes = [r.id for r in config_of(ctx).select(roaster_ids)] if roaster_ids else []
    with prepared(config_of(ctx), resolve_target()) as conn:
        lifted = pauses.unpause(conn, scopes)
        left = pauses.active(conn)
    text = "\n".join([f"unpaused {scope}" for scope in lifted] or ["nothing was paused"])
    text += "".join(f"\nstill paused {p.scope}: {p.reason}" for p in left)
    emit(as_json, {"unpaused": lifted, "paused": [p.as_dict() for p in left]}, text)
