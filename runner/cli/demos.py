"""The sandbox, for trying coffee-runner without shops: `simulate`, `demo`."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys

import click

from runner.cli.options import DATE, PORT, Finite, emit, json_option
from runner.core.config_values import MAX_RATE_LIMIT_RPS
from runner.core.errors import EXIT_FAILED, InputError
from runner.sandbox.demo import run_demo, run_scenario_demo
from runner.sandbox.scenario_book import BY_NAME, find
from runner.sandbox.simulator import DEFAULT_SHOPS, Simulator, changing, parse_fault


@click.command("simulate")
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
@click.option("--page-change-rate", type=Finite(0, 1), default=1.0, show_default=True,
              help="Share of catalog pages that change from one day to the next.")
@click.option("--product-change-share", type=Finite(0, 1), default=1.0, show_default=True,
              help="Share of a changed page's products that change with it.")
@json_option
def simulate_cmd(port: int, seed: int, today: dt.date | None, latency: float, history_days: int,
                 rps: float, faults: tuple[str, ...], page_change_rate: float, product_change_share: float,
                 as_json: bool) -> None:
    """Serve the local shop simulator until interrupted."""
    try:
        parsed = [parse_fault(f) for f in faults]
    except ValueError as exc:
        raise InputError(f"--fault: {exc}") from None
    try:
        sim = Simulator(seed=seed, faults=parsed, today=today, latency=latency, history_days=history_days,
                        rate_limit_rps=rps, port=port,
                        shops=changing(DEFAULT_SHOPS, page_change_rate, product_change_share))
    except OSError as exc:
        raise InputError(f"--port {port}: cannot listen ({exc.strerror})") from None
    info = {"url": sim.url, "config_url": f"{sim.url}/_sim/roasters.yml",
            "shops": list(sim.state.shops)}
    emit(as_json, info, f"simulator on {sim.url}\nconfig: curl -s {sim.url}/_sim/roasters.yml > roasters.yml")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        sim.serve_forever()


@click.command("demo")
@click.option("--scenario", metavar="NAME", default=None,
              help="Stage and repair one of the runbook's twelve scenarios on its own: its name "
                   "(rate_limits) or the runbook's (\"Rate Limit Issues\").")
@json_option
def demo_cmd(scenario: str | None, as_json: bool) -> None:
    """The whole story on the embedded database and the simulator."""
    if scenario is None:
        report = run_demo()
    elif (found := find(scenario)) is not None:
        report = run_scenario_demo(found.name)
    else:
        raise click.BadParameter(f"{scenario!r} is not one of {', '.join(BY_NAME)}", param_hint="--scenario")
    emit(as_json, report.as_dict(), report.text())
    if not report.ok:
        sys.exit(EXIT_FAILED)
