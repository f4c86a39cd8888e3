"""Shop platforms: which URLs make up a catalog and where the catalog ends.

The sources only walk pages; every response is stored by the recorder the run hands
them, and all parsing of products and prices happens later, in dbt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.acquire.client import Exchange, PoliteClient, Recorder, ShopGate
from runner.core.config import Roaster
from runner.core.errors import ClientError, FetchError

SHOPIFY_PAGE_LIMIT = 250
SHOPIFY_MAX_PAGES = 100  # Shopify refuses page*limit > 25000
WOO_PER_PAGE = 100  # the Store API refuses more
WOO_MAX_PAGES = 500  # a guard against a shop that never returns an empty page
WOO_ROUTES = ("/wp-json/wc/store/v1/products", "/wp-json/wc/store/products")
WOO_PARENTS_PER_REQUEST = 20  # parents asked for at once when their variations were not listed


class RunContext(Protocol):
    def recorder(self, resource: str, page: int | None) -> Recorder: ...


@dataclass
class CatalogResult:
    """What a walk through one shop's catalog achieved."""

    pages: int = 0  # catalog pages that returned data
    complete: bool = False  # every listing reached its clean end
    failures: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.complete and not self.failures:
            return "ok"
        return "partial" if self.pages else "fail"


async def fetch_shopify(client: PoliteClient, gate: ShopGate, roaster: Roaster,
                        run: RunContext) -> CatalogResult:
    result = CatalogResult()
    if roaster.currency is None:
        await _shopify_currency(client, gate, roaster, run, result)
    url = f"{roaster.base_url}/products.json"
    for page in range(1, SHOPIFY_MAX_PAGES + 1):
        params = {"limit": SHOPIFY_PAGE_LIMIT, "page": page}
        try:
            exchange = await client.fetch(url, gate, run.recorder("products", page), params=params)
        except FetchError as exc:
            past_window = isinstance(exc, ClientError) and exc.status == 400 and _has_errors_key(_exchange_json(exc))
            _shopify_end(result, page, None if past_window else str(exc))  # past the 25,000-item window: the end
            return result
        if (problem := _shopify_page_problem(exchange.json)) != "more":
            _shopify_end(result, page, problem)
            return result
        result.pages += 1
    result.failures.append(f"products: no empty page after {SHOPIFY_MAX_PAGES} pages")
    return result


def _shopify_page_problem(body: Any) -> str | None:
    """"more" for a page of products, None for the end of the listing, else what is wrong."""
    if _has_errors_key(body):
        return None  # some stores answer the window limit with 200 + errors
    if not isinstance(body, dict) or not isinstance(body.get("products"), list):
        return "no 'products' list in the body"
    return "more" if body["products"] else None


def _shopify_end(result: CatalogResult, page: int, problem: str | None) -> None:
    """The walk ends: complete, or failed on this page."""
    if problem is None:
        result.complete = True
    else:
        result.failures.append(f"products page {page}: {problem}")


async def _shopify_currency(client: PoliteClient, gate: ShopGate, roaster: Roaster,
                            run: RunContext, result: CatalogResult) -> None:
    """The list JSON has no currency; meta.json does. A failure leaves the run partial."""
    try:
        exchange = await client.fetch(f"{roaster.base_url}/meta.json", gate, run.recorder("meta", None))
    except FetchError as exc:
        result.failures.append(f"meta.json: {exc}")
        return
    body = exchange.json
    if not isinstance(body, dict) or not isinstance(body.get("currency"), str):
        result.failures.append("meta.json: no 'currency' field")


async def fetch_woocommerce(client: PoliteClient, gate: ShopGate, roaster: Roaster,
                            run: RunContext) -> CatalogResult:
    result = CatalogResult()
    products = _WooListing(client, gate, run, result, "products", {})
    if not await products.find_route(roaster.base_url):
        return result
    variations = _WooListing(client, gate, run, result, "variations", {"type": "variation"})
    variations.url = products.url
    products_done = await products.walk()
    variations_done = await variations.walk()
    by_parent_done = await _fetch_missing_variations(products, variations)
    result.complete = products_done and variations_done and by_parent_done
    return result


async def _fetch_missing_variations(products: _WooListing, variations: _WooListing) -> bool:
    """Some stores list variations on their parents but return none through
    type=variation: ask for those parents' variations by parent (the Store API's `parent`
    filter, a comma-separated list), a few parents per listing. Whether every listed
    variation finally arrived is decided in dbt (rejected_items, 'variation not returned'),
    from the stored pages; this only chooses which URLs to fetch."""
    done = True
    for batch in parent_batches(products.items, variations.items):
        listing = _WooListing(variations.client, variations.gate, variations.run, variations.result, "variations",
                              {"type": "variation", "parent": batch})
        listing.url = variations.url
        done = await listing.walk() and done
    return done


@dataclass
class WooItems:
    """The item ids a listing returned, and the variation ids its variable parents list."""

    seen: set[int] = field(default_factory=set)
    listed: dict[int, set[int]] = field(default_factory=dict)

    def note(self, items: list[Any]) -> None:
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                continue
            self.seen.add(item["id"])
            listed = item.get("variations")
            if item.get("type") == "variable" and isinstance(listed, list):
                self.listed[item["id"]] = {v["id"] for v in listed
                                           if isinstance(v, dict) and isinstance(v.get("id"), int)}


def parent_batches(products: WooItems, variations: WooItems) -> list[str]:
    """The parents whose listed variations the variation listing did not return, as
    comma-separated `parent=` values, WOO_PARENTS_PER_REQUEST at a time."""
    missing = sorted(parent for parent, ids in products.listed.items() if not ids <= variations.seen)
    return [",".join(map(str, missing[i:i + WOO_PARENTS_PER_REQUEST]))
            for i in range(0, len(missing), WOO_PARENTS_PER_REQUEST)]


class _WooListing:
    """One paged listing (products, or variations) of the Store API."""

    def __init__(self, client: PoliteClient, gate: ShopGate, run: RunContext,
                 result: CatalogResult, resource: str, extra: dict[str, Any]) -> None:
        self.client, self.gate, self.run, self.result = client, gate, run, result
        self.resource, self.extra = resource, extra
        self.url = ""
        self.first: Exchange | None = None
        self.items = WooItems()

    async def _get(self, url: str, page: int) -> Exchange:
        params = {**self.extra, "per_page": WOO_PER_PAGE, "page": page}
        return await self.client.fetch(url, self.gate, self.run.recorder(self.resource, page), params=params)



    async def find_route(self, base_url: str) -> bool:
        """The v1 route, else the older unversioned one; a 404 tells them apart.

        The probe is the real first page, so finding the route costs no extra request.
        """
        for route in WOO_ROUTES:
            try:
                self.first = await self._get(f"{base_url}{route}", 1)
                self.url = f"{base_url}{route}"
                return True
            except ClientError as exc:
                if exc.status != 404:
                    self.result.failures.append(f"{route}: {exc}")
                    return False
            except FetchError as exc:
                self.result.failures.append(f"{route}: {exc}")
                return False
        self.result.failures.append("no WooCommerce Store API route answered (404 on both)")
        return False

    async def _page(self, page: int) -> Exchange:
        """Page one was already fetched (finding the route); the others are fetched now."""
        if page == 1 and self.first:
            return self.first
        return await self._get(self.url, page)

    async def walk(self) -> bool:
        """Page by X-WP-TotalPages (or until an empty page). True at a clean end."""
        total: int | None = None
        failed = False
        for page in range(1, WOO_MAX_PAGES + 1):
            if total is not None and page > total:
                return not failed
            try:
                exchange = await self._page(page)
            except FetchError as exc:
                self.result.failures.append(f"{self.resource} page {page}: {exc}")
                if total is None:
                    return False
                failed = True
                continue  # the total is known: later pages are still worth having
            if not isinstance(exchange.json, list):
                self.result.failures.append(f"{self.resource} page {page}: body is not a JSON array")
                return False
            if not exchange.json:
                return not failed
            self.result.pages += 1
            self.items.note(exchange.json)
            total = total if total is not None else _total_pages(exchange)
        self.result.failures.append(f"{self.resource}: no end after {WOO_MAX_PAGES} pages")
        return False


def _total_pages(exchange: Exchange) -> int | None:
    value = exchange.headers.get("x-wp-totalpages", "")
    return int(value) if value.strip().isdigit() else None


def _exchange_json(exc: FetchError) -> Any:
    return exc.exchange.json if exc.exchange is not None else None


def _has_errors_key(body: Any) -> bool:
    return isinstance(body, dict) and "errors" in body


SourceFn = Callable[[PoliteClient, ShopGate, Roaster, RunContext], Awaitable[CatalogResult]]
SOURCES: dict[str, SourceFn] = {"shopify": fetch_shopify, "woocommerce": fetch_woocommerce}
