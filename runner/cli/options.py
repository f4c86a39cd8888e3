"""What every command family shares: option types and decorators, the config, output."""

from __future__ import annotations

import json
import math
from datetime import date as dt_date
from typing import Any

import click

from runner.backfill.plan import STRATEGIES
from runner.core import clock
from runner.core.config import Config, Roaster, check_timezones, load_config
from runner.core.errors import InputError
from runner.store.db import Target, connect


class Day(click.ParamType):
    """YYYY-MM-DD within the days the runner handles (runner.core.clock.check_day)."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt_date:
        if isinstance(value, dt_date):
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
STRATEGY = click.Choice(list(STRATEGIES))


def json_option(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout; logs stay on stderr.")(func)


def roaster_option(func: Any) -> Any:
    return click.option("--roaster", "roaster_ids", multiple=True, metavar="ID",
                        help="Only this roaster (repeatable).")(func)


def range_options(required: bool) -> Any:
    def wrap(func: Any) -> Any:
        func = click.option("--end", type=DATE, required=required, help="Last day, YYYY-MM-DD (inclusive).")(func)
        return click.option("--start", type=DATE, required=required, help="First day, YYYY-MM-DD.")(func)

    return wrap


def version_options(func: Any) -> Any:
    func = click.option("--since-version", metavar="V",
                        help="Only days built by code version V or any version first recorded after it.")(func)
    return click.option("--built-by", metavar="V",
                        help="Only days built by code version V (or dbt invocation V): a rollback's repair.")(func)


def emit(as_json: bool, data: Any, text: str) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(text)


def config_of(ctx: click.Context) -> Config:
    """The config named by --config (else $COFFEE_ROASTERS, else ./roasters.yml), loaded once."""
    if "config" not in ctx.meta:
        ctx.meta["config"] = load_config(ctx.find_root().params.get("config_path"))
    config: Config = ctx.meta["config"]
    return config


def roasters_of(config: Config, roaster_ids: tuple[str, ...]) -> list[Roaster]:
    roasters = config.select(roaster_ids)
    if not roasters:
        raise InputError(f"{config.path}: no active roasters")
    return roasters


def check_against_database(config: Config, target: Target) -> None:
    """What the config check cannot know without the server (its time zones), for the
    commands that read without preparing: InputError, exit 2."""
    with connect(target) as conn:
        check_timezones(config, conn)
