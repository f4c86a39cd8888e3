"""The dashboard in a real headless browser: Debian's chromium, driven by Playwright.

Set COFFEE_SCREENSHOTS=DIR to keep the screenshots (the README's come from
`COFFEE_SCREENSHOTS=docs pytest tests/runner/test_web_browser.py`)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect, sync_playwright

from runner.sandbox.simulator import Fault
from runner.store.db import Target
from tests.runner.dashboard_state import (
    D0,
    D1,
    D4,
    DAYS,
    EXPECTED,
    archive_sim,
    dashboard,
    dashboard_config,
    history,
    history_template,
)

pytestmark = pytest.mark.xdist_group("dashboard")  # one worker builds the module's history template once

__all__ = ["archive_sim", "history", "history_template"]  # fixtures

CHROMIUM = "/usr/bin/chromium"  # Debian's package; .ci/run installs it
# as root, without a sandbox; no background traffic (this machine's network is closed)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser(history_template: str) -> Browser:
    """Started after the template is built: Playwright's sync API keeps an event loop
    running in this thread, and the build's fetches run their own (asyncio.run)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser):
    """A page that records every console error and uncaught exception."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    tab = context.new_page()
    tab.errors = []
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    yield tab
    context.close()


def _shot(page: Page, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("COFFEE_SCREENSHOTS") or tmp_path)
    path = folder / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a page, not a blank
    return path


CELL_STATUSES_JS = """() => {
  const legend = {};
  document.querySelectorAll('.legend li[data-code]').forEach(li => legend[li.dataset.code] = li.dataset.status);
  const rows = {};
  document.querySelectorAll('.row[data-roaster]').forEach(row => {
    rows[row.dataset.roaster] = Array.from(row.querySelectorAll('.cells i'))
      .map(i => i.className ? legend[i.className.charAt(0)] : null);
  });
  return rows;
}"""


def _cell(page: Page, roaster: str, day) -> str:
    return f'.row[data-roaster="{roaster}"] .cells i:nth-child({DAYS.index(day) + 1})'


def test_the_map_shows_what_coverage_holds_and_a_click_opens_the_day(history, db_url, db, page, tmp_path):
    _, config = history
    with dashboard(config, db_url) as base:
        page.goto(f"{base}/?start={D0}&end={D4}")
        shown = page.evaluate(CELL_STATUSES_JS)
        assert shown == EXPECTED
        stored = db.execute("select roaster_id, day, status, acknowledged from ops.coverage_daily").fetchall()
        for roaster, day, status, acknowledged in stored:  # as coverage holds it, but where an operator acted
            cell = shown[roaster][DAYS.index(day)]
            assert cell == status or (cell, acknowledged) == ("acknowledged", True) or cell in ("paused", "not_yet_due")
        page.hover(_cell(page, "dune-coffee", D1))
        assert page.inner_text("#hover") == f"dune-coffee {D1}: missing (no run)"
        assert page.get_attribute(_cell(page, "dune-coffee", D1), "title") == f"dune-coffee {D1}: missing (no run)"
        _shot(page, tmp_path, "heatmap")
        page.click(_cell(page, "blue-peak", D1))
        page.wait_for_url(f"{base}/day/blue-peak/{D1}")
        assert page.inner_text(".badge") == "invalid"
        assert page.locator("section.run").count() >= 1 and page.locator("tr.artifact").count() >= 1
        assert "invalid" in page.locator("td.verdict").all_inner_texts()
        assert page.inner_text("pre.command") == f"coffee-runner backfill --roaster blue-peak --start {D1} --end {D1}"
        _shot(page, tmp_path, "day")
        page.click("h1 a")  # the roaster's price chart
        page.wait_for_url(f"{base}/roasters/blue-peak")  # a click does not wait for the page it opens
        assert page.locator("svg.chart polyline").count() >= 1 and page.locator("svg.chart rect.gap").count() >= 2
    assert page.errors == []


def _running_backfill(base: str) -> str:
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        running = [b for b in httpx.get(f"{base}/backfills?format=json").json()["backfills"]
                   if b["status"] == "running"]
        if running:
            return running[0]["id"]
        time.sleep(0.1)
    raise AssertionError("no backfill started")


def _watch_progress(page: Page) -> list[tuple[str, bool]]:
    """(items finished, page still live) as the page shows them (Playwright's auto-waiting
    `expect`), until the backfill is over."""
    seen: list[tuple[str, bool]] = []
    for finished in ("0", "1"):
        expect(page.locator(".finished")).to_have_text(finished, timeout=WAIT_MS)
        seen.append((finished, page.evaluate("!!document.body.dataset.live")))
    expect(page.locator("#state")).not_to_have_text("running", timeout=WAIT_MS)
    return seen


def test_an_operator_repairs_a_hole_and_watches_it_close(history, archive_sim, db_url, page, tmp_path):
    """The issue's 'done when': open /, click a hole, read the command, run it, watch the
    backfill's progress move on its page, and see the cell turn complete."""
    path, config = dashboard_config(archive_sim, tmp_path)
    archive_sim.set_faults([Fault("latency", resource="archive", arg=1.5)])  # slow enough to watch
    with dashboard(config, db_url) as base:
        page.goto(f"{base}/?start={D0}&end={D4}")
        page.click(_cell(page, "dune-coffee", D1))
        page.wait_for_url(f"{base}/day/dune-coffee/{D1}")
        command = shlex.split(page.inner_text("pre.command"))
        assert command[:2] == ["coffee-runner", "backfill"]
        child = subprocess.Popen([sys.executable, "-m", "runner", "--config", str(path), *command[1:]],
                                 env={**os.environ, "COFFEE_DATABASE_URL": db_url}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
        try:
            page.goto(f"{base}/backfills/{_running_backfill(base)}")
            seen = _watch_progress(page)
            _shot(page, tmp_path, "backfill")
            assert child.wait(timeout=120) == 0, child.stderr.read()[-2000:]
        finally:
            child.kill()
            child.wait()
        assert ("0", True) in seen and ("1", True) in seen  # moved while it ran
        page.wait_for_selector("#state.done", timeout=WAIT_MS)
        assert page.locator(".bar").get_attribute("style") == "width: 100.0%"
        page.goto(f"{base}/?start={D0}&end={D4}")
        assert page.evaluate(CELL_STATUSES_JS)["dune-coffee"][DAYS.index(D1)] == "complete"
    assert page.errors == []


HOSTILE = "<!--<script>window.pwned=1</script>]]></script><script>window.pwned=2</script>&amp;"


def _hostile_texts(db, path: Path) -> None:
    """An operator's reasons, a roaster's name and a shop's titles that try to end their element."""
    db.execute("update control.acknowledged_gaps set reason = %s", (HOSTILE,))
    db.execute("update control.pauses set reason = %s", (HOSTILE,))
    db.execute("update ops.coverage_daily set acknowledged_reason = %s where acknowledged", (HOSTILE,))
    db.execute("update marts.variants set title = %s", (HOSTILE,))
    doc = yaml.safe_load(path.read_text())
    for roaster in doc["roasters"]:
        roaster["name"] = HOSTILE
    path.write_text(yaml.safe_dump(doc))


def _check_map(page: Page, url: str) -> None:
    page.goto(url)
    assert page.evaluate("window.pwned") is None
    page.hover(_cell(page, "dune-coffee", D0))  # the acknowledged day: its reason is the hostile text
    assert page.inner_text("#hover") == f"dune-coffee {D0}: acknowledged ({HOSTILE})"
    assert page.evaluate(CELL_STATUSES_JS) == EXPECTED


def test_hostile_text_renders_as_text_and_the_page_still_works(history, db_url, db, page, tmp_path):
    from runner.core.config import load_config
    from runner.web.export import check_output_dir, write_report
    from runner.web.params import page_range

    path, _ = history
    _hostile_texts(db, path)
    config = load_config(str(path))
    with dashboard(config, db_url) as base:
        _check_map(page, f"{base}/?start={D0}&end={D4}")
        page.click(_cell(page, "blue-peak", D1))
        page.wait_for_url(f"{base}/day/blue-peak/{D1}")
        for route in ("/roasters/blue-peak", f"/day/dune-coffee/{D0}"):
            page.goto(f"{base}{route}")
            assert page.evaluate("window.pwned") is None
            assert HOSTILE in page.inner_text("body")  # shown, as text
    written = write_report(config, Target(db_url, False), check_output_dir(str(tmp_path / "export")),
                           page_range(config, D0, D4, []))
    _check_map(page, Path(written["index"]).as_uri())  # the same in report --html's files
    assert page.errors == []
