"""A peer process for tests/runner/test_budget.py: N requests to one shop through the
runner's PoliteClient, with the database's shared budget or (to show the difference)
without it.

    python -m tests.runner.budget_peer SHOP_URL DATABASE_URL COUNT RPS shared|local
"""

from __future__ import annotations

import asyncio
import sys

from runner.acquire.client import Exchange, PoliteClient
from runner.core.config import HttpSettings
from runner.store.budget import SharedBudget


async def _run(url: str, database_url: str, count: int, rps: float, shared: bool) -> None:
    budget = SharedBudget(database_url) if shared else None

    async def record(exchange: Exchange) -> None:
        return None

    async with PoliteClient(HttpSettings(shop_concurrency=2), "coffee-runner/test (+peer)", budget=budget) as client:
        gate = client.gate("blue-peak", rps)
        await asyncio.gather(*(client.fetch(url, gate, record) for _ in range(count)))


if __name__ == "__main__":
    shop_url, db_url, n, rate, mode = sys.argv[1:]
    asyncio.run(_run(shop_url, db_url, int(n), float(rate), mode == "shared"))
