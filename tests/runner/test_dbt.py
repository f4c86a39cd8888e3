"""The dbt project against a real database filled from the simulator over real HTTP.

Past days are replayed through the live fetcher with the simulator's day and the
fetcher's clock both set to that day, so raw data looks as if it had been scraped then.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import psycopg
import pytest

from runner.sandbox.simulator import Simulator
from tests.runner.helpers import CLOCK, days_from, dbt, fetch_days, last_dbt_nodes, sim_config, snapshot_tables

pytestmark = pytest.mark.xdist_group("dbt_history")  # one worker builds the module's history template once

DAYS = days_from(dt.date(2026, 3, 2), 4)


SINCE = DAYS[0] - dt.timedelta(days=2)


@pytest.fixture(scope="session")
def history_template(templates, shared_sim, tmp_path_factory):
    """Four days of all four shops, built once per worker with a plain `dbt build`."""
    def build(target, env):
        env.setenv("COFFEE_NOW", CLOCK.isoformat())
        shared_sim.reset()
        _, config = sim_config(shared_sim, tmp_path_factory.mktemp("dbt-history"), since=SINCE)
        runs = fetch_days(shared_sim, config, target, DAYS)
        assert {r.status for r in runs} == {"ok"}
        result = dbt(target, "build")
        assert result.ok, result.output[-3000:]

    return templates("dbt_history", build)


@pytest.fixture
def history(db_url, shared_sim, tmp_path, monkeypatch):
    """A copy of the history template, with the simulator that served it and its config."""
    monkeypatch.setenv("COFFEE_NOW", CLOCK.isoformat())
    shared_sim.reset()
    _, config = sim_config(shared_sim, tmp_path, since=SINCE)
    return shared_sim, config


def _prices(db, roaster: str, day: dt.date) -> dict[str, tuple]:
    rows = db.execute(
        """select variant_id, product_id, price, compare_at_price, is_sale, in_stock, currency, weight_g, grind
             from marts.prices where roaster_id = %s and day = %s""", (roaster, day)).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_marts_equal_the_simulators_truth_for_every_day(history, db):
    sim, _ = history
    checked = 0
    for day in DAYS:
        for shop in sim.state.shops:
            truth = {t["variant_id"]: t for t in sim.truth(shop, day)}
            got = _prices(db, shop, day)
            assert set(got) == set(truth), (shop, day)
            for vid, (pid, price, compare_at, is_sale, in_stock, currency, weight, grind) in got.items():
                t = truth[vid]
                assert (pid, price, compare_at, is_sale, currency) == (
                    t["product_id"], t["price"], t["compare_at_price"], t["is_sale"], t["currency"]), vid
                assert (weight, grind) == (t["weight_g"], t["grind"].lower() if t["grind"] else None), vid
                # Some Shopify storefronts leave 'available' out: unknown, never wrong.
                assert in_stock in (t["in_stock"], None), vid
                checked += 1
    assert checked > 400
    assert db.execute("select count(*) from marts.prices where in_stock is null").fetchone()[0] < checked / 2
    status = dict(db.execute("select status, count(*) from ops.coverage_daily where day between %s and %s "
                             "group by status", (DAYS[0], DAYS[-1])).fetchall())
    assert status == {"complete": 16}
    # a roaster that stopped: every day after its last data up to today is a gap
    trailing = db.execute("select count(*), min(day), bool_and(status = 'missing') from ops.coverage_daily "
                          "where roaster_id = 'blue-peak' and day > %s", (DAYS[-1],)).fetchone()
    assert trailing[0] > 30 and trailing[1] == DAYS[-1] + dt.timedelta(days=1) and trailing[2]
    variants = db.execute("select count(*), count(distinct product_id) from marts.variants").fetchone()
    assert variants[0] == db.execute("select count(distinct variant_id) from marts.prices").fetchone()[0]
    assert db.execute("select count(*) from marts.products").fetchone()[0] == variants[1]


def test_range_rebuild_replaces_only_the_range_and_is_idempotent(history, db, target):
    marts = ("marts.prices", "marts.scrape_artifacts", "marts.variants", "marts.products", "marts.scrape_runs")
    before = snapshot_tables(db, marts)
    xmin_before = dict(db.execute("select variant_id || scraped_at, xmin::text from marts.prices").fetchall())
    after = []
    for range_as_vars in (True, False):  # a person's --vars, then the runner's channel: same tables
        result = dbt(target, "build", start_date=str(DAYS[1]), end_date=str(DAYS[2]), range_as_vars=range_as_vars)
        assert result.ok, result.output[-3000:]
        assert snapshot_tables(db, marts) == before
        after.append(snapshot_tables(db))
    assert after[0] == after[1]  # coverage too: it ends at the range's end both times
    rows = db.execute("select variant_id || scraped_at, day, xmin::text from marts.prices").fetchall()
    for key, day, xmin in rows:
        if DAYS[1] <= day <= DAYS[2]:
            assert xmin != xmin_before[key]  # rewritten
        else:
            assert xmin == xmin_before[key]  # untouched


def test_one_roaster_one_day_rebuild_touches_nothing_else(history, db, target):
    assert dbt(target, "run", "--select", "scrape_artifacts").ok  # a plain build: parses in full once
    xmin_before = dict(db.execute("select id::text, xmin::text from marts.scrape_artifacts").fetchall())
    result = dbt(target, "run", "--select", "scrape_artifacts", start_date=str(DAYS[0]), end_date=str(DAYS[0]),
                 roasters=["cedar-roast"])
    assert result.ok, result.output[-3000:]
    # the range came in $COFFEE_DBT_RANGE, so the parse of the plain build just before was reused
    assert "full parse" not in result.output and "Unable to do partial parsing" not in result.output
    rows = db.execute("select id::text, roaster_id, day, xmin::text from marts.scrape_artifacts").fetchall()
    changed = {(r, d) for i, r, d, x in rows if x != xmin_before[i]}
    assert changed == {("cedar-roast", DAYS[0])}


def test_corrupted_artifact_leaves_the_range_and_returns_when_restored(history, db, target):
    victim = db.execute(
        """select id from raw.captures
            where roaster_id = 'blue-peak' and resource = 'products' and page = 1
              and captured_at::date = %s""", (DAYS[1],)).fetchone()[0]
    before = _prices(db, "blue-peak", DAYS[1])
    assert before
    corrupt = json.dumps({"products": [{"id": 1, "title": "x", "variants": [{"id": 2, "price": "N/A"}]}]})
    _bypass_guard_update(db, victim, corrupt)
    result = dbt(target, "build", start_date=str(DAYS[1]), end_date=str(DAYS[1]))
    # the models all build; the only complaint is a warning: the day is now a gap
    assert result.returncode == 0 and not result.counts.get("error") and not result.counts.get("fail")
    assert [(f["status"], "no_gaps" in f["node"]) for f in result.failures] == [("warn", True)], result.failures
    verdict = db.execute("select validation_status, validation_errors from marts.scrape_artifacts where id = %s",
                         (victim,)).fetchone()
    assert verdict == ("invalid", ["no priced item (price not a number)"])
    rejected = db.execute("select reason, raw_value ->> 'price' from marts.rejected_items where artifact_id = %s",
                          (victim,)).fetchall()
    assert rejected == [("price not a number", "N/A")]
    assert _prices(db, "blue-peak", DAYS[1]) == {}
    # Its only data page is invalid (the empty end page proves nothing): fetched, nothing valid.
    assert db.execute("select status from ops.coverage_daily where roaster_id = 'blue-peak' and day = %s",
                      (DAYS[1],)).fetchone()[0] == "invalid"
    assert _prices(db, "blue-peak", DAYS[0])  # other days keep their prices
    _bypass_guard_update(db, victim, None)  # the capture reads its stored body again
    assert dbt(target, "build", start_date=str(DAYS[1]), end_date=str(DAYS[1])).ok
    assert _prices(db, "blue-peak", DAYS[1]) == before


def _bypass_guard_update(db, artifact_id, body: str | None) -> None:
    """Simulate disk corruption or a stray manual UPDATE: the append-only trigger is bypassed."""
    with db.transaction():
        db.execute("set local session_replication_role = replica")
        db.execute("update raw.scrape_artifacts set body = %s::jsonb where id = %s", (body, artifact_id))


def test_day_by_day_builds_equal_one_full_refresh(tmp_path, target, db):
    with Simulator() as sim:
        _, config = sim_config(sim, tmp_path)
        for day in DAYS[:3]:
            fetch_days(sim, config, target, [day])
            result = dbt(target, "run", start_date=str(day), end_date=str(day))
            assert result.ok, result.output[-3000:]
    daily = snapshot_tables(db, ("marts.prices", "marts.scrape_artifacts", "marts.variants", "marts.products"))
    assert len(daily["marts.prices"]) > 300
    assert dbt(target, "run", "--full-refresh").ok
    assert snapshot_tables(db, tuple(daily)) == daily


def test_plain_incremental_run_picks_up_new_raw_days_only(history, db, target, monkeypatch):
    sim, config = history
    # no margin for writers still open during the last build: the history was fetched
    # seconds before it, and would count as new
    monkeypatch.setenv("COFFEE_CHANGE_LOOKBACK", "0 seconds")
    xmin_before = dict(db.execute("select variant_id || scraped_at, xmin::text from marts.prices").fetchall())
    new_day = DAYS[-1] + dt.timedelta(days=1)
    fetch_days(sim, config, target, [new_day], roasters={"aurora-beans"})
    assert dbt(target, "run").ok
    rows = db.execute("select variant_id || scraped_at, roaster_id, day, xmin::text from marts.prices").fetchall()
    new = {(r, d) for k, r, d, x in rows if k not in xmin_before}
    assert new == {("aurora-beans", new_day)}
    assert all(xmin == xmin_before[k] for k, _, _, xmin in rows if k in xmin_before)


# A day of runs with a one-product page (and the empty page that ends the walk) for every
# roaster, written in SQL: the plain build below needs more new days than a browser-scale
# fetch could make quickly.
SYNTHETIC_DAYS = """
insert into raw.scrape_runs (id, roaster_id, kind, status, target_day, started_at, finished_at, pages, artifacts)
select md5(roasters.id || day::date)::uuid, roasters.id, 'live', 'ok', day::date, day + time '10:00',
       day + time '10:01', 1, 2
from raw.roasters cross join generate_series(%(first)s::date, %(last)s::date, interval '1 day') as day;
insert into raw.scrape_artifacts (id, run_id, roaster_id, url, requested_url, resource, page, attempt, source,
                                  http_status, content_type, body, captured_at)
select md5(runs.id::text || page)::uuid, runs.id, runs.roaster_id, url, url, 'products', page, 1, 'live', 200,
       'application/json',
       case when page = 1 then jsonb_build_object('products', jsonb_build_array(jsonb_build_object(
           'id', 1, 'title', 'House Blend', 'options', '[]'::jsonb, 'variants', jsonb_build_array(jsonb_build_object(
               'id', 11, 'title', '250g', 'price', to_char(10 + extract(doy from runs.target_day) / 100, 'FM990.00'),
               'available', true)))))
       else '{"products": []}'::jsonb end,
       runs.started_at
from raw.scrape_runs as runs
cross join generate_series(1, 2) as page
cross join format('%%s/products.json?page=%%s', runs.roaster_id, page) as url
where runs.target_day between %(first)s and %(last)s
"""


def test_plain_build_with_more_new_days_than_it_lists_rebuilds_a_superset(tmp_path, target, db, monkeypatch):
    monkeypatch.setenv("COFFEE_CHANGE_LOOKBACK", "0 seconds")
    with Simulator() as sim:
        _, config = sim_config(sim, tmp_path, since=dt.date(2023, 1, 1))
        fetch_days(sim, config, target, [dt.date(2026, 3, 2)], roasters={"aurora-beans"})  # syncs the roasters
    db.execute("update raw.roasters set platform = 'shopify', currency = 'USD'")
    assert dbt(target, "run", "--select", "+prices", "+scrape_artifacts").ok
    # four roasters x 600 days = 2,400 new (roaster, day)s: more than the 2,000 listed one by one
    with db.transaction():
        for statement in SYNTHETIC_DAYS.split(";"):
            db.execute(statement, {"first": dt.date(2024, 1, 1), "last": dt.date(2025, 8, 22)})
    rebuilds = """select roaster_id, start_day, end_day from control.mart_rebuilds
                   where model = 'prices' and kind = 'new' order by roaster_id"""
    earlier = db.execute(rebuilds).fetchall()
    assert dbt(target, "run", "--select", "prices", "scrape_artifacts").ok
    logged = [row for row in db.execute(rebuilds).fetchall() if row not in earlier]
    assert logged == [(shop, dt.date(2024, 1, 1), dt.date(2025, 8, 22))
                      for shop in ("aurora-beans", "blue-peak", "cedar-roast", "dune-coffee")]
    built = snapshot_tables(db, ("marts.prices", "marts.scrape_artifacts"))
    assert len(built["marts.prices"]) == 2400 + db.execute(
        "select count(*) from marts.prices where day = '2026-03-02'").fetchone()[0]
    # a full refresh replaces scrape_artifacts, and with it the view that reads it
    # (int_prices_observed): rebuild them together, as `dbt build --full-refresh` does
    assert dbt(target, "run", "--select", "prices", "scrape_artifacts", "int_prices_observed",
               "--full-refresh").ok
    assert snapshot_tables(db, tuple(built)) == built


BAD_VARS = [
    ({"start_date": "yesterday", "end_date": "2026-03-03"}, "must be a date YYYY-MM-DD"),
    ({"start_date": "2026-02-30", "end_date": "2026-03-03"}, "is not a real date"),
    ({"start_date": "2026-03-05", "end_date": "2026-03-03"}, "is after end_date"),
    ({"start_date": "2026-03-01'; drop table marts.prices; --", "end_date": "2026-03-03"}, "must be a date"),
    ({"start_date": "2026-03-01", "end_date": "2026-03-03", "roasters": ["nope"]}, "unknown roaster"),
    ({"start_date": "2026-03-01", "end_date": "2026-03-03", "roasters": ["x') or true --"]}, "is not a roaster id"),
    ({"start_date": {"a": 1}, "end_date": "2026-03-03"}, "must be a plain date"),
    ({"start_date": "2026-03-01"}, "go together"),
]


# Both channels reach the same checks (macros/range/); every case goes through the runner's
# channel, a few through --vars as a person types them (each --vars run costs a full parse).
BAD_CLI_VARS = [BAD_VARS[i] for i in (0, 3, 6)]


@pytest.mark.parametrize(("range_as_vars", "cases"), [(True, BAD_CLI_VARS), (False, BAD_VARS)],
                         ids=["--vars", "COFFEE_DBT_RANGE"])
def test_bad_vars_fail_cleanly_before_any_sql_and_change_nothing(history, db, target, range_as_vars, cases):
    before = snapshot_tables(db)
    for variables, message in cases:
        result = dbt(target, "build", range_as_vars=range_as_vars, **variables)
        assert not result.ok, variables
        assert message in result.output, (variables, result.output[-1500:])
        assert "Compilation Error" in result.output
        assert not result.counts.get("success"), variables  # no model ran
    assert snapshot_tables(db) == before


def test_no_gaps_warns_by_default_errors_when_strict_and_honours_acknowledgements(history, db, target):
    window = {"start_date": str(DAYS[0] - dt.timedelta(days=2)), "end_date": str(DAYS[-1])}
    warn = dbt(target, "test", "--select", "coverage_daily", **window)
    assert warn.ok and warn.counts.get("warn") == 1
    strict = dbt(target, "test", "--select", "coverage_daily", **window, strict_gaps=True)
    assert not strict.ok and strict.counts.get("fail") == 1
    failing = strict.failures[0]["failures"]
    assert failing == 8  # two missing days before the history, four shops
    for shop in ("aurora-beans", "blue-peak", "cedar-roast", "dune-coffee"):
        db.execute("""insert into control.acknowledged_gaps (roaster_id, start_day, end_day, reason)
                      values (%s, %s, %s, 'shop was offline')""", (shop, DAYS[0] - dt.timedelta(days=2),
                                                                   DAYS[0] - dt.timedelta(days=1)))
    assert dbt(target, "build", "--select", "coverage_daily+", **window, strict_gaps=True).ok
    assert db.execute("select count(*) from ops.gaps where acknowledged").fetchone()[0] >= 8


def test_money_is_numeric_never_float(history, db):
    types = dict(db.execute("""select column_name, data_type || coalesce('(' || numeric_precision || ',' ||
                                      numeric_scale || ')', '')
                                 from information_schema.columns
                                where table_schema = 'marts' and table_name = 'prices'""").fetchall())
    # numeric, never float; rounded to each currency's minor units (0, 2 and 3 all occur),
    # so the column is unconstrained numeric and every value carries its currency's scale
    assert types["price"] == "numeric" and types["compare_at_price"] == "numeric"
    assert Decimal(str(db.execute("select min(price) from marts.prices").fetchone()[0])) > 0
    wrong_scale = db.execute("""select count(*) from marts.prices as p
                                  join reference.iso_currencies as iso on iso.currency_code = p.currency
                                 where scale(p.price) <> iso.minor_units""").fetchone()[0]
    assert wrong_scale == 0


def test_a_day_whose_rejections_jump_warns_and_verify_counts_them(history, db, target):
    from runner.ops.checks import verify

    _, config = history
    victim, body = db.execute(
        """select id, body from raw.captures
            where roaster_id = 'blue-peak' and resource = 'products' and page = 1
              and captured_at::date = %s""", (DAYS[2],)).fetchone()
    broken = 0
    for product in body["products"]:
        if product["title"].startswith("Free Sample"):
            continue  # it stays a "price <= 0" rejection
        for variant in product["variants"][::2]:  # a format change: every other price unreadable
            variant["price"] = "N/A"
            broken += 1
    _bypass_guard_update(db, victim, json.dumps(body))
    assert dbt(target, "build", start_date=str(DAYS[2]), end_date=str(DAYS[2])).ok  # a warning, not an error
    report = verify(config, target, DAYS[0], DAYS[-1], config.roasters)
    rejected = report["rejected_items"]
    assert rejected["by_reason"] == {"price <= 0": 16, "price not a number": broken}  # one free sample a shop-day
    assert rejected["total"] == 16 + broken and rejected["unusual_days"] == 1
    warned = [f for f in report["dbt"]["failures"] if f["node"].endswith("assert_rejected_share_is_usual")]
    assert warned == [{"node": warned[0]["node"], "status": "warn", "failures": 1, "message": warned[0]["message"]}]
    # the page itself stays valid and the day complete: its other prices are all there
    assert db.execute("select validation_status from marts.scrape_artifacts where id = %s",
                      (victim,)).fetchone()[0] == "valid"
    assert db.execute("select status from ops.coverage_daily where roaster_id = 'blue-peak' and day = %s",
                      (DAYS[2],)).fetchone()[0] == "complete"


def test_verify_reports_each_integrity_check_from_its_dbt_test(history, db, target):
    """The runbook's integrity checks live in dbt tests only; verify reads their results."""
    from runner.ops.checks import verify

    _, config = history
    clean = verify(config, target, DAYS[0], DAYS[-1], config.roasters)
    assert clean["ok"] and set(clean["integrity"].values()) == {0}
    assert any(n.startswith("unit_test.") for n in last_dbt_nodes())  # verify runs dbt's unit tests too
    invalid_id, invalid_rows = db.execute("""select artifact_id, count(*) from marts.prices
                                              group by 1 order by 1 limit 1""").fetchone()
    with db.transaction():
        # a duplicate price cannot be written: prices has a unique index on its key
        with pytest.raises(psycopg.errors.UniqueViolation), db.transaction():
            db.execute("insert into marts.prices select * from marts.prices order by variant_id limit 1")
        # an orphan price
        db.execute("""create temp table one_price as select * from marts.prices
                       where artifact_id <> %s order by variant_id, scraped_at limit 1""", (invalid_id,))
        db.execute("update one_price set variant_id = 'ghost-variant'")
        db.execute("insert into marts.prices select * from one_price")
        db.execute("""create temp table one_variant as select * from marts.variants order by id limit 1""")
        db.execute("update one_variant set id = 'ghost-variant-2', roaster_id = 'ghost-roaster'")
        db.execute("insert into marts.variants select * from one_variant")
        db.execute("""create temp table one_artifact as select * from marts.scrape_artifacts order by id limit 1""")
        db.execute("update one_artifact set id = gen_random_uuid(), run_id = gen_random_uuid()")
        db.execute("insert into marts.scrape_artifacts select * from one_artifact")
        db.execute("update marts.scrape_artifacts set validation_status = 'invalid' where id = %s", (invalid_id,))
    report = verify(config, target, DAYS[0], DAYS[-1], config.roasters)
    assert report["integrity"] == {"prices_without_variant": 1, "variants_without_roaster": 1,
                                   "artifacts_without_run": 1, "prices_from_invalid_artifacts": invalid_rows}
    assert not report["ok"]
