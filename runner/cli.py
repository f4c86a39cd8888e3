"""coffee-runner command line: parses options, calls plain functions, prints results.

Exit codes: 0 success; 1 finished but something failed; 2 bad input or usage;
3 aborted by a threshold (resumable).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
from typing import Any

import click
import psycopg

from runner import __version__
from runner.config import Config, load_config
from runner.db import connect, env_exports, resolve_target
from runner.errors import DatabaseUnavailable, InputError
from runner.fetch import fetch_live, prepare

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_ABORTED = 0, 1, 2, 3

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
        result = prepare(conn, config)
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
    """One live scrape run per roaster, now. Exit 1 when any run is partial or failed."""
    config = _config(ctx)
    roasters = config.select(roaster_ids)
    if not roasters:
        raise InputError(f"{config.path}: no active roasters to fetch")
    summaries = fetch_live(config, resolve_target(), roasters)
    rows = [s.as_dict() for s in summaries]
    lines = [f"{s.roaster_id:<24} {s.status:<8} pages={s.pages:<4} artifacts={s.artifacts:<4} "
             f"{s.error or ''}".rstrip() for s in summaries]
    emit(as_json, {"runs": rows}, "\n".join(lines))
    if any(s.status != "ok" for s in summaries):
        ctx.exit(EXIT_FAILED)


@cli.command("simulate")
@click.option("--port", default=8765, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--seed", default=42, show_default=True, help="Catalogs are a pure function of the seed.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="Pretend today is this day.")
@click.option("--latency", default=0.0, show_default=True, help="Seconds added to every answer.")
@click.option("--history-days", default=30, show_default=True, help="`since` in the served config.")
@click.option("--rps", default=20.0, show_default=True, help="rate_limit_rps in the served config.")
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="e.g. kind=429,shop=aurora-beans,times=2,arg=1 (repeatable).")
@json_option
def simulate_cmd(port: int, seed: int, today: dt.datetime | None, latency: float, history_days: int,
                 rps: float, faults: tuple[str, ...], as_json: bool) -> None:
    """Serve the local shop simulator until interrupted."""
    from runner.simulator import Simulator, parse_fault

    try:
        parsed = [parse_fault(f) for f in faults]
    except ValueError as exc:
        raise InputError(f"--fault: {exc}") from None
    try:
        sim = Simulator(seed=seed, faults=parsed, today=today.date() if today else None,
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
@json_option
def demo_cmd(as_json: bool) -> None:
    """The whole story on the embedded database and the simulator."""
    from runner.demo import run_demo

    report = run_demo()
    emit(as_json, report.as_dict(), report.text())
    if not report.ok:
        sys.exit(EXIT_FAILED)


def main() -> None:
    cli(prog_name="coffee-runner")
