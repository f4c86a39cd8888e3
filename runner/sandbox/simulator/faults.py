"""Faults the simulator can act out, and the book that hands them to requests.

A fault matches a shop ('*' for any), a resource (robots, meta, products, variations,
or '*') and optionally a page; `times` limits how many requests it hits (None: all).
On the command line a fault is `kind=429,shop=aurora-beans,times=2,arg=1`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

KINDS = {
    "429": "429 Too Many Requests; arg = Retry-After seconds (absent when no arg)",
    "429-date": "429 with Retry-After as an HTTP date arg seconds ahead",
    "403": "403 Forbidden (bot protection)",
    "430": "430 (Shopify's security rejection)",
    "500": "500 Internal Server Error", "502": "502 Bad Gateway", "503": "503 Service Unavailable",
    "404": "404 Not Found",
    "latency": "sleep arg seconds, then answer normally",
    "timeout": "sleep arg seconds (longer than the client's timeout), then answer",
    "truncated": "Content-Length promises more than is sent, then the connection closes",
    "html200": "an HTML challenge page with status 200",
    "malformed": "status 200 with JSON that does not parse",
    "huge": "status 200 with a valid JSON body of arg bytes",
    "drop": "close the connection without an answer",
    "gzip-bomb": "status 200, Content-Encoding gzip: a small body that inflates to arg bytes (default 1 GB)",
    "redirect-loop": "302 back to the same URL, forever",
    "redirect-scheme": "302 to a URL that is not http(s) (file:///etc/passwd)",
    "redirect-javascript": "302 to a javascript: URL",
    "redirect-malformed": "302 to a URL that does not parse (http://[::1)",
    "redirect-port": "302 to a port outside 1-65535",
    "slow-drip": "status 200, then one byte every arg seconds (default 0.5) for a long time",
    "body": "status 200 with the bytes set by Simulator.set_body (hostile payloads)",
    "robots-disallow": "robots.txt disallows every agent",
    "robots-403": "robots.txt answers 403 (means: disallow all)",
    "crawl-delay": "robots.txt asks for Crawl-delay: arg",
}
RESOURCES = ("*", "robots", "meta", "products", "variations", "cdx", "archive")
ROBOTS_KINDS = ("robots-disallow", "robots-403", "crawl-delay")


@dataclass(frozen=True)
class Fault:
    kind: str
    shop: str = "*"
    resource: str = "*"
    page: int | None = None
    times: int | None = None
    arg: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of: {', '.join(KINDS)})")
        if self.resource not in RESOURCES:
            raise ValueError(f"unknown fault resource {self.resource!r} (one of: {', '.join(RESOURCES)})")
        if self.kind in ROBOTS_KINDS and self.resource == "*":
            object.__setattr__(self, "resource", "robots")

    def matches(self, shop: str, resource: str, page: int) -> bool:
        return (self.shop in ("*", shop) and self.resource in ("*", resource)
                and (self.page is None or self.page == page))


def parse_fault(text: str) -> Fault:
    """`kind=429,shop=x,resource=products,page=2,times=3,arg=1.5` -> Fault."""
    fields: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in ("kind", "shop", "resource", "page", "times", "arg"):
            raise ValueError(f"bad fault field {part!r} (expected key=value with keys "
                             "kind, shop, resource, page, times, arg)")
        try:
            fields[key] = float(value) if key == "arg" else int(value) if key in ("page", "times") else value
        except ValueError:
            raise ValueError(f"bad number in fault field {part!r}") from None
    if "kind" not in fields:
        raise ValueError(f"fault {text!r} has no kind=")
    return Fault(**fields)  # type: ignore[arg-type]  # each value's type follows its key, checked above


class FaultBook:
    """Thread-safe: the first matching fault with uses left answers the request."""

    def __init__(self, faults: list[Fault]) -> None:
        self._lock = threading.Lock()
        self._faults = list(faults)
        self._used = [0] * len(self._faults)

    def replace(self, faults: list[Fault]) -> None:
        with self._lock:
            self._faults = list(faults)
            self._used = [0] * len(self._faults)

    def take(self, shop: str, resource: str, page: int) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if not fault.matches(shop, resource, page):
                    continue
                if fault.times is not None and self._used[i] >= fault.times:
                    continue
                self._used[i] += 1
                return replace(fault)
        return None
