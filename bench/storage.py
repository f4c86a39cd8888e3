"""Storage of the raw store: each distinct body once (raw.bodies) against the layout before
it (the body as jsonb on every capture), against our own deduplicated gzip WARC export,
and against zstd of the distinct bodies; and the dbt full refresh and 30-day range rebuild
on both layouts.

N shops x D days of real-sized Shopify pages: the captured page of a real shop (315 KB,
30 products), made distinct per shop; each day a share of the pages changes (and on a
changed page a share of the products' prices), the rest are byte for byte the day
before's. Captures go in through the runner's own writer (insert_capture) with a real
shop's response headers; the older layout gets the same captures as it stored them.

    python bench/storage.py [--quick]
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import random
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
import zstandard
from common import ROOT, DbtProject, emit, parse_args, ratio, scratch_database, self_peak_mb

from runner.archive.warc_out import Export, export_warc
from runner.core.exchange import Exchange, headers_of_interest
from runner.store.raw import insert_capture

FULL = {"shops": 20, "days": 30, "page_change_rate": 0.1, "product_change_share": 0.2}
QUICK = {"shops": 3, "days": 4, "page_change_rate": 0.1, "product_change_share": 0.2}
PAGE = ROOT / "tests" / "runner" / "data" / "real" / "shopify" / "bluetokai.json"
LAST_DAY = dt.date(2026, 10, 31)
END_PAGE = b'{"products":[]}'
# A real Shopify products.json answer's headers (values shortened where they are ids).
SHOP_HEADERS = [
    ("Date", "Sat, 31 Oct 2026 10:00:00 GMT"), ("Content-Type", "application/json; charset=utf-8"),
    ("Transfer-Encoding", "chunked"), ("Connection", "keep-alive"), ("X-Sorting-Hat-PodId", "312"),
    ("X-Sorting-Hat-ShopId", "55318462519"), ("Vary", "Accept, Accept-Encoding"), ("X-Frame-Options", "DENY"),
    ("X-ShopId", "55318462519"), ("X-ShardId", "312"), ("X-Shopify-Stage", "production"),
    ("Content-Security-Policy", "block-all-mixed-content; frame-ancestors 'none'; upgrade-insecure-requests;"),
    ("X-Content-Type-Options", "nosniff"), ("X-Download-Options", "noopen"),
    ("X-Permitted-Cross-Domain-Policies", "none"), ("X-XSS-Protection", "1; mode=block"),
    ("X-Dc", "gcp-asia-south1,gcp-us-central1,gcp-us-central1"), ("Content-Encoding", "gzip"),
    ("Server", "cloudflare"), ("CF-RAY", "8a1b2c3d4e5f6a7b-BOM"),
]
REQUEST_HEADERS = [["Host", "shop.example"], ["Accept-Encoding", "gzip, deflate, br"], ["Connection", "keep-alive"],
                   ["User-Agent", "coffee-runner/0.1 (+https://example.org/bot)"],
                   ["Accept", "application/json, text/plain;q=0.8, */*;q=0.5"]]


def pages(params: dict[str, Any]) -> dict[tuple[int, int], bytes]:
    """(shop, day index) -> page 1's bytes: real-sized, changing at the given rates."""
    base = json.loads(PAGE.read_bytes())
    rng = random.Random(7)
    out: dict[tuple[int, int], bytes] = {}
    for shop in range(params["shops"]):
        catalog = json.loads(json.dumps(base))
        for product in catalog["products"]:
            product["id"] += shop  # each shop's bytes its own
        for day in range(params["days"]):
            if day == 0 or rng.random() < params["page_change_rate"]:
                _change(catalog, rng, params["product_change_share"], day)
            out[(shop, day)] = json.dumps(catalog, indent=2).encode()
    return out


def _change(catalog: dict[str, Any], rng: random.Random, share: float, day: int) -> None:
    for product in catalog["products"]:
        if day == 0 or rng.random() < share:
            for variant in product["variants"]:
                variant["price"] = f"{float(variant['price']) + rng.choice((-10, 10, 25)):.2f}"


def captures(params: dict[str, Any], bodies: dict[tuple[int, int], bytes]) -> list[tuple[Any, ...]]:
    """(roaster id, day, page, url, captured_at, exchange) of every capture."""
    out = []
    for (shop, index), body in sorted(bodies.items()):
        day = LAST_DAY - dt.timedelta(days=params["days"] - 1 - index)
        for page, data in ((1, body), (2, END_PAGE)):
            url = f"https://shop-{shop:04d}.example/products.json?limit=250&page={page}"
            at = dt.datetime.combine(day, dt.time(10, 0, page), dt.timezone.utc)
            headers = [*SHOP_HEADERS, ("CF-RAY", f"{shop:04d}{index:04d}{page}-BOM")]
            out.append((f"shop-{shop:04d}", day, page, url, at, Exchange(
                url, url, 1, at, status=200, headers=headers_of_interest(headers), body=data, byte_length=len(data),
                status_line="HTTP/1.1 200 OK", response_headers=headers,
                request={"method": "GET", "url": url, "headers": REQUEST_HEADERS})))
    return out


def load(conn: psycopg.Connection, rows: list[tuple[Any, ...]], legacy: bool) -> None:
    """The captures as this layout stores them; one ok run per shop-day."""
    shops = sorted({r[0] for r in rows})
    conn.execute("""insert into raw.roasters (id, name, platform, base_url, currency, timezone)
                    select s, s, 'shopify', 'https://' || s || '.example', 'INR', 'UTC' from unnest(%s::text[]) as s""",
                 (shops,))
    for roaster, day, page, _, at, exchange in rows:
        run = uuid.uuid5(uuid.NAMESPACE_URL, f"{roaster}/{day}")
        if page == 1:
            conn.execute("""insert into raw.scrape_runs (id, roaster_id, kind, status, target_day, started_at,
                                                         finished_at, pages, artifacts)
                            values (%s, %s, 'live', 'ok', %s, %s, %s, 1, 2)""", (run, roaster, day, at, at))
        artifact = uuid.uuid5(uuid.NAMESPACE_URL, f"{roaster}/{day}/{page}")
        if legacy:
            _legacy_insert(conn, artifact, run, roaster, page, exchange)
        else:
            insert_capture(conn, artifact, run, roaster, "live", "products", page, exchange)


def _legacy_insert(conn: psycopg.Connection, artifact: uuid.UUID, run: uuid.UUID, roaster: str, page: int,
                   exchange: Exchange) -> None:
    """As the runner stored a capture before raw.bodies: the JSON as jsonb, on the capture."""
    conn.execute("""insert into raw.scrape_artifacts (id, run_id, roaster_id, url, requested_url, resource, page,
                        attempt, source, http_status, content_type, headers, body, sha256, byte_length, captured_at,
                        status_line, response_headers, request)
                    values (%s, %s, %s, %s, %s, 'products', %s, 1, 'live', 200, %s, %s, %s::jsonb, %s, %s, %s,
                            %s, %s, %s)""",
                 (artifact, run, roaster, exchange.url, exchange.url, page, exchange.content_type,
                  json.dumps(exchange.headers), (exchange.body or b"").decode(), exchange.sha256, exchange.byte_length,
                  exchange.captured_at, exchange.status_line, json.dumps(exchange.response_headers),
                  json.dumps(exchange.request)))


def raw_bytes(conn: psycopg.Connection) -> dict[str, int]:
    """Tables with their TOAST and indexes."""
    return {name: int(conn.execute(f"select pg_total_relation_size('raw.{name}')").fetchone()[0])
            for name in ("scrape_artifacts", "bodies")}


def per_capture(conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> dict[str, float]:
    """Bytes one more capture costs, indexes included: unchanged (its body stored already),
    and changed (a new body), measured by adding 200 of each."""
    roaster, day, _, url, at, exchange = rows[0]
    run = uuid.uuid5(uuid.NAMESPACE_URL, f"{roaster}/{day}")
    out = {}
    for kind in ("unchanged", "changed"):
        before = sum(raw_bytes(conn).values())
        for n in range(200):
            body = exchange.body or b""
            if kind == "changed":
                body = body.replace(b'"price": "', f'"price": "{n}'.encode(), 1)
            again = Exchange(url, url, 1, at, status=200, headers=exchange.headers, body=body, byte_length=len(body),
                             status_line=exchange.status_line, response_headers=exchange.response_headers,
                             request=exchange.request)
            insert_capture(conn, uuid.uuid4(), run, roaster, "live", "products", 1, again)
        conn.execute("vacuum analyze raw.scrape_artifacts, raw.bodies")
        out[kind] = round((sum(raw_bytes(conn).values()) - before) / 200, 1)
    return out


def window(params: dict[str, Any]) -> dict[str, str]:
    days = min(30, params["days"])
    return {"start_date": (LAST_DAY - dt.timedelta(days=days - 1)).isoformat(), "end_date": LAST_DAY.isoformat()}


def dbt_times(target: Any, params: dict[str, Any], conn: psycopg.Connection) -> dict[str, Any]:
    """A full refresh of the price path, then a range rebuild of its last 30 days."""
    project = DbtProject(target)
    try:
        project.run("seed")
        full = project.run("run", "--select", "+prices", "--full-refresh")
        ranged = project.run("run", "--select", "scrape_artifacts", "prices", "rejected_items",
                             range_env=window(params))
    finally:
        project.close()
    prices = conn.execute("select count(*), md5(string_agg(variant_id || price::text, ',' order by variant_id, "
                          "scraped_at)) from marts.prices").fetchone()
    return {"full_refresh_seconds": round(full.data_seconds, 2),
            "range_rebuild_seconds": round(ranged.data_seconds, 2),
            "price_rows": prices[0], "prices_md5": prices[1]}


def layout(name: str, rows: list[tuple[Any, ...]], params: dict[str, Any], legacy: bool) -> dict[str, Any]:
    with scratch_database(name) as target, psycopg.connect(target.url, autocommit=True) as conn:
        load(conn, rows, legacy)
        conn.execute("vacuum analyze raw.scrape_artifacts, raw.bodies")
        result: dict[str, Any] = {"raw_bytes": raw_bytes(conn)}
        result.update(dbt_times(target, params, conn))
        if not legacy:
            with tempfile.TemporaryDirectory() as out:
                result["warc_bytes"] = export_warc(target, Path(out), Export(None, None, None))["bytes"]
            result["per_capture_bytes"] = per_capture(conn, rows)
        return result


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    params = dict(QUICK if args.quick else FULL)
    bodies = pages(params)
    rows = captures(params, bodies)
    distinct = {hashlib.sha256(e.body or b"").hexdigest(): e.body or b"" for *_, e in rows}
    new = layout("storage_new", rows, params, legacy=False)
    old = layout("storage_old", rows, params, legacy=True)
    raw_new, raw_old = sum(new["raw_bytes"].values()), sum(old["raw_bytes"].values())
    zstd = sum(len(zstandard.ZstdCompressor(level=3).compress(b)) for b in distinct.values())
    shop_days = params["shops"] * params["days"]
    results = {
        "captures": len(rows), "distinct_bodies": len(distinct),
        "page_bytes": len(bodies[(0, 0)]), "page_gzip_bytes": len(gzip.compress(bodies[(0, 0)])),
        "raw_bytes": {"bodies_once": new["raw_bytes"], "jsonb_per_capture": old["raw_bytes"]},
        "raw_total_bytes": {"bodies_once": raw_new, "jsonb_per_capture": raw_old, "warc_gzip_dedup": new["warc_bytes"],
                            "zstd_of_distinct_bodies": zstd},
        "per_capture_bytes": new["per_capture_bytes"],
        "dbt_seconds": {k: {"bodies_once": new[k], "jsonb_per_capture": old[k]}
                        for k in ("full_refresh_seconds", "range_rebuild_seconds")},
        "same_prices": (new["price_rows"], new["prices_md5"]) == (old["price_rows"], old["prices_md5"]),
        "price_rows": new["price_rows"],
        # a year of daily captures like these (each shop's pages alike), by fleet size
        "year_projection_gb": {f"{n}_shops": {"bodies_once": round(raw_new / shop_days * 365 * n / 1e9, 1),
                                              "jsonb_per_capture": round(raw_old / shop_days * 365 * n / 1e9, 1)}
                               for n in (1000, 10000)},
        "runner_peak_mb": round(self_peak_mb(), 1),
    }
    full, ranged = results["dbt_seconds"]["full_refresh_seconds"], results["dbt_seconds"]["range_rebuild_seconds"]
    emit("storage", params, results, {
        "unchanged_capture_bytes": (new["per_capture_bytes"]["unchanged"], 1024, "max"),
        "raw_over_dedup_gzip_warc": (ratio(raw_new, new["warc_bytes"]), 1.6, "max"),
        "full_refresh_over_jsonb_layout": (ratio(full["bodies_once"], full["jsonb_per_capture"]), 0.3, "max"),
        "range_rebuild_over_jsonb_layout": (ratio(ranged["bodies_once"], ranged["jsonb_per_capture"]), 1.0, "max"),
    })


if __name__ == "__main__":
    main()
