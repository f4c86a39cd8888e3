"""The `coffee-runner` group: global options, logging, and the runner's errors turned into
one line and a documented exit code (0 success; 1 finished but something failed; 2 bad
input or usage; 3 aborted by a threshold, resumable)."""

from __future__ import annotations

import importlib
from typing import Any

import click
import psycopg

from runner import __version__
from runner.core.errors import EXIT_INPUT, DatabaseUnavailable, InputError
from runner.core.logs import setup_logging
from runner.core.settings import settings
from runner.store.db import log_file


class BadInput(click.ClickException):
    """Operator input is wrong: one line (per problem), exit code 2."""

    exit_code = EXIT_INPUT


# Each command's module, imported when the command runs (or `--help` lists them all): a
# `fetch` does not pay for the dashboard's, the simulator's or the demo's imports.
COMMANDS = {
    "env": "fetching", "init": "fetching", "fetch": "fetching", "pause": "fetching", "unpause": "fetching",
    "assess": "checks", "gaps": "checks", "verify": "checks", "digests": "checks",
    "plan": "backfills", "backfill": "backfills",
    "backup": "recovery", "restore": "recovery", "cleanup": "recovery",
    "health": "serving", "serve": "serving", "report": "serving", "simulate": "demos", "demo": "demos",
    "export": "archiving", "import": "archiving",
}


class CoffeeGroup(click.Group):
    """Turns the runner's own errors into one-line messages with documented exit codes, and
    loads each command's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"runner.cli.{COMMANDS[cmd_name]}")
        command: click.Command = getattr(module, f"{cmd_name}_cmd")
        return command

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
    setup_logging(verbose, log_file, named=settings().log_file is not None)


def main() -> None:
    cli(prog_name="coffee-runner")
