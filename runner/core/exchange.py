"""One HTTP exchange as the runner records it, and what can be read from its URL.

`acquire` produces exchanges, `store` writes them: the record lives below both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from runner.core.errors import FetchError

# The response headers `headers` (a jsonb object) keeps for quick reads; every header is
# in `response_headers`.
HEADERS_OF_INTEREST = (
    "content-type", "content-length", "content-encoding", "retry-after", "x-wp-total",
    "x-wp-totalpages", "etag", "last-modified", "date", "location", "link",
    "x-shopify-stage", "x-archive-src",
)
ARCHIVE_TS_RE = re.compile(r"/web/(\d{14})(?:id_)?/")


@dataclass
class Exchange:
    """One attempt at one URL: what we asked, what came back, what went wrong."""

    requested_url: str
    url: str
    attempt: int
    captured_at: dt.datetime
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    byte_length: int = 0
    elapsed_ms: int = 0
    error: str | None = None
    json: Any = None  # the parsed body when JSON was expected and it parsed
    parsed: bool = False
    failure: type[FetchError] | None = None  # what went wrong below HTTP (then `error` says it)
    status_line: str | None = None  # "HTTP/1.1 200 OK", as received
    response_headers: list[tuple[str, str]] = field(default_factory=list)  # every one, in order, repeats kept
    request: dict[str, Any] | None = None  # as sent: {"method", "url", "headers": [[name, value], ...]}
    revalidated: bool = False  # a 304 to our conditional request: the body is the previous capture's

    def fail(self, kind: type[FetchError], detail: str) -> None:
        """Record a failure below HTTP: its kind, and the text stored with the capture."""
        self.failure, self.error = kind, f"{kind.reason}: {detail}"

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.body).hexdigest() if self.body is not None else None

    @property
    def byte_exact(self) -> bool:
        """The body kept is every byte received (a body over the size limit is not kept)."""
        return self.body is None or len(self.body) == self.byte_length


@dataclass(frozen=True)
class Previous:
    """The last capture of a URL, for a conditional request: its validators and its body's digest."""

    sha256: str
    etag: str | None
    last_modified: str | None

    @property
    def conditions(self) -> dict[str, str]:
        """If-None-Match / If-Modified-Since, from the validators the shop sent."""
        return {name: value for name, value in (("If-None-Match", self.etag),
                                                ("If-Modified-Since", self.last_modified)) if value}


class CaptureMemory(Protocol):
    """What the client asks of the raw store to make a request conditional."""

    async def previous(self, roaster_id: str, url: str) -> Previous | None: ...

    async def body(self, sha256: str) -> bytes | None: ...


Recorder = Callable[[Exchange], Awaitable[None]]
Clock = Callable[[], dt.datetime]




def headers_of_interest(headers: list[tuple[str, str]]) -> dict[str, str]:
    """The headers of interest, by lower-case name; a repeated one joined with ", " as HTTP allows."""
    kept: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() in HEADERS_OF_INTEREST:
            kept.setdefault(name.lower(), []).append(value)
    return {name: ", ".join(values) for name, values in kept.items()}


def archive_timestamp(url: str) -> str | None:
    """The capture id (YYYYmmddHHMMSS) of a web archive URL, None for a live one."""
    match = ARCHIVE_TS_RE.search(url)
    return match.group(1) if match else None
