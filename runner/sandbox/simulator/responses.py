"""The shops' answers: catalog pages, robots.txt, the served roasters.yml, a gzip bomb."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import io
from collections.abc import Sequence
from typing import Any

import yaml

from runner.sandbox.simulator import render
from runner.sandbox.simulator.catalog import ShopSpec
from runner.sandbox.simulator.faults import Fault
from runner.sandbox.simulator.state import (
    CATALOG_CACHE_SIZE,
    SHOPIFY_MAX_LIMIT,
    WOO_MAX_PER_PAGE,
    SimState,
)


def page_response(state: SimState, shop: ShopSpec, resource: str, query: dict[str, str],
                  day: dt.date) -> tuple[int, Any, dict[str, str]]:
    """The JSON a shop answers for a page on a day: (status, body, headers)."""
    seed = state.seed
    if resource == "meta":
        return 200, {"id": 1, "name": shop.name, "currency": shop.currency, "country": "US",
                     "domain": f"{shop.id}.example", "published_products_count": 0}, {}
    if shop.platform == "shopify":
        limit = min(int_param(query.get("limit"), 30), SHOPIFY_MAX_LIMIT, state.page_cap)
        page = int_param(query.get("page"), 1)
        if page * limit > state.shopify_window:
            return 400, {"errors": {"page": "cannot exceed 25000 items"}}, {}
        products = _catalog(seed, shop, day, "shopify")
        return 200, {"products": list(products[(page - 1) * limit: page * limit])}, {}
    per_page = int_param(query.get("per_page"), 10)
    if per_page > WOO_MAX_PER_PAGE or per_page < 1:
        return 400, {"code": "rest_invalid_param", "message": "Invalid parameter(s): per_page",
                     "data": {"status": 400}}, {}
    items: Sequence[dict[str, Any]] = _catalog(seed, shop, day, resource)
    if resource == "variations":
        items = _variation_listing(tuple(items), query.get("parent"))
    page = int_param(query.get("page"), 1)
    total_pages = max(1, -(-len(items) // per_page))
    headers = {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(total_pages)}
    return 200, list(items[(page - 1) * per_page: page * per_page]), headers


def _variation_listing(items: tuple[dict[str, Any], ...], parent: str | None) -> list[dict[str, Any]]:
    """type=variation: some stores leave variations out unless asked for by parent
    (`parent=1,2,3`, the Store API's filter)."""
    if parent is not None:
        wanted = {p.strip() for p in parent.split(",")}
        chosen = [item for item in items if str(item.get("parent")) in wanted]
    else:
        chosen = [item for item in items if not item.get("unlisted")]
    return [{k: v for k, v in item.items() if k != "unlisted"} for item in chosen]


@functools.lru_cache(maxsize=CATALOG_CACHE_SIZE)
def _catalog(seed: int, shop: ShopSpec, day: dt.date, kind: str) -> tuple[dict[str, Any], ...]:
    """A shop's rendered catalog for a day, rendered once: every page of a walk slices it.
    Callers only slice and serialize it, never change it."""
    if shop.fixture is not None:
        return render.fixture_items(shop.fixture, kind)
    render_fn = {"shopify": render.shopify_products, "variations": render.woo_variations}.get(kind, render.woo_products)
    return tuple(render_fn(seed, shop, day))


@functools.lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """gzip of `size` zero bytes: about size/1000 on the wire."""
    chunk = b"\0" * (1 << 20)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as stream:
        for _ in range(size // len(chunk)):
            stream.write(chunk)
        stream.write(b"\0" * (size % len(chunk)))
    return out.getvalue()


def resource_of(shop: ShopSpec, rest: str, query: dict[str, str]) -> str | None:
    if rest == "robots.txt":
        return "robots"
    if rest == "meta.json":
        return "meta"
    if shop.platform == "shopify":
        return "products" if rest == "products.json" else None
    routes = {"wp-json/wc/store/products"}
    if shop.woo_route == "v1":
        routes.add("wp-json/wc/store/v1/products")
    if rest not in routes:
        return None
    return "variations" if query.get("type") == "variation" else "products"


def robots_txt(fault: Fault | None) -> str:
    if fault is not None and fault.kind == "robots-disallow":
        return "User-agent: *\nDisallow: /\n"
    lines = ["User-agent: *", "Disallow: /admin", "Disallow: /checkout"]
    if fault is not None and fault.kind == "crawl-delay":
        lines.append(f"Crawl-delay: {fault.arg if fault.arg is not None else 1}")
    return "\n".join(lines) + "\n"


def int_param(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def roasters_yaml(state: SimState) -> str:
    """A config for coffee-runner that points at this simulator."""
    roasters = []
    for shop in state.shops.values():
        since = state.day_for(shop) - dt.timedelta(days=state.history_days)
        entry: dict[str, Any] = {
            "id": shop.id, "name": shop.name, "platform": shop.platform,
            "base_url": f"{state.base_url}/r/{shop.id}",
        }
        if shop.platform == "woocommerce" or shop.currency_in_config:
            entry["currency"] = shop.currency
        entry.update({"timezone": shop.timezone, "since": since, "active": True,
                      "rate_limit_rps": state.rate_limit_rps, "archive": True})
        roasters.append(entry)
    doc = {
        "roasters": roasters,
        "archive_url": f"{state.base_url}/wayback",
        "archive_rate_limit_rps": 50.0,  # a local archive: no need for the 2.5 s CDX pause
        "user_agent": "coffee-runner/0.1 (+simulator)",
        # A local server answers in milliseconds: short timeouts and backoff keep runs fast.
        "http": {"connect_timeout": 2.0, "read_timeout": 5.0, "request_deadline": 10.0,
                 "backoff_base": 0.05, "backoff_max": 0.5, "retry_after_cap": 2.0},
        "monitoring": {"progress_check_interval": 5},
    }
    return yaml.safe_dump(doc, sort_keys=False)
