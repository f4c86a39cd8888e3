"""The `coffee-runner` group: global options, logging, and the runner's errors turned into
one line and a documented exit code (0 success; 1 finished but something failed; 2 bad
input or usage; 3 aborted by a threshold, resumable)."""

from __future__ import annotations

from typing import Any

import click
import psycopg

from runner import __version__
from runner.cli import backfills, checks, demos, fetching, recovery, serving
from runner.core.errors import EXIT_INPUT, DatabaseUnavailable, InputError
from runner.core.logs import setup_logging


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


@click.group(cls=CoffeeGroup)
@click.option("--config", "config_path", metavar="PATH",
              help="roasters.yml (default: $COFFEE_ROASTERS, else ./roasters.yml).")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging on stderr.")
@click.version_option(__version__, prog_name="coffee-runner")
def cli(config_path: str | None, verbose: bool) -> None:
    """Fetch roaster shop catalogs politely into PostgreSQL, and backfill what is missing."""
    setup_logging(verbose)


COMMANDS = [
    fetching.env_cmd, fetching.init_cmd, fetching.fetch_cmd, fetching.pause_cmd, fetching.unpause_cmd,
    checks.assess_cmd, checks.gaps_cmd, backfills.plan_cmd, backfills.backfill_cmd, checks.verify_cmd,
    recovery.backup_cmd, recovery.restore_cmd, recovery.cleanup_cmd,
    serving.health_cmd, serving.serve_cmd, serving.report_cmd, demos.simulate_cmd, demos.demo_cmd,
]
for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    cli(prog_name="coffee-runner")
