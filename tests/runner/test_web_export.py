"""`coffee-runner report --html DIR` (runner/web/export.py): static pages whose links all resolve."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.runner.dashboard_state import D0, D4, EXPECTED, history, history_template
from tests.runner.helpers import run_cli

pytestmark = pytest.mark.xdist_group("dashboard")  # one worker builds the module's history template once

__all__ = ["history", "history_template"]  # fixtures

LINK = re.compile(r'(?:href|src)="([^"#?]+)"')


def test_the_export_writes_every_page_and_every_link_resolves(history, tmp_path):
    path, _ = history
    out = tmp_path / "report"
    result = run_cli("--config", str(path), "report", "--html", str(out), "--start", str(D0), "--end", str(D4),
                     "--json")
    assert result.exit_code == 0, result.output
    written = json.loads(result.output)
    gaps = sum(1 for row in EXPECTED.values() for s in row if s != "complete")
    assert written["day_pages"] == gaps == len(list((out / "day").glob("*/*.html")))
    assert (out / "static" / "dashboard.js").is_file() and (out / "roasters" / "blue-peak.html").is_file()
    heat = json.loads((out / "index.json").read_text())
    assert {r["id"]: [c["status"] for c in r["cells"]] for r in heat["roasters"]} == EXPECTED
    pages = list(out.rglob("*.html"))
    for page in pages:
        text = page.read_text()
        assert not re.search(r'(href|src)="(https?:|/)', text), page  # nothing remote, nothing absolute
        for link in LINK.findall(text):
            if link.startswith("data:"):
                continue
            assert (page.parent / link).resolve().is_file(), f"{page.relative_to(out)} links to missing {link}"
    assert '"linkAll": false' in (out / "index.html").read_text()  # complete cells have no page to open


def test_bad_report_input_is_exit_2_with_one_line(history, tmp_path):
    path, _ = history
    file = tmp_path / "a-file"
    file.write_text("x")
    for args, says in ((["--html", str(file)], "exists and is not a folder"),
                       (["--html", str(tmp_path / "r"), "--start", "2026-11-20", "--end", "2026-11-01"],
                        "is after --end"),
                       (["--html", str(tmp_path / "r"), "--roaster", "nope"], "unknown roaster 'nope'")):
        result = run_cli("--config", str(path), "report", *args)
        assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output, result.output
    assert file.read_text() == "x" and not Path(tmp_path / "r").exists()
