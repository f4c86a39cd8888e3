"""Conditional requests: a shop that sends validators is asked If-None-Match the next time;
its 304 is stored as a capture of the previous body and counts as that page for the day."""

from __future__ import annotations

import dataclasses
import datetime as dt

from runner.sandbox.simulator import DEFAULT_SHOPS, Simulator, changing
from runner.web.health import metrics
from tests.runner.helpers import TODAY, dbt, fetch_days, sim_config

DAYS = [TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1)]


def test_a_304_is_a_capture_of_the_previous_body_and_counts_as_the_page(tmp_path, target, db):
    shops = tuple(dataclasses.replace(s, validators=True) for s in changing(DEFAULT_SHOPS, 0.0, 1.0)
                  if s.id in ("blue-peak", "cedar-roast"))
    with Simulator(shops=shops, today=TODAY) as sim:
        _, config = sim_config(sim, tmp_path)
        runs = fetch_days(sim, config, target, DAYS)
    assert {r.status for r in runs} == {"ok"}
    day_two = db.execute("""select a.id, a.requested_url, a.http_status, a.sha256, a.request, a.byte_exact
                              from raw.scrape_artifacts as a join raw.scrape_runs as r on r.id = a.run_id
                             where r.target_day = %s and a.resource in ('products', 'variations')""",
                         (DAYS[1],)).fetchall()
    day_one = {url: (artifact, sha) for artifact, url, sha in db.execute(
        """select a.id, a.requested_url, a.sha256 from raw.scrape_artifacts as a
             join raw.scrape_runs as r on r.id = a.run_id
            where r.target_day = %s and a.http_status = 200""", (DAYS[0],)).fetchall()}
    not_modified = []
    for artifact, url, status, sha, request, exact in day_two:
        if url not in day_one:
            continue  # a page the first day did not have (products arrive)
        sent = {name.lower(): value for name, value in request["headers"]}
        assert sent["if-none-match"].startswith('"') and exact  # asked conditionally
        assert (status == 304) == (sha == day_one[url][1]), url  # 304 exactly when unchanged
        if status == 304:
            not_modified.append((artifact, day_one[url][0]))
    assert len(not_modified) >= 3
    distinct = db.execute("select count(distinct sha256) from raw.scrape_artifacts").fetchone()[0]
    assert db.execute("select count(*) from raw.bodies").fetchone()[0] == distinct
    assert dbt(target, "build").ok
    priced = 0
    for again, before in not_modified:  # the page's prices, on the second day
        assert _offers(db, again) == _offers(db, before)
        if _offers(db, again):  # (a WooCommerce parent page prices through its variations)
            priced += 1
            assert _days(db, again) == {DAYS[1]}
    assert priced >= 2
    statuses = set(db.execute("select status from ops.coverage_daily where day = %s", (DAYS[1],)).fetchall())
    assert statuses == {("complete",)}
    text = metrics(config, target)
    assert f'coffee_fetch_requests_total{{result="not_modified"}} {float(len(not_modified))}' in text


def _offers(db, artifact) -> set:
    return set(db.execute("select variant_id, price, in_stock from marts.prices where artifact_id = %s",
                          (artifact,)).fetchall())


def _days(db, artifact) -> set:
    return {d for (d,) in db.execute("select distinct day from marts.prices where artifact_id = %s",
                                     (artifact,)).fetchall()}
