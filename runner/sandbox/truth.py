"""The one truth check: do the marts hold the prices the simulator served?

A shop-day matches when, for every variant, the price and sale flag of its latest capture
that day equal the simulator's offer for that day, and no other variant appears. A run
matches when its own prices equal the offers of the day it captured (its UTC date).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import psycopg

from runner.sandbox.simulator import Simulator

Prices = dict[str, tuple[Any, bool]]  # variant_id: (price, is_sale)


def offered(sim: Simulator, roaster_id: str, day: dt.date) -> Prices:
    """What the simulator's shop offered that day."""
    return {t["variant_id"]: (t["price"], t["is_sale"]) for t in sim.truth(roaster_id, day)}


def day_prices(conn: psycopg.Connection, roaster_id: str, day: dt.date) -> Prices:
    """Each variant's price that day, from its latest capture."""
    rows = conn.execute("""select distinct on (variant_id) variant_id, price, is_sale from marts.prices
                            where roaster_id = %s and day = %s order by variant_id, scraped_at desc""",
                        (roaster_id, day)).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def run_prices(conn: psycopg.Connection, run_id: Any) -> Prices:
    rows = conn.execute("select variant_id, price, is_sale from marts.prices where run_id = %s", (run_id,))
    return {r[0]: (r[1], r[2]) for r in rows}


def day_matches(conn: psycopg.Connection, sim: Simulator, roaster_id: str, day: dt.date) -> bool:
    return day_prices(conn, roaster_id, day) == offered(sim, roaster_id, day)


def mismatched_days(conn: psycopg.Connection, sim: Simulator,
                    units: Iterable[tuple[str, dt.date]]) -> list[tuple[str, dt.date]]:
    """The (roaster, day)s whose prices differ from the simulator's offers."""
    return [(r, d) for r, d in units if not day_matches(conn, sim, r, d)]


def mismatched_runs(conn: psycopg.Connection, sim: Simulator, start: dt.date, end: dt.date) -> list[str]:
    """Every run captured in [start, end] whose prices differ from its day's offers."""
    runs = conn.execute("""select roaster_id, run_id, min(scraped_at) from marts.prices
                            where day between %s and %s group by 1, 2""", (start, end)).fetchall()
    return [f"{r} run {run} ({when:%Y-%m-%d})" for r, run, when in runs
            if run_prices(conn, run) != offered(sim, r, when.astimezone(dt.timezone.utc).date())]
