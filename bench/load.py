"""Storing artifacts: the runner's raw store against `psql \\copy` of the same bytes.

Both write every page whole as jsonb. \\copy is the lower bound (one COPY stream, no
per-row work); the runner pays for one INSERT per page, the sha256, its metadata columns
and the raw table's indexes and append-only trigger. Target: at least 0.7x \\copy's MB/s.

    python bench/load.py [--quick]
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from common import emit, log, parse_args, ratio, scratch_database, self_peak_mb

from runner.acquire.client import Exchange
from runner.core.config import Roaster
from runner.store.db import Target, libpq_env
from runner.store.raw import RawStore

FULL = {"pages": 200, "page_mb": 1.0}
QUICK = {"pages": 20, "page_mb": 1.0}
ROUNDS = 3  # best of: the machine is shared


def make_page(index: int, target_bytes: int) -> bytes:
    """A Shopify-like products page of about target_bytes, different for every index."""
    products = []
    size = 0
    while size < target_bytes:
        n = len(products)
        product = {"id": index * 100_000 + n, "title": f"Single Origin {n} Lot {index}", "vendor": "Bench",
                   "body_html": "<p>" + "notes of cocoa and plum " * 8 + "</p>", "product_type": "Coffee",
                   "tags": ["coffee", f"origin-{n}"],
                   "options": [{"name": "Size", "position": 1}, {"name": "Grind", "position": 2}],
                   "variants": [{"id": (index * 100_000 + n) * 10 + v, "title": f"{s} / {g}", "option1": s,
                                 "option2": g, "price": f"{8 + (n * 7 + v) % 20}.{v}0", "available": v != 3}
                                for v, (s, g) in enumerate([("250g", "Whole Bean"), ("250g", "Espresso"),
                                                            ("1kg", "Whole Bean"), ("1kg", "Espresso")])]}
        products.append(product)
        size += len(json.dumps(product))
    return json.dumps({"products": products}).encode()


def exchange(index: int, body: bytes) -> Exchange:
    """A page as the HTTP client hands it over: bytes plus the parsed JSON."""
    url = f"https://bench.example/products.json?page={index}"
    return Exchange(requested_url=url, url=url, attempt=1, captured_at=dt.datetime.now(dt.timezone.utc),
                    status=200, headers={"content-type": "application/json"}, body=body,
                    byte_length=len(body), json=json.loads(body), parsed=True)


async def store_all(target: Target, params: dict) -> float:
    """Only the store's own time counts; pages arrive one at a time, as from the network,
    so peak memory is the runner's working set, not the benchmark's data."""
    roaster = Roaster(id="bench", name="Bench", platform="shopify", base_url="https://bench.example")
    store = await RawStore.open(target.url)
    elapsed = 0.0
    try:
        run = await store.start_run(roaster, "live")
        for index in range(params["pages"]):
            item = exchange(index, make_page(index, page_bytes(params)))
            started = time.perf_counter()
            await store.add_artifact(run, "products", index + 1, item)
            elapsed += time.perf_counter() - started
        await store.finish_run(run, "ok", params["pages"], None)
        return elapsed
    finally:
        await store.close()


def page_bytes(params: dict) -> int:
    return int(params["page_mb"] * 1024 * 1024)


def write_copy_file(params: dict, folder: Path) -> tuple[Path, int]:
    path = folder / "pages.csv"
    total = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for index in range(params["pages"]):
            body = make_page(index, page_bytes(params))
            total += len(body)
            writer.writerow([body.decode()])
    return path, total


def copy_all(target: Target, path: Path) -> float:
    psql = shutil.which("psql", path=libpq_env(target).get("PATH")) or "psql"
    command = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target.url,
               "-c", f"\\copy bench_copy (body) from '{path}' with (format csv)"]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    params = dict(QUICK if args.quick else FULL)
    runner_seconds, copy_seconds = [], []
    with scratch_database("load") as target, tempfile.TemporaryDirectory() as folder, \
            psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute("insert into raw.roasters (id, name, platform, base_url) "
                     "values ('bench', 'Bench', 'shopify', 'https://bench.example')")
        conn.execute("create table bench_copy (body jsonb)")
        path, total_bytes = write_copy_file(params, Path(folder))
        total_mb = total_bytes / 1024 / 1024
        for round_ in range(ROUNDS):
            log(f"round {round_ + 1}: {params['pages']} pages, {total_mb:.0f} MB")
            runner_seconds.append(asyncio.run(store_all(target, params)))
            copy_seconds.append(copy_all(target, path))
            conn.execute("truncate bench_copy")
        stored = conn.execute("select count(*), sum(byte_length) from raw.scrape_artifacts").fetchone()
    runner_mb_s = total_mb / min(runner_seconds)
    copy_mb_s = total_mb / min(copy_seconds)
    results = {
        "megabytes": round(total_mb, 1),
        "runner_seconds": round(min(runner_seconds), 3),
        "copy_seconds": round(min(copy_seconds), 3),
        "runner_mb_per_s": round(runner_mb_s, 1),
        "copy_mb_per_s": round(copy_mb_s, 1),
        "artifacts_stored": stored[0],
        "bytes_stored_match": stored[1] == total_bytes * ROUNDS,
        "runner_peak_mb": round(self_peak_mb(), 1),
    }
    emit("load", params, results, {
        "runner_over_copy_throughput": (ratio(runner_mb_s, copy_mb_s), 0.7, "min"),
        "runner_peak_mb": (results["runner_peak_mb"], 300, "max"),
    })


if __name__ == "__main__":
    main()
