"""`coffee-runner demo`: the runbook's story end to end, on the simulator.

1. History: backfill 30 past days of four shops from the simulator's web archive.
2. Today's scheduled scrape, during which one shop rate-limits us (its run fails).
3. Disasters from the runbook: a week of derived rows deleted, one roaster's raw data
   lost for some days, artifacts corrupted.
4. Recovery: assess, plan, backfill, acknowledge what nothing can supply, verify.
5. Proof: every complete day equals the simulator's own catalog for that day.
6. The service (runner/sandbox/demo_service.py): scheduled scrapes on simulated days, a throttled
   shop retried the same day, a kill, and a restart that heals the missed day by itself.

Staging "raw data lost" and "corruption" has to go around the raw store's append-only
guard, exactly as a storage accident would; the demo does it in one place, below.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

from runner.acquire.fetch import fetch_live
from runner.backfill import Options, start_backfill
from runner.backfill.plan import build_plan
from runner.core.config import Config, parse_config
from runner.ops.checks import acknowledge, assess, verify
from runner.sandbox.demo_service import SCENE_RATE, THROTTLED_SHOP, environment, run_scene, scratch_database
from runner.sandbox.simulator import Fault, Simulator
from runner.sandbox.truth import day_matches
from runner.store.db import Target, coffee_home, connect, resolve_target
from runner.transform.bootstrap import prepare_database
from runner.web.export import check_output_dir, write_report
from runner.web.params import page_range

HISTORY_DAYS = 30
DEMO_SEED = 42
ARCHIVE_COVERAGE = 0.85
RATE_LIMITED_SHOP = "dune-coffee"
LOST_RAW_SHOP = "cedar-roast"
CORRUPTED_SHOP = "blue-peak"
SCENE_DAYS_BACK = 4  # the service scene's first simulated day, before today (its own database)


@dataclass
class Demo:
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    ok: bool = False

    def say(self, text: str = "") -> None:
        self.lines.append(text)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.data}

    def text(self) -> str:
        return "\n".join(self.lines)


def run_demo() -> Demo:
    demo = Demo()
    started = time.monotonic()
    target = resolve_target()
    # the shops' today is the runner's (the wall clock, or $COFFEE_NOW when a test fixes it)
    with Simulator(seed=DEMO_SEED, history_days=HISTORY_DAYS, archive_coverage=ARCHIVE_COVERAGE,
                   follow_clock=True) as sim:
        config = _config(sim)
        prepare_database(config, target)
        today = min(r.today() for r in config.roasters)
        start, end = today - dt.timedelta(days=HISTORY_DAYS), max(r.today() for r in config.roasters)
        demo.say(f"database:  {target.safe_url}")
        demo.say(f"simulator: {sim.url} (4 shops, web archive with {ARCHIVE_COVERAGE:.0%} of past days)")
        _history(demo, config, target, start, today - dt.timedelta(days=1))
        _todays_scrape(demo, sim, config, target)
        _disasters(demo, target, today)
        summary = _recover(demo, config, target, start, end)
        report = _verify(demo, config, target, start, end, summary)
        matched, checked = _against_truth(sim, target, start, end)
    demo.say(f"truth: {matched}/{checked} complete shop-days equal the simulator's own catalog")
    demo.data["dashboard"]["after"] = _dashboard(config, target, start, end, "report-after")
    demo.say(f"dashboard after the repair: {demo.data['dashboard']['after']} "
             "(live: coffee-runner serve, then http://localhost:8000/)")
    scene = _service_scene(demo, target, today - dt.timedelta(days=SCENE_DAYS_BACK))
    demo.ok = (report["ok"] and summary.status == "done" and matched == checked and checked > 0
               and scene["ok"])
    elapsed = round(time.monotonic() - started, 1)
    demo.data.update({"database": target.safe_url, "range": [start.isoformat(), end.isoformat()],
                      "truth": {"matched": matched, "checked": checked}, "elapsed_seconds": elapsed})
    demo.say()
    demo.say(f"{'OK' if demo.ok else 'FAILED'}: every recoverable day is complete and verified "
             f"({elapsed:.0f} s)" if demo.ok else f"FAILED ({elapsed:.0f} s)")
    return demo


def _service_scene(demo: Demo, target: Target, first_day: dt.date) -> dict[str, Any]:
    demo.say()
    demo.say(f"6. the scraper service on simulated days {first_day}.. (its own database, a clock at "
             f"{SCENE_RATE:g}x): day 1 scheduled, {THROTTLED_SHOP} throttles its first try; killed; started "
             "again on day 3")
    scene = run_scene(target, first_day, DEMO_SEED)
    throttled = " then ".join(scene["runs"].get(f"{THROTTLED_SHOP} {first_day}") or ["no run"])
    retried = "retried the same day" if scene["retried_same_day"] else "NOT retried the same day"
    demo.say(f"   {THROTTLED_SHOP} on day 1: {throttled} ({retried})")
    healed = "healed from the archive on restart" if scene["healed_from_archive"] else "NOT healed"
    demo.say(f"   day 2, while the service was down: {healed}")
    demo.say(f"   days complete: {scene['complete']}; truth {scene['truth']['matched']}/{scene['truth']['checked']}; "
             f"SIGTERM exit {scene['sigterm_exit']} ({scene['elapsed_seconds']:.0f} s; database {scene['database']})")
    if scene["failed_checks"]:
        demo.say(f"   FAILED checks: {', '.join(scene['failed_checks'])}")
    demo.data["service_scene"] = scene
    return scene


def _dashboard(config: Config, target: Target, start: dt.date, end: dt.date, name: str) -> str:
    """The dashboard's pages of the range as files (`report --html`): the index's path."""
    folder = check_output_dir(str(coffee_home() / "demo" / name))
    written = write_report(config, target, folder, page_range(config, start, end, []))
    return written["index"]


def _config(sim: Simulator) -> Config:
    path = coffee_home() / "demo" / "roasters.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sim.roasters_yaml(), encoding="utf-8")
    return parse_config(path.read_text(encoding="utf-8"), path)


def _history(demo: Demo, config: Config, target: Target, start: dt.date, end: dt.date) -> None:
    demo.say()
    demo.say(f"1. history: backfilling {start}..{end} from the web archive")
    summary = start_backfill(config, target, "incremental", start, end, list(config.roasters), Options(concurrency=8))
    demo.say(f"   {summary.items['done']} shop-days recovered, {summary.items['unrecoverable']} never archived "
             f"({summary.elapsed_seconds:.0f} s)")
    demo.data["history"] = summary.as_dict()


def _todays_scrape(demo: Demo, sim: Simulator, config: Config, target: Target) -> None:
    demo.say("2. today's scheduled scrape; one shop answers 429 to everything")
    sim.set_faults([Fault("429", shop=RATE_LIMITED_SHOP)])
    runs = fetch_live(config, target, list(config.roasters))
    sim.set_faults([])
    demo.say("   " + ", ".join(f"{r.roaster_id} {r.status}" for r in runs))
    demo.data["todays_scrape"] = [r.as_dict() for r in runs]


def _disasters(demo: Demo, target: Target, today: dt.date) -> None:
    demo.say("3. disasters from the runbook:")
    week = (today - dt.timedelta(days=14), today - dt.timedelta(days=8))
    lost = (today - dt.timedelta(days=21), today - dt.timedelta(days=18))
    corrupt = (today - dt.timedelta(days=5), today - dt.timedelta(days=4))
    with connect(target) as conn, conn.transaction():
        derived = conn.execute("delete from marts.prices where day between %s and %s", week).rowcount
        conn.execute("set local session_replication_role = replica")  # around the append-only guard
        runs = [r[0] for r in conn.execute(
            """select id from raw.scrape_runs where roaster_id = %s and target_day between %s and %s""",
            (LOST_RAW_SHOP, *lost)).fetchall()]
        conn.execute("update control.backfill_items set run_id = null where run_id = any(%s)", (runs,))
        lost_artifacts = conn.execute("delete from raw.scrape_artifacts where run_id = any(%s)", (runs,)).rowcount
        conn.execute("delete from raw.scrape_runs where id = any(%s)", (runs,))
        corrupted = conn.execute(
            """update raw.scrape_artifacts set body = %s
                where roaster_id = %s and resource = 'products' and (captured_at at time zone 'Asia/Kolkata')::date
                      between %s and %s""",
            (json.dumps({"products": [{"id": "garbage", "variants": []}]}), CORRUPTED_SHOP, *corrupt)).rowcount
    demo.say(f"   - derived rows lost for a week ({week[0]}..{week[1]}): {derived} prices deleted")
    demo.say(f"   - raw data of {LOST_RAW_SHOP} lost for {lost[0]}..{lost[1]}: {len(runs)} runs, "
             f"{lost_artifacts} artifacts")
    demo.say(f"   - {corrupted} artifacts of {CORRUPTED_SHOP} corrupted ({corrupt[0]}..{corrupt[1]})")
    demo.say(f"   - the rate-limited run of {RATE_LIMITED_SHOP} failed today")
    demo.data["disasters"] = {"derived_prices_deleted": derived, "raw_runs_lost": len(runs),
                              "raw_artifacts_lost": lost_artifacts, "artifacts_corrupted": corrupted}


def _recover(demo: Demo, config: Config, target: Target, start: dt.date, end: dt.date):
    roasters = list(config.roasters)
    report = assess(config, target, start, end, roasters)
    demo.say(f"4. assess {start}..{end}: {report['gaps']} gaps; "
             + "; ".join(f"{rid} {info['coverage']}" for rid, info in report["per_roaster"].items()))
    before = _dashboard(config, target, start, end, "report-before")
    demo.data["dashboard"] = {"before": before}
    demo.say(f"   the disasters as holes on the dashboard: {before}")
    plan = build_plan(config, target, "incremental", start, end, roasters, materialize=False)
    demo.say(f"   plan: {plan.counts}, estimate {plan.estimate_seconds:.0f} s")
    summary = start_backfill(config, target, "incremental", start, end, roasters, Options(concurrency=8))
    demo.say(f"   backfill {summary.status}: {summary.items}; gaps {summary.gaps_before} -> {summary.gaps_after} "
             f"({summary.elapsed_seconds:.0f} s)")
    demo.data.update({"assess": report, "plan": plan.as_dict(), "backfill": summary.as_dict()})
    return summary


def _verify(demo: Demo, config: Config, target: Target, start: dt.date, end: dt.date, summary) -> dict[str, Any]:
    by_roaster: dict[str, list[dt.date]] = {}
    with connect(target) as conn:
        for roaster_id, day in conn.execute(
                """select roaster_id, day from ops.coverage_daily
                    where is_open_gap and day between %s and %s""", (start, end)):
            by_roaster.setdefault(roaster_id, []).append(day)
    remaining = sum(len(v) for v in by_roaster.values())
    demo.say(f"5. what remains: {remaining} shop-days nothing can supply (never archived); acknowledging them")
    for roaster_id, days in sorted(by_roaster.items()):
        for day in days:
            acknowledge(target, config.roaster(roaster_id), day, day, "no capture in the web archive (demo)")
        demo.say(f"   - {roaster_id}: {', '.join(d.isoformat() for d in sorted(days))}")
    report = verify(config, target, start, end, list(config.roasters))
    demo.say(f"   verify: {'OK' if report['ok'] else 'FAILED'}; dbt {report['dbt']['counts']}; "
             f"integrity {report['integrity']}")
    demo.data["verify"] = report
    return report


def _against_truth(sim: Simulator, target: Target, start: dt.date, end: dt.date) -> tuple[int, int]:
    """Compare every complete shop-day's prices with what the simulator served."""
    matched = checked = 0
    with connect(target) as conn:
        days = conn.execute("""select roaster_id, day from ops.coverage_daily
                                where status = 'complete' and day between %s and %s""", (start, end)).fetchall()
        for roaster_id, day in days:
            checked += 1
            matched += day_matches(conn, sim, roaster_id, day)
    return matched, checked


def run_scenario_demo(name: str) -> Demo:
    """`demo --scenario NAME`: one of the runbook's scenarios (runner/sandbox/scenario_book.py),
    staged, detected and repaired in its own database beside the demo's, its commands run
    as real processes; ok when every day ends complete and equal to the simulator's truth."""
    from runner.sandbox.scenario_book import BY_NAME, run
    from runner.sandbox.scenario_harness import World, build_world

    demo = Demo()
    scenario = BY_NAME[name]
    started = time.monotonic()
    target = Target(url=scratch_database(resolve_target(), f"scenario_{name}"), embedded=False)
    home = coffee_home() / "demo" / "scenarios" / name
    today = dt.datetime.now(dt.timezone.utc).date()
    with Simulator(seed=DEMO_SEED, today=today, archive_coverage=1.0) as sim:
        world = World(sim, home / "roasters.yml", target, today, home)
        demo.say(f"scenario {name}: {scenario.runbook}")
        demo.say(f"database: {target.safe_url}; simulator: {sim.url}; "
                 f"the clock held at {world.now():%Y-%m-%d %H:%M} UTC")
        with environment({"COFFEE_NOW": world.now().isoformat()}):
            world = build_world(sim, home, target, today)
            demo.say(f"world: 4 shops scraped on {world.days[0]}..{world.today}, built")
            outcome = run(world, scenario, lambda line: demo.say("  " + line))
    demo.ok = outcome.ok
    demo.data = {"scenario": name, "database": target.safe_url, "detected_by": scenario.how,
                 "missed": outcome.detected, "commands": outcome.commands, "mismatches": outcome.mismatches,
                 "elapsed_seconds": round(time.monotonic() - started, 1)}
    demo.say(f"{'OK' if demo.ok else 'FAILED'}: {scenario.how} ({demo.data['elapsed_seconds']:.0f} s)")
    return demo
