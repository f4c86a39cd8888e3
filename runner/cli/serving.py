"""The service and its pages: `serve`, `health`, `report`."""

from __future__ import annotations

import datetime as dt
import logging
import threading

import click

from runner.cli.options import (
    PORT,
    check_against_database,
    config_of,
    emit,
    json_option,
    range_options,
    roaster_option,
)
from runner.core.errors import EXIT_FAILED
from runner.service.run import run_service, serve_health
from runner.store.db import resolve_target
from runner.web.export import check_output_dir, write_report
from runner.web.health import health
from runner.web.params import page_range

log = logging.getLogger(__name__)


@click.command("health")
@click.option("--serve", is_flag=True, help="Answer GET /health, GET /metrics and the dashboard until interrupted.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, default=8000, show_default=True)
@json_option
@click.pass_context
def health_cmd(ctx: click.Context, serve: bool, host: str, port: int, as_json: bool) -> None:
    """Database, migrations, roaster recency, 24 h failure rate, backfills, disk. Exit 1 when unhealthy."""
    config = config_of(ctx)
    target = resolve_target()
    if serve:
        check_against_database(config, target)
        serve_health(config, target, host, port, threading.Event())
        log.info("health server stopped")
        return
    report = health(config, target)
    lines = [f"{'healthy' if report['healthy'] else 'UNHEALTHY'}"]
    lines += [f"  {'ok ' if c['ok'] else 'BAD'} {name}" for name, c in report["checks"].items()]
    emit(as_json, report, "\n".join(lines))
    if not report["healthy"]:
        ctx.exit(EXIT_FAILED)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=PORT, default=8000, show_default=True,
              help="GET /health, /metrics and the dashboard (0: any free port).")
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int) -> None:
    """The scraper service: scheduled scrapes, catch-up of open gaps, retries, /health, /metrics, the dashboard.

    SIGTERM or SIGINT stop it (exit 0); SIGHUP rereads the config."""
    config = config_of(ctx)
    target = resolve_target()
    check_against_database(config, target)  # before the port is bound and the threads start
    run_service(ctx.find_root().params.get("config_path"), config, target, host, port)


@click.command("report")
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
    config = config_of(ctx)
    query = page_range(config, start, end, list(roaster_ids))
    target = resolve_target()
    check_against_database(config, target)
    written = write_report(config, target, check_output_dir(html_dir), query)
    emit(as_json, written, f"wrote {written['index']} ({written['day_pages']} day pages, "
                           f"{written['roasters']} roasters, {written['backfill_pages']} backfills; "
                           f"{written['start']}..{written['end']})")
