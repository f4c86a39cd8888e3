"""Live scrape runs: one run per roaster, all roasters concurrently.

A run reads robots.txt, walks the catalog with the platform's source and stores every
response. Its status: `ok` (whole catalog, every page good), `partial` (some pages
good, some failed), `fail` (nothing usable, or robots.txt said no).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import asdict, dataclass

import psycopg

from runner.acquire.client import Clock, PoliteClient
from runner.acquire.platforms import SOURCES, CatalogResult, RunContext
from runner.acquire.robots import check_robots, read_robots
from runner.core.clock import now as clock_now
from runner.core.config import Config, Roaster
from runner.core.errors import RobotsDisallowed
from runner.store import pauses
from runner.store.budget import SharedBudget
from runner.store.db import Target
from runner.store.raw import RawStore
from runner.transform.bootstrap import prepare_database, prepared

ROBOTS_PROBE_PATH = {"shopify": "/products.json", "woocommerce": "/wp-json/wc/store/v1/products"}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    roaster_id: str
    status: str
    pages: int
    artifacts: int
    error: str | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def fetch_live(config: Config, target: Target, roasters: list[Roaster],
               clock: Clock = clock_now) -> list[RunSummary]:
    prepare_database(config, target)
    return asyncio.run(_fetch_all(config, target, roasters, clock))


def fetch_scheduled(config: Config, target: Target, roasters: list[Roaster],
                    clock: Clock = clock_now) -> tuple[list[RunSummary], dict[str, str]]:
    """Normal processing: a live run per roaster that is not paused.

    Returns the runs, and the paused roasters with their reasons (not fetched)."""
    with prepared(config, target) as conn:
        current = pauses.active(conn)
    paused = {r.id: why for r in roasters if (why := pauses.reason_paused(current, r.id)) is not None}
    chosen = [r for r in roasters if r.id not in paused]
    for roaster_id, why in paused.items():
        log.info("%s: paused (%s), not fetched", roaster_id, why)
    runs = asyncio.run(_fetch_all(config, target, chosen, clock)) if chosen else []
    return runs, paused


async def _fetch_all(config: Config, target: Target, roasters: list[Roaster],
                     clock: Clock) -> list[RunSummary]:
    store = await RawStore.open(target.url)
    try:
        async with PoliteClient(config.http, config.user_agent, clock=clock, budget=SharedBudget(target.url),
                                memory=store) as client:
            jobs = [fetch_roaster(client, store, roaster) for roaster in roasters]
            return list(await asyncio.gather(*jobs))
    finally:
        await store.close()


async def fetch_roaster(client: PoliteClient, store: RawStore, roaster: Roaster) -> RunSummary:
    """A live run of the roaster's local today, unless another process holds that unit
    (a backfill item or the service fetching it now): then `skipped`, nothing fetched."""
    day = roaster.today(client.clock())  # a live run covers the roaster-local day on which it starts
    if not await store.try_lock_unit(roaster.id, day):
        log.info("%s: %s is being fetched by another process; skipped", roaster.id, day)
        return RunSummary("", roaster.id, "skipped", 0, 0, f"{day} is being fetched by another process")
    try:
        return await _fetch_unit(client, store, roaster, day)
    except psycopg.OperationalError as exc:  # the database went away: this run cannot be recorded
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.error("%s: lost the database (%s); the next command marks the run failed", roaster.id, why)
        return RunSummary("", roaster.id, "fail", 0, 0, f"database error: {why}")
    finally:
        with contextlib.suppress(psycopg.OperationalError):
            await store.unlock_unit(roaster.id, day)


async def _fetch_unit(client: PoliteClient, store: RawStore, roaster: Roaster, day: dt.date) -> RunSummary:
    run = await store.start_run(roaster, "live", target_day=day)
    log.info("%s: run %s started", roaster.id, run.id)
    try:
        result = await walk_catalog(client, run, roaster)
        status, error = result.status, "; ".join(result.failures) or None
    except RobotsDisallowed as exc:
        result, status, error = CatalogResult(), "fail", f"robots: {exc}"
    except psycopg.OperationalError:
        raise  # the database, not the shop: fetch_roaster reports it
    except Exception as exc:  # one shop's surprise must not take the other shops down
        log.exception("%s: run %s crashed", roaster.id, run.id)
        result, status, error = CatalogResult(), "fail", f"internal: {type(exc).__name__}: {exc}"
    await store.finish_run(run, status, result.pages, error)
    log.info("%s: run %s %s (%d pages, %d artifacts)", roaster.id, run.id, status, result.pages,
             run.artifacts)
    return RunSummary(str(run.id), roaster.id, status, result.pages, run.artifacts, error)


async def walk_catalog(client: PoliteClient, run: RunContext, roaster: Roaster) -> CatalogResult:
    """robots.txt, then the platform's listing pages; every response goes to the run's recorder."""
    gate = client.gate(roaster.id, roaster.rate_limit_rps)
    probe = ROBOTS_PROBE_PATH[roaster.platform]
    policy = await read_robots(client, gate, roaster.base_url, run.recorder("robots", None), probe)
    check_robots(policy)
    if policy.crawl_delay:
        gate.slow_to(policy.crawl_delay)
    return await SOURCES[roaster.platform](client, gate, roaster, run)
