from __future__ import annotations

import asyncio
import datetime as dt

from runner.acquire.client import Exchange, PoliteClient
from runner.acquire.web_archive import Archive, Capture, parse_cdx
from runner.core.config import HttpSettings
from runner.sandbox.simulator import Simulator

DAY = dt.date(2026, 3, 10)


def test_parse_cdx_header_rows_and_empty():
    body = [["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"],
            ["k", "20260310150100", "http://s/p.json", "application/json", "200", "D", "10"],
            ["k", "20260310160100", "http://s/p.json", "text/html", "404", "D", "10"],
            ["k", "not-a-stamp", "http://s/p.json", "application/json", "200", "D", "10"]]
    assert parse_cdx(body) == [Capture("20260310150100", "http://s/p.json")]
    assert parse_cdx([]) == [] and parse_cdx({"error": 1}) == []


def _archive_run(sim: Simulator, coro_fn):
    async def go():
        async with PoliteClient(HttpSettings(backoff_base=0.05), "coffee-runner/test") as client:
            archive = Archive(client, f"{sim.url}/wayback", client.gate("archive", 50), DAY - dt.timedelta(days=2),
                              DAY + dt.timedelta(days=2))
            return await coro_fn(archive)

    return asyncio.run(go())


def test_capture_on_a_local_day_and_redirect_to_the_nearest_capture():
    with Simulator(archive_coverage=1.0, today=DAY + dt.timedelta(days=5)) as sim:
        original = f"{sim.url}/r/blue-peak/products.json?limit=250&page=1"
        seen: list[Exchange] = []

        async def record(ex: Exchange) -> None:
            seen.append(ex)

        async def go(archive: Archive):
            capture = await archive.capture_on(original, DAY, "Asia/Kolkata")
            exact = await archive.fetch(capture, record)
            # a timestamp that is not a capture: the archive redirects to the nearest one
            approx = await archive.fetch(Capture("20260310000000", original), record)
            return capture, exact, approx

        capture, exact, approx = _archive_run(sim, go)
    assert capture.when.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))).date() == DAY
    assert exact.captured_at == capture.when and isinstance(exact.json["products"], list)
    assert approx.url != approx.requested_url and "id_/" in approx.url
    final_ts = approx.url.split("/web/")[1][:14]
    assert approx.captured_at == dt.datetime.strptime(final_ts, "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)
    assert len(seen) == 2  # CDX lookups are not stored as artifacts


def test_one_cdx_query_per_url_for_the_whole_range():
    with Simulator(archive_coverage=1.0, today=DAY + dt.timedelta(days=5)) as sim:
        original = f"{sim.url}/r/aurora-beans/meta.json"

        async def go(archive: Archive):
            for offset in (-1, 0, 1):
                await archive.capture_on(original, DAY + dt.timedelta(days=offset), "America/New_York")

        _archive_run(sim, go)
        cdx = [r for r in sim.requests() if "/cdx/" in r.path]
    assert len(cdx) == 1
