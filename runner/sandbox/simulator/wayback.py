"""A Wayback-compatible archive of the simulated shops' past days.

CDX:  GET /wayback/cdx/search/cdx?url=U&from=YYYYMMDD&to=YYYYMMDD&output=json&filter=statuscode:200
Raw:  GET /wayback/web/<14-digit timestamp>id_/<original url>   (a non-exact timestamp
      redirects to the nearest capture of that URL, as the real archive does)

A shop's day has captures when a seeded coin says so (`coverage`), and only for days
before today: some past days have none, so a backfill meets unrecoverable days.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from runner.sandbox.simulator.catalog import ShopSpec, _frac

CAPTURE_HOUR = 10  # shop-local time of a day's first capture
TS_FORMAT = "%Y%m%d%H%M%S"
NEAREST_DAYS = 3  # how far a non-exact timestamp looks for the nearest capture


@dataclass(frozen=True)
class Page:
    """What an original URL asks for: a shop, a resource and a page."""

    shop: ShopSpec
    resource: str  # meta, products, variations
    page: int
    query: dict[str, str]


def parse_original(original: str, base_url: str, shops: dict[str, ShopSpec]) -> Page | None:
    parts = urlsplit(original)
    prefix = urlsplit(base_url)
    if (parts.scheme, parts.netloc) != (prefix.scheme, prefix.netloc):
        return None
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 3 or segments[0] != "r" or segments[1] not in shops:
        return None
    return _page(shops[segments[1]], "/".join(segments[2:]), {k: v[-1] for k, v in parse_qs(parts.query).items()})


def _page(shop: ShopSpec, rest: str, query: dict[str, str]) -> Page | None:
    """The page a shop-relative path and query name, if the shop serves it."""
    page = int(query["page"]) if query.get("page", "").isdigit() else 1
    if rest == "meta.json":
        return Page(shop, "meta", 1, query)
    if shop.platform == "shopify" and rest == "products.json":
        return Page(shop, "products", page, query)
    woo_routes = {"wp-json/wc/store/products"} | ({"wp-json/wc/store/v1/products"} if shop.woo_route == "v1" else set())
    if shop.platform == "woocommerce" and rest in woo_routes:
        return Page(shop, "variations" if query.get("type") == "variation" else "products", page, query)
    return None


def has_capture(seed: int, shop: ShopSpec, day: dt.date, today: dt.date, coverage: float) -> bool:
    return day < today and _frac(seed, "archive", shop.id, day.isoformat()) < coverage


def capture_time(shop: ShopSpec, day: dt.date, page: Page) -> dt.datetime:
    """When the archive captured this page on this shop-local day (UTC)."""
    minute = {"meta": 0, "products": 1, "variations": 30}[page.resource] + page.page
    local = dt.datetime.combine(day, dt.time(CAPTURE_HOUR, minute), ZoneInfo(shop.timezone))
    return local.astimezone(dt.timezone.utc)


def timestamp(when: dt.datetime) -> str:
    return when.strftime(TS_FORMAT)


def parse_timestamp(ts: str) -> dt.datetime | None:
    if len(ts) != 14 or not ts.isdigit():
        return None
    try:
        return dt.datetime.strptime(ts, TS_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def local_day(shop: ShopSpec, when: dt.datetime) -> dt.date:
    return when.astimezone(ZoneInfo(shop.timezone)).date()


def cdx_rows(seed: int, page: Page, original: str, start: dt.date, end: dt.date, today: dt.date,
             coverage: float, body_for) -> list[list[str]]:
    """CDX answer rows (header first) for captures whose UTC date is within [start, end]."""
    rows: list[list[str]] = []
    day = start - dt.timedelta(days=1)
    while day <= end + dt.timedelta(days=1):
        if has_capture(seed, page.shop, day, today, coverage):
            when = capture_time(page.shop, day, page)
            if start <= when.date() <= end:
                body = body_for(day)
                digest = hashlib.sha1(body).hexdigest().upper()[:32]
                rows.append([f"sim,{page.shop.id})", timestamp(when), original, "application/json", "200",
                             digest, str(len(body))])
        day += dt.timedelta(days=1)
    if not rows:
        return []
    return [["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"], *rows]


def nearest_capture(seed: int, page: Page, asked: dt.datetime, today: dt.date,
                    coverage: float) -> dt.datetime | None:
    """The capture of this page closest to the asked time, within a few days."""
    center = local_day(page.shop, asked)
    best: dt.datetime | None = None
    for offset in range(-NEAREST_DAYS, NEAREST_DAYS + 1):
        day = center + dt.timedelta(days=offset)
        if not has_capture(seed, page.shop, day, today, coverage):
            continue
        when = capture_time(page.shop, day, page)
        if best is None or abs(when - asked) < abs(best - asked):
            best = when
    return best
