"""`coffee-runner demo`: the story end to end on the embedded database and the simulator."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from runner.config import parse_config
from runner.db import coffee_home, connect, resolve_target
from runner.fetch import RunSummary, fetch_live, prepare
from runner.simulator import Simulator


@dataclass
class DemoReport:
    database: str
    simulator: str
    runs: list[RunSummary] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.status == "ok" for r in self.runs)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "database": self.database, "simulator": self.simulator,
                "runs": [r.as_dict() for r in self.runs], "counts": self.counts,
                "elapsed_seconds": self.elapsed_seconds}

    def text(self) -> str:
        lines = [f"database:  {self.database}", f"simulator: {self.simulator}", "", "live fetch:"]
        lines += [f"  {r.roaster_id:<16} {r.status:<8} pages={r.pages} artifacts={r.artifacts}"
                  for r in self.runs]
        lines += ["", "raw store now holds:"]
        lines += [f"  {name:<18} {count}" for name, count in self.counts.items()]
        lines += ["", f"{'OK' if self.ok else 'FAILED'} in {self.elapsed_seconds:.1f}s"]
        return "\n".join(lines)


def run_demo(today: dt.date | None = None) -> DemoReport:
    started = time.monotonic()
    target = resolve_target()
    with Simulator(today=today) as sim:
        config_path = coffee_home() / "demo" / "roasters.yml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(sim.roasters_yaml(), encoding="utf-8")
        config = parse_config(config_path.read_text(encoding="utf-8"), config_path)
        with connect(target, autocommit=True) as conn:
            prepare(conn, config)
        report = DemoReport(database=target.safe_url, simulator=sim.url)
        report.runs = fetch_live(config, target, list(config.roasters))
    with connect(target) as conn:
        for table in ("roasters", "scrape_runs", "scrape_artifacts"):
            report.counts[f"raw.{table}"] = conn.execute(f"select count(*) from raw.{table}").fetchone()[0]
    report.elapsed_seconds = round(time.monotonic() - started, 2)
    return report
