"""The runbook's twelve scenarios: how each is staged, detected and repaired.

Each one's `detect` and `repair` are the commands of the scenarios table in
docs/operations/runbook.md, with
{first}, {last}, {today}... filled from the world; `run` stages it, runs them as real
processes and returns what happened. See runner/sandbox/scenario_harness.py for the world.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from runner.sandbox.scenario_harness import (
    KILL_WAIT_SECONDS,
    SCENARIO_LATENCY_SECONDS,
    Ran,
    World,
    deploy,
    mismatches,
    roll_back,
    version_of,
)
from runner.sandbox.simulator import Fault
from runner.store.db import connect, one_row

Detected = Callable[[World, Any], str | None]  # what the detect command's JSON lacks (None: all named)


@dataclass(frozen=True)
class Scenario:
    name: str
    runbook: str  # "<the runbook's name for it>: <what is staged>"
    stage: Callable[[World], None]
    detect: tuple[str, ...]
    detected: Detected
    repair: tuple[tuple[str, ...], ...]
    how: str  # how it is detected, for the docs and the demo

    @property
    def title(self) -> str:
        """The scenario's name as the runbook writes it ("Rate Limit Issues")."""
        return self.runbook.split(":", 1)[0]


@dataclass
class Outcome:
    name: str
    detected: str | None = None  # None: the detect command named what broke
    commands: list[dict[str, Any]] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.detected is None and not self.mismatches and all(c["exit"] == 0 for c in self.commands)


def run(world: World, scenario: Scenario, say: Callable[[str], None] = lambda _: None, *,
        staged: bool = False) -> Outcome:
    """Stage the scenario (unless `staged`), run its detect command and its repair
    commands, compare with the truth."""
    outcome = Outcome(scenario.name)
    if not staged:
        scenario.stage(world)
    say(f"staged: {scenario.runbook}")
    found = world.cli(*world.fill(scenario.detect))
    outcome.detected = _detected(world, scenario, found)
    say(f"$ coffee-runner {' '.join(world.fill(scenario.detect))}  -> "
        f"{'named it' if outcome.detected is None else 'MISSED: ' + outcome.detected}")
    for command in scenario.repair:
        args = world.fill(command)
        ran = world.cli(*args)
        outcome.commands.append({"command": args, "exit": ran.code, "stderr": ran.stderr[-2000:]})
        say(f"$ coffee-runner {' '.join(args)}  -> exit {ran.code}")
    outcome.mismatches = mismatches(world)
    say("truth: every day complete, every run equal to what the shops served" if not outcome.mismatches
        else f"truth: NOT repaired: {outcome.mismatches}")
    return outcome


def _detected(world: World, scenario: Scenario, found: Ran) -> str | None:
    try:
        return scenario.detected(world, found.json)
    except (ValueError, KeyError) as exc:
        return f"no usable JSON from {scenario.detect[0]} (exit {found.code}): {exc}; {found.stderr[-500:]}"


# --- staging helpers -----------------------------------------------------------------------

def lose_raw(world: World, roaster_ids: list[str], days: list[dt.date]) -> int:
    """A storage accident: these shop-days' runs and artifacts are gone (around the raw
    store's append-only guard)."""
    with connect(world.target) as conn, conn.transaction():
        conn.execute("set local session_replication_role = replica")
        runs = [r[0] for r in conn.execute(
            """select id from marts.scrape_runs where roaster_id = any(%s) and day = any(%s)""",
            (roaster_ids, days)).fetchall()]
        conn.execute("update control.backfill_items set run_id = null where run_id = any(%s)", (runs,))
        conn.execute("delete from raw.scrape_artifacts where run_id = any(%s)", (runs,))
        conn.execute("delete from raw.scrape_runs where id = any(%s)", (runs,))
    return len(runs)


def _gaps_are(expected: Callable[[World], set[tuple[str, str]]]) -> Detected:
    def check(world: World, doc: Any) -> str | None:
        got = {(g["roaster_id"], g["day"]) for g in doc["gaps"]}
        want = expected(world)
        return None if got == want else f"gaps {sorted(got)} != {sorted(want)}"
    return check


def _plan_is(expected: Callable[[World], dict[tuple[str, str], str]]) -> Detected:
    """The plan's items, as {(roaster, day): action}, are exactly these."""
    def check(world: World, doc: Any) -> str | None:
        got = {(i["roaster_id"], i["day"]): i["action"] for i in doc["items"]}
        want = expected(world)
        return None if got == want else f"plan {sorted(got.items())} != {sorted(want.items())}"
    return check


def _days(world: World, roasters: list[str], days: list[dt.date]) -> set[tuple[str, str]]:
    return {(r, d.isoformat()) for r in roasters for d in days}


SHOPS = ["aurora-beans", "blue-peak", "cedar-roast", "dune-coffee"]
BACKFILL_ALL = ("backfill", "--start", "{first}", "--end", "{last}", "--json")


# --- 1. data loss --------------------------------------------------------------------------

def _partial_loss(world: World) -> None:
    lose_raw(world, ["cedar-roast"], world.days[1:3])
    with connect(world.target) as conn:
        conn.execute("delete from marts.prices where day = %s", (world.days[0],))


def _complete_loss(world: World) -> None:
    lose_raw(world, ["blue-peak"], world.days)
    with connect(world.target) as conn:
        for table in ("prices", "rejected_items", "scrape_artifacts"):
            conn.execute(f"delete from marts.{table} where roaster_id = 'blue-peak'")


def _corrupt(world: World) -> None:
    with connect(world.target) as conn, conn.transaction():
        conn.execute("set local session_replication_role = replica")
        conn.execute("""update raw.scrape_artifacts set body = '{"products": [{"id": "garbage"}]}'
                         where resource = 'products' and run_id in (
                             select id from marts.scrape_runs where roaster_id = 'aurora-beans' and day = %s)""",
                     (world.days[2],))


# the contract of prices declares the new column, after pack_count (prices' only
# integer column followed by artifact_created_at)
PRICE_PER_KG_CONTRACT = ("models/marts/_marts__models.yml",
                         "        data_type: integer\n      - name: artifact_created_at\n",
                         "        data_type: integer\n      - name: price_per_kg\n"
                         "        description: The price of one kilogram.\n        data_type: numeric\n"
                         "      - name: artifact_created_at\n")


def _schema_change(world: World) -> None:
    deploy(world, "price-per-kg", "models/marts/prices.sql", "        {{ provenance_columns() }}\n    from deduped",
           "        round(deduped.price / nullif(option_facts.weight_g, 0) * 1000, 2) as price_per_kg,\n"
           "        {{ provenance_columns() }}\n    from deduped", also=(PRICE_PER_KG_CONTRACT,))


# --- 2. pipeline restarts ------------------------------------------------------------------

def _system_failure(world: World) -> None:
    backup = world.cli("backup", "--json")
    if backup.code != 0:
        raise RuntimeError(f"backup failed: {backup.stderr[-1000:]}")
    world.values["backup"] = backup.json["file"]
    with connect(world.target, autocommit=True) as conn:  # the database is lost: every schema
        for schema in ("raw", "control", "quarantine", "marts", "ops", "staging", "intermediate", "reference"):
            conn.execute(f"drop schema if exists {schema} cascade")


def _service_restart(world: World) -> None:
    """A backfill killed (SIGKILL) once it has finished an item and before it is done."""
    lose_raw(world, SHOPS, world.days[:3])
    world.sim.set_faults([Fault("latency", resource="archive", arg=SCENARIO_LATENCY_SECONDS)])
    proc = world.spawn(*world.fill(BACKFILL_ALL))
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while time.monotonic() < deadline and proc.poll() is None and _items_done(world) < 1:
        time.sleep(0.1)
    done_before_kill = _items_done(world)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    world.sim.set_faults([])
    world.values["killed_after_items"] = str(done_before_kill)
    if not 1 <= done_before_kill < 12 or _backfill_finished(world):
        raise RuntimeError(f"the kill did not land mid-work ({done_before_kill} items done)")


def _items_done(world: World) -> int:
    with connect(world.target) as conn:
        return one_row(conn.execute("select count(*) from control.backfill_items where state = 'done'").fetchone())[0]


def _backfill_finished(world: World) -> bool:
    with connect(world.target) as conn:
        done = conn.execute("select bool_or(status in ('done', 'failed')) from control.backfills").fetchone()
        return bool(one_row(done)[0])


def _bad_release(world: World) -> None:
    """A release that inverts the sale flag rebuilds today, then is rolled back."""
    deploy(world, "bad-release", "models/marts/prices.sql", "        deduped.is_sale,\n",
           "        not deduped.is_sale as is_sale,\n")
    world.cli("backfill", "--start", world.today.isoformat(), "--end", world.today.isoformat(),
              "--strategy", "full", "--json")
    world.values["bad"] = version_of(world)
    roll_back(world)


def _config_change(world: World) -> None:
    """dune-coffee moves to Auckland (every noon-UTC capture lands on the next day there);
    cedar-roast to Paris (the same offsets: no capture moves); blue-peak gets another rate
    and aurora-beans another schedule (neither changes a derived row)."""
    world.edit_config("dune-coffee", timezone="Pacific/Auckland")
    world.edit_config("cedar-roast", timezone="Europe/Paris")
    world.edit_config("blue-peak", rate_limit_rps=2.5)
    world.edit_config("aurora-beans", schedule="09:30")
    world.values["tomorrow"] = (world.today + dt.timedelta(days=1)).isoformat()


def _moved_days(world: World) -> dict[tuple[str, str], str]:
    days = [*world.days, world.today + dt.timedelta(days=1)]
    return {("dune-coffee", d.isoformat()): "reparse" for d in days}


# --- 3. data quality -----------------------------------------------------------------------

def _validation_failure(world: World) -> None:
    """Today's aurora-beans scrape is lost and scraped again while the shop answers its
    second listing page with an HTML maintenance page and status 200, on every retry."""
    lose_raw(world, ["aurora-beans"], [world.today])
    world.sim.set_faults([Fault("html200", shop="aurora-beans", resource="products", page=2)])
    world.scrape("aurora-beans")
    world.sim.set_faults([])


def _parser_bug(world: World) -> None:
    """A parser that drops the cents built every day; then the fix is deployed."""
    deploy(world, "buggy-parser", "models/intermediate/int_prices_observed.sql",
           "round(price, coalesce(minor_units, 2)) as price", "round(price, 0) as price")
    world.cli(*world.fill(BACKFILL_ALL), "--strategy", "full")
    world.values["buggy"] = version_of(world)
    roll_back(world)


def _format_change(world: World) -> None:
    """blue-peak's API renames each variant's `price` to `amount` for today's scrape."""
    lose_raw(world, ["blue-peak"], [world.today])
    roaster = world.config.roaster("blue-peak")
    page = httpx.get(f"{roaster.base_url}/products.json", params={"limit": 250, "page": 1}, timeout=30).json()
    for product in page["products"]:
        for variant in product["variants"]:
            variant["amount"] = variant.pop("price")
    world.sim.set_body(json.dumps(page).encode())
    world.sim.set_faults([Fault("body", shop="blue-peak", resource="products", page=1)])
    world.scrape("blue-peak")
    world.sim.set_faults([])


def _rate_limited(world: World) -> None:
    """dune-coffee answers 429 (Retry-After: 1) to today's scrape, all day long."""
    lose_raw(world, ["dune-coffee"], [world.today])
    world.sim.set_faults([Fault("429", shop="dune-coffee", arg=1)])
    world.scrape("dune-coffee")
    world.sim.set_faults([])


def _drift_named(world: World, doc: Any) -> str | None:
    """Exactly blue-peak's day is flagged, naming the key it lost (no other day drifts)."""
    drift = {(d["roaster_id"], d["day"]): d for d in doc["shape_drift"]}
    found = drift.get(("blue-peak", world.today.isoformat()))
    named = found is not None and found["lost_keys"] == ["$.products[].variants[].price"]
    if set(drift) != {("blue-peak", world.today.isoformat())} or not named:
        return f"shape drift {sorted(drift.items())} is not exactly blue-peak's lost price key"
    return None


def _stale_everywhere(world: World, doc: Any) -> str | None:
    want = {(r, d.isoformat()): "reparse" for r in SHOPS for d in world.days}
    got = {(i["roaster_id"], i["day"]): i["action"] for i in doc["items"]}
    if got != want or any(i["status"] != "stale" for i in doc["items"]):
        return f"plan {sorted(got.items())} is not every day stale"
    return None


def _would_move_invalid(world: World, doc: Any) -> str | None:
    return None if doc["would_move"]["invalid_artifacts"] >= 1 else f"cleanup would move {doc['would_move']}"


def _unhealthy(world: World, doc: Any) -> str | None:
    return None if doc["healthy"] is False else f"health says {doc}"


def _interrupted(world: World, doc: Any) -> str | None:
    """Some lost days are back (the killed backfill finished them), the others still open."""
    lost = _days(world, SHOPS, world.days[:3])
    got = {(g["roaster_id"], g["day"]) for g in doc["gaps"]}
    return None if got and got < lost else f"gaps {sorted(got)} are not the lost days the killed backfill left"


SCENARIOS = (
    Scenario("partial_data_loss", "Partial Data Loss: missing data for specific time periods", _partial_loss,
             ("gaps", "--start", "{first}", "--end", "{last}", "--json"),
             _gaps_are(lambda w: _days(w, ["cedar-roast"], w.days[1:3]) | _days(w, SHOPS, w.days[:1])),
             (BACKFILL_ALL,), "gaps lists the shop-days without raw (missing) and without derived rows (unprocessed)"),
    Scenario("complete_data_loss", "Complete Data Loss: all data of a roaster lost", _complete_loss,
             ("gaps", "--start", "{first}", "--end", "{last}", "--json"),
             _gaps_are(lambda w: _days(w, ["blue-peak"], w.days)),
             (("backfill", "--start", "{first}", "--end", "{last}", "--roaster", "blue-peak", "--json"),),
             "gaps lists every day of the roaster as missing"),
    Scenario("corrupted_data", "Corrupted Data: raw pages that no longer parse", _corrupt,
             ("gaps", "--start", "{first}", "--end", "{last}", "--json"),
             _gaps_are(lambda w: _days(w, ["aurora-beans"], w.days[2:3])),
             (BACKFILL_ALL,), "a ranged gaps re-validates raw: the day is invalid"),
    Scenario("schema_change", "Schema Changes: a new column in prices", _schema_change,
             ("plan", "--json"), _stale_everywhere, (BACKFILL_ALL,),
             "plan (no range) lists every day built by the old code as stale"),
    Scenario("system_failure", "System Failure: the database is lost", _system_failure,
             ("health", "--json"), _unhealthy,
             (("restore", "--yes", "{backup}", "--json"), BACKFILL_ALL),
             "health fails; the last backup is restored"),
    Scenario("service_restart", "Service Restart: a backfill killed mid-work", _service_restart,
             ("gaps", "--start", "{first}", "--end", "{last}", "--json"), _interrupted,
             (("backfill", "--resume", "--json"),), "gaps lists the days still missing; the backfill is unfinished"),
    Scenario("deployment_rollback", "Deployment Issues: a bad release rolled back", _bad_release,
             ("plan", "--built-by", "{bad}", "--json"),
             _plan_is(lambda w: {k: "reparse" for k in _days(w, SHOPS, [w.today])}),
             (("backfill", "--built-by", "{bad}", "--json"),), "plan --built-by lists exactly what the release built"),
    Scenario("configuration_change", "Configuration Changes: a roaster's timezone", _config_change,
             ("plan", "--json"), _plan_is(_moved_days),
             (("backfill", "--start", "{first}", "--end", "{tomorrow}", "--roaster", "dune-coffee", "--json"),
              ("backfill", "--start", "{first}", "--end", "{tomorrow}", "--roaster", "dune-coffee", "--json")),
             "plan lists exactly the moved days (stale); other settings changes list nothing"),
    Scenario("validation_failures", "Validation Failures: an HTML page with status 200 on every retry",
             _validation_failure, ("cleanup", "--json"), _would_move_invalid,
             (("cleanup", "--apply", "--no-backup", "--json"),
              ("backfill", "--start", "{today}", "--end", "{today}", "--roaster", "aurora-beans", "--json")),
             "cleanup's dry run counts the invalid page; after --apply the day is partial"),
    Scenario("parsing_errors", "Parsing Errors: a parser bug fixed by a release", _parser_bug,
             ("plan", "--json"), _stale_everywhere, (BACKFILL_ALL,),
             "plan (no range) lists every day the buggy parser built as stale"),
    Scenario("external_api_issues", "External API Issues: a shop renames a field", _format_change,
             ("verify", "--start", "{first}", "--end", "{last}", "--json"), _drift_named,
             (("backfill", "--start", "{today}", "--end", "{today}", "--roaster", "blue-peak", "--json"),),
             "verify names the key the shop's pages lost (shape drift)"),
    Scenario("rate_limits", "Rate Limit Issues: a shop throttles today's scrape", _rate_limited,
             ("gaps", "--start", "{first}", "--end", "{last}", "--json"),
             _gaps_are(lambda w: _days(w, ["dune-coffee"], [w.today])),
             (("backfill", "--start", "{today}", "--end", "{today}", "--roaster", "dune-coffee", "--json"),),
             "gaps lists the day as failed; the backfill waits out the shop's Retry-After"),
)
BY_NAME = {s.name: s for s in SCENARIOS}


def find(name: str) -> Scenario | None:
    """A scenario by its name (`rate_limits`) or the runbook's (`Rate Limit Issues`, any case)."""
    wanted = " ".join(name.split()).casefold()
    return BY_NAME.get(name) or next((s for s in SCENARIOS if s.title.casefold() == wanted), None)
