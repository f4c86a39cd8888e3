"""The incremental coverage check: models/ops/coverage_daily.sql and macros/coverage/.

Each change an operator or the runner makes is followed by a plain build of the coverage
model; the test checks which (roaster, day)s it recomputed, then that a full recount
(--full-refresh) gives exactly the same table. The lookback margin is set to zero so that
"recomputed" means "changed since the previous build" and nothing else.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import psycopg
import pytest

from runner.sandbox.simulator import DEFAULT_SHOPS
from tests.runner.helpers import CLOCK, TODAY, days_from, dbt, fetch_days, last_second_of, sim_config

pytestmark = pytest.mark.xdist_group("coverage_history")  # one worker builds the module's history template once

DAYS = days_from(dt.date(2026, 3, 2), 3)
SHOPS = ("aurora-beans", "blue-peak", "cedar-roast", "dune-coffee")
COLUMNS = "roaster_id, day, status, runs, valid_artifacts, price_rows, acknowledged, acknowledged_reason"


TIMEZONES = {shop.id: shop.timezone for shop in DEFAULT_SHOPS}


@pytest.fixture(scope="session")
def history_template(templates, shared_sim, tmp_path_factory):
    """Three days of all four shops, built once per worker with a plain `dbt run`."""
    def build(target, env):
        env.setenv("COFFEE_CHANGE_LOOKBACK", "0 seconds")
        env.setenv("COFFEE_NOW", CLOCK.isoformat())
        shared_sim.reset()
        _, config = sim_config(shared_sim, tmp_path_factory.mktemp("coverage-history"), since=DAYS[0])
        assert {r.status for r in fetch_days(shared_sim, config, target, DAYS)} == {"ok"}
        result = dbt(target, "run")
        assert result.ok, result.output[-3000:]

    return templates("coverage_history", build)


@pytest.fixture
def history(db_url, shared_sim, tmp_path, monkeypatch):
    monkeypatch.setenv("COFFEE_CHANGE_LOOKBACK", "0 seconds")
    monkeypatch.setenv("COFFEE_NOW", CLOCK.isoformat())
    shared_sim.reset()
    _, config = sim_config(shared_sim, tmp_path, since=DAYS[0])
    return shared_sim, config


def _local_today(roaster_id: str, moment: dt.datetime) -> dt.date:
    return moment.astimezone(ZoneInfo(TIMEZONES[roaster_id])).date()


# The moments a wall-clock test would fail at: the last second of TODAY in each shop's timezone.
LAST_SECONDS = {tz: last_second_of(TODAY, tz) for tz in TIMEZONES.values()}


def _coverage(db) -> list[tuple]:
    return db.execute(f"select {COLUMNS} from ops.coverage_daily order by roaster_id, day").fetchall()


def _row_versions(db) -> dict[tuple[str, dt.date], str]:
    return dict(((r, d), x) for r, d, x in db.execute("select roaster_id, day, xmin::text from ops.coverage_daily"))


def _check(db, target, *args: str, **variables) -> set[tuple[str, dt.date]]:
    """Build coverage (plus any other selected models); return the (roaster, day)s it
    rewrote: a row it left alone keeps its version (xmin), one it replaced does not."""
    begun = db.execute("select clock_timestamp()").fetchone()[0]
    before = _row_versions(db)
    result = dbt(target, "run", "--select", *(args or ("coverage_daily",)), **variables)
    assert result.ok, result.output[-3000:]
    checks = db.execute("select count(*) from control.coverage_checks where checked_at > %s", (begun,)).fetchone()
    assert checks[0] == 1
    after = _row_versions(db)
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def _assert_equals_full_recount(db, target, **variables) -> None:
    incremental = _coverage(db)
    assert dbt(target, "run", "--select", "coverage_daily", "--full-refresh", **variables).ok
    assert _coverage(db) == incremental


def test_a_new_day_recomputes_that_day_only(history, db, target):
    sim, config = history
    new_day = DAYS[-1] + dt.timedelta(days=1)
    assert db.execute("select status from ops.coverage_daily where roaster_id = 'aurora-beans' and day = %s",
                      (new_day,)).fetchone() == ("missing",)
    fetch_days(sim, config, target, [new_day], roasters={"aurora-beans"})
    # the runner's daily path: marts without a range, then coverage
    changed = _check(db, target, "prices", "scrape_artifacts", "coverage_daily")
    assert changed == {("aurora-beans", new_day)}
    assert db.execute("select status from ops.coverage_daily where roaster_id = 'aurora-beans' and day = %s",
                      (new_day,)).fetchone() == ("complete",)
    logged = db.execute("select distinct model, roaster_id, start_day, end_day from control.mart_rebuilds "
                        "where start_day = %s", (new_day,)).fetchall()
    assert sorted(logged) == [("prices", "aurora-beans", new_day, new_day),
                              ("scrape_artifacts", "aurora-beans", new_day, new_day)]
    _assert_equals_full_recount(db, target)


def test_nothing_changed_recomputes_nothing(history, db, target):
    assert _check(db, target) == set()
    total = db.execute("select count(*) from ops.coverage_daily").fetchone()[0]
    assert total == 4 * ((TODAY - DAYS[0]).days + 1)  # every shop from DAYS[0] to the clock's today


@pytest.mark.parametrize("moment", LAST_SECONDS.values(), ids=LAST_SECONDS.keys())
def test_today_is_the_clocks_in_each_roasters_timezone(history, db, target, monkeypatch, moment):
    """At 23:59:59 somewhere, some shops are already on the next day: exactly their new
    day is recomputed, every calendar ends on its own local today, and a recount agrees."""
    monkeypatch.setenv("COFFEE_NOW", moment.isoformat())
    gained = {(r, _local_today(r, moment)) for r in SHOPS if _local_today(r, moment) > TODAY}
    assert _check(db, target) == gained
    last_days = dict(db.execute("select roaster_id, max(day) from ops.coverage_daily group by 1").fetchall())
    assert last_days == {r: _local_today(r, moment) for r in SHOPS}
    _assert_equals_full_recount(db, target)


def test_acknowledgement_recomputes_its_days(history, db, target):
    days = (DAYS[-1] + dt.timedelta(days=5), DAYS[-1] + dt.timedelta(days=7))
    db.execute("""insert into control.acknowledged_gaps (roaster_id, start_day, end_day, reason)
                  values ('blue-peak', %s, %s, 'shop closed for the holidays')""", days)
    changed = _check(db, target)
    assert changed == {("blue-peak", days[0] + dt.timedelta(days=i)) for i in range(3)}
    reasons = db.execute("select distinct acknowledged_reason from ops.coverage_daily where roaster_id = 'blue-peak' "
                         "and day between %s and %s", days).fetchall()
    assert reasons == [("shop closed for the holidays",)]
    _assert_equals_full_recount(db, target)


def test_a_range_rebuild_of_the_marts_is_seen_by_the_next_plain_check(history, db, target):
    # derived rows lost by hand, restored by a range rebuild of prices alone
    db.execute("delete from marts.prices where day = %s", (DAYS[1],))
    assert dbt(target, "run", "--select", "prices", start_date=str(DAYS[1]), end_date=str(DAYS[1])).ok
    assert db.execute("select roaster_id, start_day, end_day from control.mart_rebuilds where model = 'prices' "
                      "order by rebuilt_at desc limit 1").fetchone() == (None, DAYS[1], DAYS[1])
    assert _check(db, target) == {(shop, DAYS[1]) for shop in SHOPS}
    _assert_equals_full_recount(db, target)


def test_a_run_without_a_target_day_lands_on_its_local_day(history, db, target):
    day = DAYS[-1] + dt.timedelta(days=3)
    db.execute("""insert into raw.scrape_runs (id, roaster_id, kind, status, started_at, finished_at)
                  values (%s, 'cedar-roast', 'live', 'fail', %s, %s)""",
               (uuid.uuid4(), dt.datetime.combine(day, dt.time(12), dt.timezone.utc),
                dt.datetime.combine(day, dt.time(12, 1), dt.timezone.utc)))
    assert _check(db, target) == {("cedar-roast", day)}
    assert db.execute("select status, runs from ops.coverage_daily where roaster_id = 'cedar-roast' and day = %s",
                      (day,)).fetchone() == ("failed", 1)
    _assert_equals_full_recount(db, target)


def test_a_deactivated_roaster_leaves_and_a_changed_one_is_recomputed_whole(history, db, target):
    blue_peak_days = db.execute("select count(*) from ops.coverage_daily where roaster_id = 'blue-peak'").fetchone()[0]
    db.execute("update raw.roasters set active = false, updated_at = now() where id = 'blue-peak'")
    db.execute("update raw.roasters set since = %s, updated_at = now() where id = 'dune-coffee'", (DAYS[1],))
    changed = _check(db, target)
    assert len({key for key in changed if key[0] == "blue-peak"}) == blue_peak_days
    assert ("dune-coffee", DAYS[0]) in changed  # before its new since: gone
    assert {key[0] for key in changed} == {"blue-peak", "dune-coffee"}
    assert db.execute("select count(*) from ops.coverage_daily where roaster_id = 'blue-peak'").fetchone()[0] == 0
    first = db.execute("select min(day) from ops.coverage_daily where roaster_id = 'dune-coffee'").fetchone()[0]
    assert first == DAYS[1]
    _assert_equals_full_recount(db, target)


@pytest.mark.parametrize("moment", [CLOCK, *LAST_SECONDS.values()], ids=["noon-utc", *LAST_SECONDS.keys()])
def test_a_full_rebuild_of_a_mart_makes_the_next_check_recount_everything(history, db, target, monkeypatch, moment):
    monkeypatch.setenv("COFFEE_NOW", moment.isoformat())
    assert dbt(target, "run", "--select", "prices", "--full-refresh").ok
    assert db.execute("select count(*) from control.mart_rebuilds where model = 'prices' and roaster_id is null "
                      "and start_day is null and end_day is null").fetchone()[0] >= 1
    assert _check(db, target) == set(_row_versions(db))
    _assert_equals_full_recount(db, target)


def test_raw_lost_behind_the_guard_is_found_by_a_range_check(history, db, target):
    """The documented limit: the plain check trusts the append-only guard; a range recounts."""
    with db.transaction():
        db.execute("set local session_replication_role = replica")  # around the guard, as a superuser could
        db.execute("""delete from raw.scrape_artifacts
                       where run_id in (select id from raw.scrape_runs where roaster_id = 'aurora-beans'
                                        and target_day = %s)""", (DAYS[1],))
    assert _check(db, target) == set()
    assert db.execute("select status from ops.coverage_daily where roaster_id = 'aurora-beans' and day = %s",
                      (DAYS[1],)).fetchone() == ("complete",)
    in_range = _check(db, target, start_date=str(DAYS[0]), end_date=str(DAYS[-1]))
    assert in_range == {(shop, day) for shop in SHOPS for day in DAYS}  # a range is always recomputed
    assert db.execute("select status from ops.coverage_daily where roaster_id = 'aurora-beans' and day = %s",
                      (DAYS[1],)).fetchone() == ("partial",)
    assert db.execute("select start_day, end_day from control.coverage_checks order by checked_at desc "
                      "limit 1").fetchone() == (DAYS[0], DAYS[-1])
    # in its range a check re-validates raw, so compare with a recount of the same range
    _assert_equals_full_recount(db, target, start_date=str(DAYS[0]), end_date=str(DAYS[-1]))


def test_truncating_raw_is_refused(db):
    for table in ("raw.scrape_artifacts", "raw.scrape_runs"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only: TRUNCATE refused"):
            db.execute(f"truncate {table} cascade")


def test_a_bad_lookback_fails_cleanly(history, db, target, monkeypatch):
    monkeypatch.setenv("COFFEE_CHANGE_LOOKBACK", "5 minutes'; drop table raw.roasters; --")
    result = dbt(target, "run", "--select", "coverage_daily")
    assert not result.ok and "COFFEE_CHANGE_LOOKBACK must look like" in result.output
    assert db.execute("select count(*) from raw.roasters").fetchone()[0] == 4
