"""Which roaster and which catalog resource a captured URL is: for captures that come
from elsewhere (a WARC file), where no run says what was asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from runner.core.config import Config, Roaster

# A replay URL of a web archive (Wayback, pywb): .../<14 digits>[id_]/<original URL>
REPLAY_RE = re.compile(r"/\d{14}(?:[a-z]{2}_)?/(https?://.+)$")
WOO_PATHS = ("/wp-json/wc/store/v1/products", "/wp-json/wc/store/products")


@dataclass(frozen=True)
class CatalogUrl:
    roaster: Roaster
    resource: str  # robots, meta, products, variations
    page: int | None


def original_url(url: str) -> str:
    """The shop URL inside an archive's replay URL; the URL itself otherwise."""
    match = REPLAY_RE.search(url)
    return match.group(1) if match else url


def catalog_url(config: Config, url: str) -> CatalogUrl | None:
    """The roaster (the longest base URL that prefixes it) and the resource; None when the URL
    is no configured roaster's, or not a URL of its catalog."""
    original = original_url(url)
    owners = [r for r in config.roasters if _under(original, r.base_url)]
    if not owners:
        return None
    roaster = max(owners, key=lambda r: len(r.base_url))
    parts = urlsplit(original[len(roaster.base_url.rstrip("/")):] or "/")
    query = parse_qs(parts.query)
    resource = _resource(roaster.platform, parts.path, query)
    if resource is None:
        return None
    page = _page(query) if resource in ("products", "variations") else None
    return CatalogUrl(roaster, resource, page)


def _under(url: str, base_url: str) -> bool:
    base = base_url.rstrip("/")
    return url == base or url.startswith((base + "/", base + "?"))


def _resource(platform: str, path: str, query: dict[str, list[str]]) -> str | None:
    if path == "/robots.txt":
        return "robots"
    if platform == "shopify":
        return {"/products.json": "products", "/meta.json": "meta"}.get(path)
    if path in WOO_PATHS:
        return "variations" if query.get("type") == ["variation"] else "products"
    return None


def _page(query: dict[str, list[str]]) -> int:
    value = (query.get("page") or ["1"])[0]
    return int(value) if value.isdigit() else 1
