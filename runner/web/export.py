"""`coffee-runner report --html DIR`: the dashboard's pages as static files.

    DIR/index.html                  the heatmap of the range
    DIR/day/<roaster>/<date>.html   every day in the range that is not complete
    DIR/roasters/<id>.html          each roaster's price history over the range
    DIR/backfills/index.html        the recent backfills, and one page each
    DIR/static/                     the CSS and JavaScript

Each page has its data beside it as `.json` (what the server answers at ?format=json).
Only the days that are not complete get a page (90,000 complete days would be 90,000
files): in the export, a complete cell is not a link.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from runner.core.config import Config
from runner.core.errors import InputError
from runner.store.db import Target, connect
from runner.web import pages
from runner.web.links import Links
from runner.web.params import Query
from runner.web.render import render, to_json


def _write(out: Path, relative: str, data: dict[str, Any], links: Links, **extra: Any) -> None:
    path = out / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data, links.at(relative.count("/")), **extra), encoding="utf-8")
    path.with_suffix(".json").write_text(to_json(data), encoding="utf-8")


def _assets(out: Path) -> None:
    folder = out / "static"
    folder.mkdir(parents=True, exist_ok=True)
    for file in (resources.files("runner.web") / "static").iterdir():
        if file.is_file():
            with resources.as_file(file) as source:
                shutil.copyfile(source, folder / file.name)


def check_output_dir(given: str) -> Path:
    """The folder `report --html` writes to, created if needed: InputError (one line) when the
    name is empty, names a file, or the folder cannot be created or written to."""
    if not given.strip():
        raise InputError("--html: the folder name is empty")
    out = Path(given)
    if out.exists() and not out.is_dir():
        raise InputError(f"--html {given}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass  # writable (os.access says yes to root even where the kernel says no)
    except OSError as exc:
        raise InputError(f"--html {given}: cannot write there ({exc.strerror or exc})") from None
    return out


def write_report(config: Config, target: Target, out: Path, q: Query) -> dict[str, Any]:
    """Write every page of the range under `out` (see `check_output_dir`); the counts of what was written."""
    links = Links(static=True)
    with connect(target) as conn:
        heat = pages.heatmap(config, conn, q)
        _write(out, "index.html", heat, links, link_all=False)
        gaps = [c for r in heat["roasters"] for c in r["cells"] if c is not None and c.status != "complete"]
        for cell in gaps:
            day = pages.day_page(config, conn, config.roaster(cell.roaster_id), cell.day)
            _write(out, f"day/{cell.roaster_id}/{cell.day}.html", day, links)
        for roaster in q.roasters:
            _write(out, f"roasters/{roaster.id}.html",
                   pages.roaster_page(config, conn, roaster, Query(q.start, q.end, [roaster])), links)
        listed = pages.backfills_page(conn)
        _write(out, "backfills/index.html", listed, links)
        for b in listed["backfills"]:
            _write(out, f"backfills/{b['id']}.html", pages.backfill_page(conn, str(b["id"])), links)
    _assets(out)
    return {"folder": str(out), "index": str(out / "index.html"), "start": q.start.isoformat(),
            "end": q.end.isoformat(), "roasters": len(q.roasters), "day_pages": len(gaps),
            "backfill_pages": len(listed["backfills"])}
