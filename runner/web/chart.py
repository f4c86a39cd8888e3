"""A price history as an SVG line chart, drawn on the server: no chart library to ship.

One line per variant; a sale (compare-at above the price) is a filled dot, a stock-out
a hollow one; the days with gaps are grey bands behind the lines.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 900, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 60, 10, 10, 30
# Okabe-Ito again, then greys: up to queries.MAX_CHART_VARIANTS lines stay apart
LINE_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442",
                "#555555", "#888888", "#AAAAAA", "#222222")


def _scale(lo: float, hi: float, out_lo: float, out_hi: float):
    span = (hi - lo) or 1.0
    return lambda v: out_lo + (float(v) - lo) / span * (out_hi - out_lo)


def colour(i: int) -> str:
    return LINE_COLOURS[i % len(LINE_COLOURS)]


def _series(variant_id: str, stroke: str, pts: list[tuple[float, float, dict[str, Any]]]) -> str:
    """One variant's line, with a marker on each sale and stockout day."""
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in pts)
    out = [f'<g class="series" data-variant="{escape(variant_id)}" stroke="{stroke}">'
           f'<polyline fill="none" points="{path}"/>']
    for px, py, p in pts:
        if p["in_stock"] is False or p["is_sale"]:
            kind = "stockout" if p["in_stock"] is False else "sale"
            fill = "white" if kind == "stockout" else stroke
            out.append(f'<circle class="{kind}" cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{fill}">'
                       f'<title>{p["day"]}: {p["price"]} ({kind})</title></circle>')
    return "".join(out) + "</g>"


def price_chart(series: list[dict[str, Any]], gaps: list[dict[str, Any]], start: dt.date, end: dt.date) -> Markup:
    prices = [Decimal(p["price"]) for s in series for p in s["points"] if p["price"] is not None]
    lo, hi = (float(min(prices)), float(max(prices))) if prices else (0.0, 1.0)
    x = _scale(0, max(1, (end - start).days), MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    y = _scale(lo, hi, HEIGHT - MARGIN_BOTTOM, MARGIN_TOP)
    day_width = max(1.0, x(1) - x(0))
    out = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="price history">']
    out += [f'<rect class="gap" data-day="{g["day"]}" x="{x((g["day"] - start).days) - day_width / 2:.1f}" '
            f'y="{MARGIN_TOP}" width="{day_width:.1f}" height="{HEIGHT - MARGIN_TOP - MARGIN_BOTTOM}">'
            f'<title>{g["day"]}: {escape(g["status"])}</title></rect>' for g in gaps]
    for i, s in enumerate(series):
        pts = [(x((p["day"] - start).days), y(p["price"]), p) for p in s["points"] if p["price"] is not None]
        out.append(_series(s["variant_id"], colour(i), pts))
    out.append(f'<text x="4" y="{MARGIN_TOP + 10}">{hi:g}</text><text x="4" y="{HEIGHT - MARGIN_BOTTOM}">{lo:g}</text>'
               f'<text x="{MARGIN_LEFT}" y="{HEIGHT - 8}">{start}</text>'
               f'<text x="{WIDTH - MARGIN_RIGHT}" y="{HEIGHT - 8}" text-anchor="end">{end}</text></svg>')
    return Markup("".join(out))
