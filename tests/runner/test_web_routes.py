"""The dashboard's routes (runner/web/app.py, routes.py, pages.py), the WSGI application
called in process: every route, its JSON, its status codes, HEAD and other methods, and
bad parameters answered with one line. The browser tests use the real server."""

from __future__ import annotations

import datetime as dt
import html
from zoneinfo import ZoneInfo

import httpx
import pytest

from runner.backfill import Options
from runner.backfill.ledger import record_plan
from runner.backfill.plan import Plan, PlanItem, action_for
from runner.sandbox.simulator import DEFAULT_SHOPS
from runner.store.db import Target
from tests.runner.dashboard_state import D0, D1, D2, D3, D4, DAYS, EXPECTED, history, history_template, in_process

pytestmark = pytest.mark.xdist_group("dashboard")  # one worker builds the module's history template once

__all__ = ["history", "history_template"]  # fixtures
TIMEZONES = {shop.id: shop.timezone for shop in DEFAULT_SHOPS}


@pytest.fixture
def web(history, db_url):
    _, config = history
    with in_process(config, db_url) as client:
        yield client


def _json(web: httpx.Client, url: str) -> dict:
    answer = web.get(url + ("&" if "?" in url else "?") + "format=json")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    return answer.json()


def test_every_cell_has_the_status_staged_for_it(web, db):
    data = _json(web, f"/?start={D0}&end={D4}")
    shown = {r["id"]: [c["status"] for c in r["cells"]] for r in data["roasters"]}
    assert shown == EXPECTED
    stored = dict(((r, d.isoformat()), s) for r, d, s in db.execute("select roaster_id, day, status from "
                                                                      "ops.coverage_daily").fetchall())
    for r in data["roasters"]:
        for c in r["cells"]:
            assert c["coverage_status"] == stored[(r["id"], c["day"])]
    totals = {s["name"]: s["count"] for s in data["statuses"]}
    assert totals == {s: sum(row.count(s) for row in EXPECTED.values()) for s in totals}
    assert {r["id"]: r["open_gaps"] for r in data["roasters"]} == {
        "aurora-beans": 1, "blue-peak": 2, "cedar-roast": 3, "dune-coffee": 3}


def test_the_heatmap_page_has_a_legend_and_a_cell_per_day(web):
    page = web.get("/", params={"start": str(D0), "end": str(D4)})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    for code, name in (("c", "complete"), ("n", "not_yet_due"), ("z", "paused"), ("a", "acknowledged")):
        assert f'data-code="{code}" data-status="{name}"' in text
    for roaster, statuses in EXPECTED.items():
        row = text.split(f'data-roaster="{roaster}"')[1].split('<span class="gaps">')[0]
        assert row.count("<i class=") == len(statuses)
    assert "/static/dashboard.js" in text and "/static/dashboard.css" in text
    assert "https://" not in text and "http://" not in text  # nothing remote


def test_default_range_is_the_last_90_days_and_roaster_filters(web):
    data = _json(web, "/")
    assert data["end"] == D4.isoformat() and len(data["days"]) == 90
    narrowed = web.get("/", params={"roaster": "blue-peak,dune-coffee", "format": "json"}).json()
    assert [r["id"] for r in narrowed["roasters"]] == ["blue-peak", "dune-coffee"]
    repeated = web.get("/?roaster=blue-peak&roaster=aurora-beans&format=json").json()
    assert [r["id"] for r in repeated["roasters"]] == ["blue-peak", "aurora-beans"]


def test_a_day_page_names_runs_artifacts_the_action_and_the_command(web):
    day = _json(web, f"/day/blue-peak/{D1}")
    assert day["status"] == "invalid" and day["action"] == "refetch_archive"
    assert day["command"] == f"coffee-runner backfill --roaster blue-peak --start {D1} --end {D1}"
    artifacts = [a for run in day["runs"] for a in run["artifacts"]]
    assert day["runs"] and any(a["resource"] == "products" and a["validation_status"] == "invalid"
                               and a["validation_errors"] for a in artifacts)
    page = web.get(f"/day/blue-peak/{D1}").text
    assert day["command"] in page and "invalid" in page and '<table class="artifacts">' in page
    today = _json(web, f"/day/dune-coffee/{D4}")
    assert (today["status"], today["action"], today["runs"]) == ("missing", "refetch_live", [])
    acknowledged = _json(web, f"/day/dune-coffee/{D0}")
    assert (acknowledged["status"], acknowledged["command"]) == ("acknowledged", None)
    assert acknowledged["coverage"]["acknowledged_reason"] == "never archived (test)"
    due = _json(web, f"/day/aurora-beans/{D4}")
    due_at = dt.datetime.fromisoformat(due["due_at"]).astimezone(ZoneInfo(TIMEZONES["aurora-beans"]))
    assert due["status"] == "not_yet_due" and (due_at.date(), due_at.hour) == (D4, 23)  # plus its jitter
    assert _json(web, f"/day/cedar-roast/{D3}")["paused"] == "shop maintenance"


def test_a_day_page_lists_rejected_items(web, db):
    run_day = db.execute("select roaster_id, day from marts.rejected_items order by day limit 1").fetchone()
    assert run_day is not None, "the simulator's catalogs carry free samples: some item is rejected"
    day = _json(web, f"/day/{run_day[0]}/{run_day[1]}")
    rejected = [x for run in day["runs"] for x in run["rejected"]]
    assert rejected and all(x["reason"] for x in rejected)


def test_backfill_pages_show_progress(web, history, db_url, db):
    _, config = history
    gaps = db.execute("select roaster_id, day, status from ops.coverage_daily where is_open_gap").fetchall()
    items = [PlanItem(r, d, s, action_for(s, d, config.roaster(r), "incremental")) for r, d, s in gaps]
    plan = Plan("incremental", D0, D4, [r.id for r in config.roasters], items)
    backfill_id = record_plan(Target(url=db_url, embedded=False), plan, Options(max_failure_rate=0.25))
    listed = _json(web, "/backfills")["backfills"]
    assert [b["id"] for b in listed] == [backfill_id] and listed[0]["status"] == "running"
    one = _json(web, f"/backfills/{backfill_id}")
    assert one["backfill"]["progress"]["total"] == len(plan.items) == 9
    assert one["backfill"]["progress"]["finished"] == 0 and one["backfill"]["progress"]["max_failure_rate"] == 0.25
    assert {i["action"] for i in one["items"]} == set(plan.counts)
    page = web.get(f"/backfills/{backfill_id}").text
    assert 'data-live="1"' in page and 'role="progressbar"' in page
    db.execute("""update control.backfill_items set state = 'failed' where backfill_id = %s
                   and (roaster_id, day) in (select roaster_id, day from control.backfill_items
                                              where backfill_id = %s order by day limit 4)""",
               (backfill_id, backfill_id))
    moved = _json(web, f"/backfills/{backfill_id}")["backfill"]["progress"]
    assert (moved["finished"], moved["failure_rate"]) == (4, 1.0)
    assert 'class="failure-rate over"' in web.get(f"/backfills/{backfill_id}").text


def test_the_roaster_page_charts_prices_and_shades_gaps(web):
    data = _json(web, f"/roasters/blue-peak?start={D0}&end={D4}")
    assert data["series"] and all(s["points"] for s in data["series"])
    assert {g["day"] for g in data["gaps"]} == {str(D1), str(D2)}
    page = web.get(f"/roasters/blue-peak?start={D0}&end={D4}").text
    assert page.count("<polyline") == len(data["series"])
    assert page.count('<rect class="gap"') == 2


BAD_INPUT = [
    ("/?start=2026-13-01", 400, "start: '2026-13-01' is not a date"),
    ("/?start=2026-11-20&end=2026-11-01", 400, "is after --end"),
    ("/?start=2024-01-01&end=2026-01-01", 400, "longer than 366 days"),
    ("/?roaster=nope", 400, "unknown roaster 'nope'"),
    ("/?bogus=1", 400, "unknown parameter 'bogus'"),
    ("/?start=", 400, "start is empty"),
    ("/?start=2026-11-01&start=2026-11-02", 400, "start given 2 times"),
    ("/?format=xml", 400, "format must be one of html, json"),
    ("/day/blue-peak/2026-02-30", 400, "date: '2026-02-30' is not a date"),
    ("/?start=0001-01-01&end=0001-01-02", 400, "start: 0001-01-01 is outside the days the runner handles"),
    ("/?start=9999-12-30&end=9999-12-31", 400, "start: 9999-12-30 is outside the days the runner handles"),
    ("/day/blue-peak/9999-12-31", 400, "date: 9999-12-31 is outside the days"),
    ("/roasters/blue-peak?start=0001-01-01&end=0001-01-02", 400, "outside the days"),
    ("/day/blue-peak/2026-11-17?x=1", 400, "unknown parameter 'x'"),
    ("/day/nope/2026-11-17", 404, "unknown roaster 'nope'"),
    ("/day/blue-peak/2020-01-01", 404, "no coverage row"),
    ("/backfills/not-a-uuid", 400, "is not a backfill id"),
    ("/backfills/00000000-0000-0000-0000-000000000000", 404, "no backfill"),
    ("/roasters/nope", 404, "unknown roaster 'nope'"),
    ("/roasters/blue-peak?roaster=x", 400, "unknown parameter 'roaster'"),
    ("/nothing/here", 404, "no page"),
    ("/static/%2e%2e%2fpasswd.js", 404, "no static file"),
    ("/static/nope.js", 404, "no static file"),
]


def test_bad_input_is_one_line_never_a_traceback(web):
    for url, status, says in BAD_INPUT:
        answer = web.get(url)
        text = html.unescape(answer.text)
        assert answer.status_code == status, (url, answer.text)
        assert says in text and "Traceback" not in text and "select " not in text, url
        if url.startswith(("/static", "/nothing")) or "format=" in url:
            continue
        error = web.get(url + ("&" if "?" in url else "?") + "format=json")
        assert error.status_code == status and error.headers["content-type"] == "application/json"
        assert list(error.json()) == ["error"] and "\n" not in error.json()["error"] and says in error.json()["error"]


def test_static_assets_ship_in_the_package_and_health_still_answers(web):
    css, js = web.get("/static/dashboard.css"), web.get("/static/dashboard.js")
    assert css.status_code == js.status_code == 200
    assert css.headers["content-type"].startswith("text/css") and "--c" in css.text
    assert js.headers["content-type"].startswith("text/javascript") and "page-data" in js.text
    assert web.get("/health").json()["checks"]["database"]["ok"] is True
    assert "coffee_healthy" in web.get("/metrics").text


def test_days_outside_a_calendar_have_no_cell(web):
    data = _json(web, f"/?start={D0 - dt.timedelta(days=2)}&end={D4}")
    for r in data["roasters"]:
        assert r["cells"][:2] == [None, None] and len(r["cells"]) == len(DAYS) + 2
    assert D2  # the staged days are the last five


def test_head_is_get_without_its_body_and_other_methods_are_refused(web):
    for route in ("/", "/health", "/metrics", "/static/dashboard.css"):
        get, head = web.get(route), web.head(route)
        assert head.status_code == get.status_code and head.content == b"" and get.content, route
        assert int(head.headers["content-length"]) > 0, route
    css = web.get("/static/dashboard.css")  # a fixed body: HEAD announces its exact length
    assert int(web.head("/static/dashboard.css").headers["content-length"]) == len(css.content)
    refused = web.post("/", content=b"x")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
