"""HTML (Jinja2 templates shipped in the package, autoescaped) and JSON for every page.

The heatmap's cells are written here rather than in a template loop: 90,000 cells must
stay small (one `<i class=XN>` each, about 16 bytes) and fast to produce.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import uuid
from collections import Counter
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from runner.web.cells import BY_NAME, Cell
from runner.web.chart import colour, price_chart
from runner.web.links import Links

_env = Environment(loader=PackageLoader("runner.web", "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def to_json(data: dict[str, Any], indent: int | None = None) -> str:
    return json.dumps(data, default=_plain, indent=indent)


# JSON inside <script>: with < > & as \\u escapes no text can end the element (</script>)
# or open a comment (<!--) that would swallow its end; JSON.parse reads them back.
SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def script_json(data: dict[str, Any]) -> Markup:
    """`data` as JSON safe to put inside a <script> element."""
    return Markup(to_json(data).translate(SCRIPT_SAFE))


def reasons_of(roasters: list[dict[str, Any]]) -> tuple[list[str], dict[str, int]]:
    """The page's distinct reasons, and each status's most common one (a cell with that
    reason says nothing more; another names its reason's index)."""
    counts = Counter((c.status, c.reason) for r in roasters for c in r["cells"] if c is not None)
    reasons = sorted({reason for _, reason in counts})
    defaults: dict[str, int] = {}
    for (status, reason), _n in counts.most_common():
        defaults.setdefault(status, reasons.index(reason))
    return reasons, defaults


def cells_html(cells: list[Cell | None], index: dict[str, int], defaults: dict[str, int]) -> Markup:
    """One row of the map: `<i class=XN>` per day (X the status code, N the shading step),
    `data-w=K` when its reason is not its status's default, a bare `<i>` for no cell."""
    parts = []
    for c in cells:
        if c is None:
            parts.append("<i></i>")
            continue
        k = index[c.reason]
        extra = f" data-w={k}" if k != defaults[c.status] else ""
        parts.append(f"<i class={c.css}{extra}></i>")
    return Markup("".join(parts))


def _heatmap_context(data: dict[str, Any]) -> dict[str, Any]:
    reasons, defaults = reasons_of(data["roasters"])
    index = {r: i for i, r in enumerate(reasons)}
    rows = [{**r, "cells_html": cells_html(r["cells"], index, defaults)} for r in data["roasters"]]
    script = {"days": [d.isoformat() for d in data["days"]], "reasons": reasons,
              "defaults": {BY_NAME[s].code: i for s, i in defaults.items()},
              "statuses": {s["code"]: s["name"] for s in data["statuses"]}}
    return {"rows": rows, "script": script}


def render(data: dict[str, Any], links: Links, **extra: Any) -> str:
    """The page `data['page']` as HTML."""
    context: dict[str, Any] = {"d": data, "links": links, **extra}
    if data["page"] == "heatmap":
        context.update(_heatmap_context(data))
        context["script"].update({"dayHref": links.day_pattern(), "linkAll": extra.get("link_all", True)})
        context["page_json"] = script_json(context["script"])
    if data["page"] == "roaster":
        context["chart"] = price_chart(data["series"], data["gaps"], data["start"], data["end"])
        context["colours"] = [colour(i) for i in range(len(data["series"]))]
    return _env.get_template(f"{data['page']}.html").render(context)


def error_html(status: int, message: str, links: Links) -> str:
    return _env.get_template("error.html").render({"status": status, "message": escape(message), "links": links})
