"""What the simulator knows while it runs: its shops, faults, day and the requests it saw."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from runner.core import clock
from runner.sandbox.simulator.catalog import ShopSpec
from runner.sandbox.simulator.faults import FaultBook

SHOPIFY_MAX_LIMIT = 250
SHOPIFY_WINDOW = 25_000
WOO_MAX_PER_PAGE = 100
DEFAULT_SIM_RPS = 20.0
CATALOG_CACHE_SIZE = 256  # (shop, day, kind) catalogs kept rendered
GZIP_BOMB_BYTES = 1 << 30  # what a gzip-bomb fault inflates to by default
SLOW_DRIP_SECONDS = 0.5
SLOW_DRIP_BYTES = 10_000


@dataclass
class RequestRecord:
    at: float  # time.time() when the request arrived
    shop: str | None
    path: str
    query: str
    user_agent: str


# Faults answered with fixed bytes: (status, body, content type, headers).
SIMPLE_ANSWERS: dict[str, tuple[int, bytes, str, dict[str, str]]] = {
    "html200": (200, b"<!DOCTYPE html><html><body>Checking your browser...</body></html>", "text/html", {}),
    "malformed": (200, b'{"products": [{"id": 1, "title": "Broken",, }', "application/json", {}),
    "redirect-scheme": (302, b"", "text/plain", {"Location": "file:///etc/passwd"}),
    "redirect-javascript": (302, b"", "text/plain", {"Location": "javascript:alert(document.cookie)"}),
    "redirect-malformed": (302, b"", "text/plain", {"Location": "http://[::1"}),
    "redirect-port": (302, b"", "text/plain", {"Location": "http://127.0.0.1:99999/products.json"}),
}


@dataclass
class SimState:
    seed: int
    shops: dict[str, ShopSpec]
    faults: FaultBook
    today: dt.date | None = None
    follow_clock: bool = False  # today from runner.core.clock (an injected, moving clock) instead of the wall clock
    latency: float = 0.0
    history_days: int = 30
    rate_limit_rps: float = DEFAULT_SIM_RPS
    shopify_window: int = SHOPIFY_WINDOW  # smaller in tests, to reach the window's end
    archive_coverage: float = 0.8  # share of past shop-days the web archive captured
    page_cap: int = SHOPIFY_MAX_LIMIT  # items per Shopify page at most, whatever limit asks
    custom_body: tuple[bytes, str] = (b"{}", "application/json")  # what a "body" fault serves
    base_url: str = ""
    requests: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def day_for(self, shop: ShopSpec) -> dt.date:
        if self.today is not None:
            return self.today
        if self.follow_clock:
            return clock.now().astimezone(ZoneInfo(shop.timezone)).date()
        return dt.datetime.now(ZoneInfo(shop.timezone)).date()
