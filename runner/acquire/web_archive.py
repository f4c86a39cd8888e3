"""Recovering past days from a web archive (Wayback CDX API and raw captures).

For a (roaster, day) the catalog pages are looked up in the CDX index, the capture
closest to local noon on that day is fetched raw (`<timestamp>id_/<original>`),
redirects to the nearest capture are followed, and the capture's own time becomes
the artifact's `captured_at`. Pages are walked until a short page (an archive rarely
holds the empty page that ends a live listing).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from runner.acquire.client import PoliteClient, ShopGate
from runner.acquire.platforms import (
    SHOPIFY_PAGE_LIMIT,
    WOO_PER_PAGE,
    WOO_ROUTES,
    CatalogResult,
    RunContext,
    WooItems,
    parent_batches,
)
from runner.core.config import Roaster
from runner.core.errors import FetchError, NoCapture
from runner.core.exchange import Exchange, Recorder, archive_timestamp

MAX_ARCHIVE_PAGES = 100
TARGET_LOCAL_HOUR = 12  # prefer the capture nearest local noon of the day


@dataclass(frozen=True)
class Capture:
    timestamp: str  # the capture's own time
    original: str
    replay: str | None = None  # pywb: the capture whose bytes stand for this revisit (same URL and digest)

    @property
    def when(self) -> dt.datetime:
        return parse_ts(self.timestamp)


def parse_ts(ts: str) -> dt.datetime:
    return dt.datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)


class Archive:
    """CDX lookups (cached per URL over the backfill's whole range) and raw fetches."""

    def __init__(self, client: PoliteClient, archive_url: str, gate: ShopGate,
                 start: dt.date, end: dt.date, api: str = "wayback") -> None:
        self.client = client
        self.base = archive_url.rstrip("/")
        self.api = api
        self.gate = gate
        # One CDX query per URL covers every day of the backfill (UTC dates, with a
        # day of margin for timezones) instead of one query per day.
        self.start = start - dt.timedelta(days=1)
        self.end = end + dt.timedelta(days=1)
        self._index: dict[str, list[Capture]] = {}

    async def captures(self, original: str) -> list[Capture]:
        if original not in self._index:
            span = {"url": original, "from": self.start.strftime("%Y%m%d"), "to": self.end.strftime("%Y%m%d"),
                    "output": "json"}
            if self.api == "pywb":
                exchange = await self.client.fetch(f"{self.base}/cdx", self.gate, _discard, params=span,
                                                   expect_json=False)
                self._index[original] = parse_pywb_cdx(exchange.body or b"")
            else:
                exchange = await self.client.fetch(f"{self.base}/cdx/search/cdx", self.gate, _discard,
                                                   params={**span, "filter": "statuscode:200"})
                self._index[original] = parse_cdx(exchange.json)
        return self._index[original]

    async def capture_on(self, original: str, day: dt.date, timezone: str) -> Capture:
        zone = ZoneInfo(timezone)
        on_day = [c for c in await self.captures(original) if c.when.astimezone(zone).date() == day]
        if not on_day:
            raise NoCapture(f"no capture of {original} on {day}")
        noon = dt.datetime.combine(day, dt.time(TARGET_LOCAL_HOUR), zone)
        return min(on_day, key=lambda c: abs(c.when - noon))

    async def fetch(self, capture: Capture, record: Recorder, *, expect_json: bool = True) -> Exchange:
        if self.api == "pywb":
            url = f"{self.base}/{capture.replay or capture.timestamp}id_/{capture.original}"
            return await self.client.fetch(url, self.gate, _stamped(record, capture.when), expect_json=expect_json)
        url = f"{self.base}/web/{capture.timestamp}id_/{capture.original}"
        return await self.client.fetch(url, self.gate, _as_archived(record), expect_json=expect_json)


async def _discard(exchange: Exchange) -> None:
    """CDX answers are index lookups, not shop responses: they are not stored."""


def _as_archived(record: Recorder) -> Recorder:
    """Stamp the capture's own time (from the final, redirected URL) as captured_at."""

    async def stamped(exchange: Exchange) -> None:
        ts = archive_timestamp(exchange.url)
        if ts is not None:
            exchange.captured_at = parse_ts(ts)
        await record(exchange)

    return stamped


def _stamped(record: Recorder, when: dt.datetime) -> Recorder:
    """Stamp the capture's own time as captured_at (a revisit is replayed from its original)."""

    async def stamped(exchange: Exchange) -> None:
        exchange.captured_at = when
        await record(exchange)

    return stamped


def parse_pywb_cdx(body: bytes) -> list[Capture]:
    """pywb's CDX answer (one JSON object per line). A revisit (mime warc/revisit, no status)
    takes the status of the capture of the same URL with the same digest before it, and is
    replayed from that capture; one whose original is not among them (another URL's) is
    kept as a capture of a good answer, as the Wayback Machine's "-" status is."""
    rows = [row for line in body.splitlines() if (row := _json_line(line)) is not None]
    rows = [r for r in rows if re.fullmatch(r"\d{14}", str(r.get("timestamp"))) and isinstance(r.get("url"), str)]
    firsts: dict[str, dict[str, Any]] = {}
    captures = [_pywb_capture(row, firsts) for row in sorted(rows, key=lambda r: str(r["timestamp"]))]
    return [c for c in captures if c is not None]


def _pywb_capture(row: dict[str, Any], firsts: dict[str, dict[str, Any]]) -> Capture | None:
    """The row as a capture of a good answer, None for another status; `firsts` holds the
    first capture of each digest so far."""
    digest = str(row.get("digest"))
    if row.get("mime") != "warc/revisit":
        firsts.setdefault(digest, row)
        return Capture(row["timestamp"], row["url"]) if str(row.get("status")) == "200" else None
    first = firsts.get(digest)
    if first is not None and str(first.get("status")) != "200":
        return None
    return Capture(row["timestamp"], row["url"], str(first["timestamp"]) if first else None)


def _json_line(line: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def parse_cdx(body: Any) -> list[Capture]:
    """CDX JSON: a header row then string rows; [] when there are no captures."""
    if not isinstance(body, list) or len(body) < 2 or not isinstance(body[0], list):
        return []
    header = body[0]
    try:
        ts_i, orig_i = header.index("timestamp"), header.index("original")
    except ValueError:
        return []
    status_i = header.index("statuscode") if "statuscode" in header else None
    captures = (_capture(row, len(header), ts_i, orig_i, status_i) for row in body[1:])
    return [c for c in captures if c is not None]


def _capture(row: Any, width: int, ts_i: int, orig_i: int, status_i: int | None) -> Capture | None:
    """One CDX row as a capture of a good answer; None for a malformed row or another status."""
    if not isinstance(row, list) or len(row) != width:
        return None
    if status_i is not None and row[status_i] not in ("200", "-"):
        return None
    return Capture(str(row[ts_i]), str(row[orig_i])) if re.fullmatch(r"\d{14}", str(row[ts_i])) else None


# --- walking an archived catalog ---------------------------------------------------------

async def fetch_archived_day(archive: Archive, roaster: Roaster, day: dt.date, run: RunContext) -> CatalogResult:
    """Recover one shop-day from the archive. Raises NoCapture when page one is not there."""
    if roaster.platform == "shopify":
        return await _shopify_day(archive, roaster, day, run)
    return await _woo_day(archive, roaster, day, run)


async def _shopify_day(archive: Archive, roaster: Roaster, day: dt.date, run: RunContext) -> CatalogResult:
    result = CatalogResult()
    if roaster.currency is None:
        # dbt falls back to the roaster's newest meta.json when the day has none
        with contextlib.suppress(NoCapture, FetchError):
            capture = await archive.capture_on(f"{roaster.base_url}/meta.json", day, roaster.timezone)
            await archive.fetch(capture, run.recorder("meta", None))
    url = f"{roaster.base_url}/products.json?limit={SHOPIFY_PAGE_LIMIT}&page={{page}}"
    await _walk(archive, roaster, day, run, result, "products", url, SHOPIFY_PAGE_LIMIT,
                lambda body: body.get("products") if isinstance(body, dict) else None)
    return result


async def _woo_day(archive: Archive, roaster: Roaster, day: dt.date, run: RunContext) -> CatalogResult:
    result = CatalogResult()
    for route in WOO_ROUTES:
        base = f"{roaster.base_url}{route}"
        try:
            await archive.capture_on(f"{base}?per_page={WOO_PER_PAGE}&page=1", day, roaster.timezone)
        except NoCapture:
            continue
        done = True
        listings = {"products": WooItems(), "variations": WooItems()}
        for resource, extra in (("products", ""), ("variations", "type=variation&")):
            url = f"{base}?{extra}per_page={WOO_PER_PAGE}&page={{page}}"
            done = await _walk(archive, roaster, day, run, result, resource, url, WOO_PER_PAGE,
                               _woo_items(listings[resource])) and done
        # variations a parent lists that the listing left out: the archive may hold them by parent
        for batch in parent_batches(listings["products"], listings["variations"]):
            url = f"{base}?type=variation&parent={quote(batch, safe='')}&per_page={WOO_PER_PAGE}&page={{page}}"
            done = await _walk(archive, roaster, day, run, result, "variations", url, WOO_PER_PAGE,
                               _woo_items(listings["variations"])) and done
        result.complete = done
        return result
    raise NoCapture(f"no capture of {roaster.id}'s catalog on {day}")


def _woo_items(seen: WooItems) -> Any:
    def items_of(body: Any) -> list[Any] | None:
        if not isinstance(body, list):
            return None
        seen.note(body)
        return body

    return items_of


async def _walk(archive: Archive, roaster: Roaster, day: dt.date, run: RunContext, result: CatalogResult,
                resource: str, url_template: str, page_size: int, items_of: Any) -> bool:
    """Archived pages 1, 2, ... until a short page. True when the listing ended cleanly."""
    for page in range(1, MAX_ARCHIVE_PAGES + 1):
        original = url_template.format(page=page)
        try:
            capture = await archive.capture_on(original, day, roaster.timezone)
        except NoCapture:
            if page == 1 and resource == "products":
                raise
            result.failures.append(f"{resource} page {page}: no capture on {day}")
            return False
        try:
            exchange = await archive.fetch(capture, run.recorder(resource, page))
        except FetchError as exc:
            result.failures.append(f"{resource} page {page}: {exc}")
            return False
        items = items_of(exchange.json)
        if not isinstance(items, list):
            result.failures.append(f"{resource} page {page}: unexpected body")
            return False
        if items:
            result.pages += 1
        if len(items) < page_size:
            result.complete = True
            return True
    result.failures.append(f"{resource}: no end after {MAX_ARCHIVE_PAGES} pages")
    return False
