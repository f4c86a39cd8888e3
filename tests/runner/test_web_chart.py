"""runner/web/chart.py: the price chart as SVG (no database): one line per variant, a
marker per sale and stock-out, a band per gap, the price axis from the data."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from runner.web.chart import colour, price_chart

START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 5)


def _point(day: int, price: str | None, *, sale: bool = False, in_stock: bool | None = True) -> dict:
    return {"day": START + dt.timedelta(days=day), "price": None if price is None else Decimal(price),
            "is_sale": sale, "in_stock": in_stock}


def test_one_line_per_variant_with_sale_and_stockout_markers_and_gap_bands():
    series = [{"variant_id": "a:1", "points": [_point(0, "10"), _point(1, "8", sale=True), _point(2, None)]},
              {"variant_id": "a:<2>", "points": [_point(0, "12"), _point(3, "12", in_stock=False)]}]
    gaps = [{"day": START + dt.timedelta(days=2), "status": "missing"}]
    svg = str(price_chart(series, gaps, START, END))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    lines = re.findall(r'<g class="series" data-variant="([^"]+)" stroke="([^"]+)"><polyline fill="none" '
                       r'points="([^"]*)"/>', svg)
    assert [(v, s) for v, s, _ in lines] == [("a:1", colour(0)), ("a:&lt;2&gt;", colour(1))]  # ids escaped
    assert [len(points.split()) for _, _, points in lines] == [2, 2]  # a day without a price draws no point
    assert svg.count('class="sale"') == 1 and svg.count('class="stockout"') == 1
    assert re.findall(r'<rect class="gap" data-day="([^"]+)"', svg) == ["2026-11-03"]
    assert ">12<" in svg and ">8<" in svg  # the axis runs from the lowest price to the highest


def test_higher_prices_are_drawn_higher_and_later_days_further_right():
    series = [{"variant_id": "a:1", "points": [_point(0, "5"), _point(4, "9")]}]
    points = re.search(r'points="([^"]*)"', str(price_chart(series, [], START, END))).group(1)
    (x0, y0), (x1, y1) = [tuple(map(float, p.split(","))) for p in points.split()]
    assert x1 > x0 and y1 < y0  # SVG's y grows downwards


def test_no_prices_still_draws_an_empty_chart():
    svg = str(price_chart([], [], START, END))
    assert "<polyline" not in svg and "2026-11-01" in svg and "2026-11-05" in svg
