"""Polite fetching at scale: many shops in parallel, each at its own rate limit.

The simulator answers after a fixed latency; every shop allows `rps` requests per second.
The fastest schedule those limits allow is (requests of the busiest shop - 1) / rps plus
one request's latency: the runner should finish within 1.2x of it, and no shop may ever
see more than `rps` requests within one wall-clock second.

    python bench/fetch.py [--quick]
"""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import time
from collections import Counter
from types import SimpleNamespace

import httpx
import psycopg
import yaml
from common import emit, log, parse_args, ratio, scratch_database, self_peak_mb

from runner.acquire.fetch import fetch_live
from runner.core.config import parse_config
from runner.sandbox.simulator import Simulator
from runner.sandbox.simulator.catalog import ShopSpec

FULL = {"shops": 50, "pages": 8, "rps": 2.0, "latency_ms": 50, "items_per_page": 20}
QUICK = {"shops": 10, "pages": 8, "rps": 2.0, "latency_ms": 50, "items_per_page": 20}
TODAY = dt.date(2026, 11, 20)


def shops_for(params: dict) -> tuple[ShopSpec, ...]:
    # about pages - 1 pages of items (not every product is on sale every day), then the
    # empty page that ends a Shopify walk
    pool = (params["pages"] - 1) * params["items_per_page"]
    return tuple(ShopSpec(f"shop-{i:03d}", f"Shop {i}", "shopify", "USD", products=pool)
                 for i in range(params["shops"]))


def serve(params: dict, ready: multiprocessing.Queue) -> None:
    """The shops in a process of their own: a server sharing our GIL would timestamp
    requests late whenever the runner parses JSON, and count bursts that never were."""
    sim = Simulator(shops=shops_for(params), today=TODAY, latency=params["latency_ms"] / 1000,
                    rate_limit_rps=params["rps"], page_cap=params["items_per_page"])
    ready.put(sim.url)
    sim.serve_forever()


def requests_seen(url: str) -> list:
    return [SimpleNamespace(**row) for row in httpx.get(f"{url}/_sim/requests", timeout=30).json()]


def worst_second(requests: list, rps: float) -> int:
    """The most requests any one shop got within one wall-clock second."""
    per_second = Counter((r.shop, math.floor(r.at)) for r in requests if r.shop)
    return max(per_second.values(), default=0)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    params = dict(QUICK if args.quick else FULL)
    ready: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(params, ready), daemon=True)
    server.start()
    try:
        url = ready.get(timeout=60)
        with scratch_database("fetch") as target:
            doc = yaml.safe_load(httpx.get(f"{url}/_sim/roasters.yml", timeout=30).text)
            doc["http"]["global_concurrency"] = 64  # the shop limits, not the pool, are under test
            config = parse_config(yaml.safe_dump(doc), None)
            fetch_live(config, target, config.roasters[:1])  # warm-up: migrations, connections
            warm = len(requests_seen(url))
            log(f"fetching {params['shops']} shops")
            started = time.perf_counter()
            runs = fetch_live(config, target, config.roasters)
            wall = time.perf_counter() - started
            requests = requests_seen(url)[warm:]
            with psycopg.connect(target.url) as conn:
                sent_gaps = [row[0] for row in conn.execute(
                    """select extract(epoch from captured_at - lag(captured_at) over (
                                          partition by run_id order by captured_at))
                         from raw.scrape_artifacts where run_id = any(%s)""",
                    ([r.run_id for r in runs],)).fetchall() if row[0] is not None]
    finally:
        server.terminate()
    per_shop = Counter(r.shop for r in requests if r.shop)
    busiest = max(per_shop.values())
    bound = (busiest - 1) / params["rps"] + params["latency_ms"] / 1000
    arrivals = sorted(r.at for r in requests)
    by_shop: dict[str, list[float]] = {}
    for r in requests:
        if r.shop:
            by_shop.setdefault(r.shop, []).append(r.at)
    gaps = sorted(b - a for times in by_shop.values() for a, b in zip(sorted(times), sorted(times)[1:], strict=False))
    results = {
        "wall_seconds": round(wall, 2),
        "first_to_last_request_seconds": round(arrivals[-1] - arrivals[0], 2),
        "schedule_bound_seconds": round(bound, 2),
        "requests": len(requests),
        "requests_per_shop": {"min": min(per_shop.values()), "max": busiest},
        "runs_ok": sum(1 for r in runs if r.status == "ok"),
        "worst_requests_in_one_second": worst_second(requests, params["rps"]),
        "shop_send_gap_seconds_min": round(float(min(sent_gaps)), 3),  # the runner's own clock
        "shop_request_gap_seconds": {"min": round(gaps[0], 3), "p01": round(gaps[len(gaps) // 100], 3),
                                     "median": round(gaps[len(gaps) // 2], 3)},
        "runner_peak_mb": round(self_peak_mb(), 1),
    }
    emit("fetch", params, results, {
        "wall_over_schedule_bound": (ratio(wall, bound), 1.2, "max"),
        "seconds_over_shop_limit": (sum(1 for n in Counter((r.shop, math.floor(r.at)) for r in requests
                                                           if r.shop).values() if n > params["rps"]), 0, "max"),
        "runs_ok_share": (results["runs_ok"] / params["shops"], 1.0, "min"),
        "runner_peak_mb": (results["runner_peak_mb"], 300, "max"),
    })


if __name__ == "__main__":
    main()
