"""The dashboard's routes: a request path and query in, a status, type and body out.

    GET /                        the coverage heatmap (?start=&end=&roaster=)
    GET /day/<roaster>/<date>    one day: runs, artifacts, the plan's action, the repair command
    GET /backfills               running and recent backfills
    GET /backfills/<id>          one backfill, live while it runs
    GET /roasters/<id>           price history per variant (?start=&end=)
    GET /static/<file>           the page's CSS and JavaScript, from the package

Every page answers `?format=json` with the data it renders. A bad parameter is a 400
with one line, something that does not exist a 404; nothing answers a traceback.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from runner.core.config import Config, Roaster
from runner.core.errors import DatabaseUnavailable, InputError, PageNotFound
from runner.store.pool import Connections
from runner.web import pages, params
from runner.web.links import Links
from runner.web.render import error_html, render, to_json

HTML = "text/html; charset=utf-8"
JSON = "application/json"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
STATIC_NAME = re.compile(r"^[a-z][a-z0-9_-]*\.(css|js)$")
ROUTES = (
    (re.compile(r"^/$"), "heatmap"),
    (re.compile(r"^/day/(?P<roaster>[^/]+)/(?P<day>[^/]+)$"), "day"),
    (re.compile(r"^/backfills/?$"), "backfills"),
    (re.compile(r"^/backfills/(?P<id>[^/]+)$"), "backfill"),
    (re.compile(r"^/roasters/(?P<roaster>[^/]+)$"), "roaster"),
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


def _text(status: int, message: str, fmt: str) -> Response:
    if fmt == "json":
        return Response(status, JSON, to_json({"error": message}).encode())
    return Response(status, HTML, error_html(status, message, Links()).encode())


def static_file(name: str) -> Response:
    if not STATIC_NAME.match(name):
        return _text(404, f"no static file {name!r}", "html")
    file = resources.files("runner.web") / "static" / name
    if not file.is_file():
        return _text(404, f"no static file {name!r}", "html")
    return Response(200, STATIC_TYPES["." + name.rsplit(".", 1)[1]], file.read_bytes())


def _roaster(config: Config, roaster_id: str) -> Roaster:
    """The roaster a path names; one the config lacks is a page that does not exist."""
    try:
        return config.roaster(roaster_id)
    except InputError:
        raise PageNotFound(f"unknown roaster {roaster_id!r}") from None


def page_data(config: Config, conn: Any, name: str, args: dict[str, str], query: str) -> tuple[dict[str, Any], str]:
    """The page's data and the asked format; InputError for bad input, PageNotFound for none."""
    if name == "heatmap":
        q = params.range_query(config, query)
        return pages.heatmap(config, conn, q), q.format
    if name == "roaster":
        roaster = _roaster(config, args["roaster"])
        q = params.range_query(config, query, allowed=("start", "end", "format"))
        return pages.roaster_page(config, conn, roaster, params.Query(q.start, q.end, [roaster])), q.format
    fmt = params.output_format(params.parse_query(query, ("format",)))
    if name == "day":
        roaster = _roaster(config, args["roaster"])
        return pages.day_page(config, conn, roaster, params.parse_day("date", args["day"])), fmt
    if name == "backfill":
        return pages.backfill_page(conn, params.backfill_id(args["id"])), fmt
    return pages.backfills_page(conn), fmt


def handle(config: Config, connections: Connections, path: str, query: str) -> Response:
    """Answer one GET."""
    if path.startswith("/static/"):
        return static_file(path.removeprefix("/static/"))
    for pattern, name in ROUTES:
        match = pattern.match(path)
        if match:
            return _answer(config, connections, name, match.groupdict(), query)
    return _text(404, f"no page {path!r}", "html")


def _answer(config: Config, connections: Connections, name: str, args: dict[str, str], query: str) -> Response:
    fmt = "json" if "format=json" in query else "html"  # how to answer an error before the query is read
    try:
        with connections() as conn:
            data, fmt = page_data(config, conn, name, args, query)
    except InputError as exc:
        return _text(400, str(exc), fmt)
    except PageNotFound as exc:
        return _text(404, str(exc), fmt)
    except DatabaseUnavailable as exc:
        return _text(503, str(exc), fmt)
    except Exception:
        log.exception("dashboard page failed")
        return _text(500, "internal error: see the service log", fmt)
    if fmt == "json":
        return Response(200, JSON, to_json(data).encode())
    return Response(200, HTML, render(data, Links()).encode())
