"""Benchmarks are not tests: this only checks that each `--quick` run works and prints
one valid JSON document, plus the correctness facts a benchmark reports along the way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
pytestmark = pytest.mark.bench
QUICK_TIMEOUT_SECONDS = 240  # --quick promises under 2 minutes; a loaded CI machine gets slack


def run_quick(name: str, admin_url: str, home: Path) -> dict:
    env = {**os.environ, "COFFEE_BENCH_DATABASE_URL": admin_url, "COFFEE_BENCH_HOME": str(home),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("COFFEE_DATABASE_URL", None)
    proc = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--quick"], capture_output=True, text=True,
                          env=env, timeout=QUICK_TIMEOUT_SECONDS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert doc["benchmark"] == name
    assert set(doc) == {"benchmark", "params", "results", "targets"}
    for target in doc["targets"].values():
        assert set(target) == {"value", "target", "met"} and isinstance(target["met"], bool)
    return doc


@pytest.mark.parametrize("name", ["rebuild", "gaps", "fetch", "load", "backfill", "service", "dashboard", "storage"])
def test_quick_mode_prints_one_json_document(name, pg_admin_url, tmp_path):
    doc = run_quick(name, pg_admin_url, tmp_path)
    results = doc["results"]
    assert 0 < results["runner_peak_mb"] < 1000
    if name == "dashboard":  # the quick map is 100 roasters x 90 days, every cell drawn
        assert results["cells"] == 9000 and 9000 * 16 < results["page_bytes"] < 9000 * 40
    if name == "rebuild":  # every strategy wrote the same rows
        assert results["same_rows"]["microbatch"] and results["same_rows"]["hand_written"]
        assert results["same_rows"]["rows_in_longest_range"] > 0
    elif name == "gaps":
        assert results["coverage_rows"] == doc["params"]["roasters"] * doc["params"]["days"]
        assert 0 < results["gap_rows"] < results["coverage_rows"]
    elif name == "fetch":  # politeness holds at any size: by the runner's clock and the shop's
        assert results["shop_send_gap_seconds_min"] >= 1 / doc["params"]["rps"]
        assert results["worst_requests_in_one_second"] <= doc["params"]["rps"]
        assert results["runs_ok"] == doc["params"]["shops"]
    elif name == "storage":  # both layouts give the same prices; each distinct body is stored once
        assert results["same_prices"] and results["price_rows"] > 0
        assert results["distinct_bodies"] < results["captures"]
        assert results["raw_total_bytes"]["bodies_once"] < results["raw_total_bytes"]["jsonb_per_capture"]
    elif name == "load":
        assert results["bytes_stored_match"]
    elif name == "service":  # every roaster scraped once a day, the service stopped cleanly
        assert results["lateness_simulated_seconds"]["runs"] == doc["params"]["roasters"] * doc["params"]["days"]
        assert results["service_exit_code"] == 0 and len(results["service_rss_mb_per_day"]) == doc["params"]["days"]
        assert results["budget"]["reservations_per_second"] > 0
    elif name == "backfill":
        assert results["status"] == "done" and results["resume"]["status"] == "done"
