from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from runner.sandbox.simulator import DEFAULT_SHOPS, Simulator, changing, parse_fault
from runner.sandbox.simulator.catalog import offers, truth
from runner.sandbox.simulator.faults import Fault
from runner.sandbox.simulator.render import shopify_products, woo_products, woo_variations

SEED = 42
REAL = Path(__file__).parent / "data" / "real"
DAY = dt.date(2026, 3, 10)


def test_catalogs_are_a_pure_function_of_seed_and_day():
    shop = DEFAULT_SHOPS[0]
    assert truth(SEED, shop, DAY) == truth(SEED, shop, DAY)
    assert truth(SEED, shop, DAY) != truth(SEED + 1, shop, DAY)


def test_catalogs_change_over_days():
    shop = DEFAULT_SHOPS[2]
    days = [DAY + dt.timedelta(days=i) for i in range(60)]
    prices = {d: {r["variant_id"]: r["price"] for r in truth(SEED, shop, d)} for d in days}
    ids = [set(p) for p in prices.values()]
    assert len({frozenset(i) for i in ids}) > 1  # products added or retired
    changed = sum(prices[a] != prices[b] for a, b in itertools.pairwise(days))
    assert changed > 5
    assert any(r["is_sale"] for d in days for r in truth(SEED, shop, d))
    assert any(not r["in_stock"] for d in days for r in truth(SEED, shop, d))


def test_rendered_shopify_matches_truth():
    """The page carries the truth's price, stock and compare-at price; how a parser reads the
    non-sale compare-at quirks is the dbt project's rule, checked end to end in test_dbt."""
    shop = DEFAULT_SHOPS[0]
    rows = {r["variant_id"]: r for r in truth(SEED, shop, DAY)}
    free, sales = 0, 0
    for product in shopify_products(SEED, shop, DAY):
        for v in product["variants"]:
            if Decimal(str(v["price"])) == 0:  # the free sample: a rejected item, not in the truth
                assert f"{shop.id}:{v['id']}" not in rows
                free += 1
                continue
            expected = rows[f"{shop.id}:{v['id']}"]
            assert Decimal(str(v["price"])) == expected["price"]  # a string, or a number on some endpoints
            if expected["compare_at_price"] is not None:
                assert Decimal(v["compare_at_price"]) == expected["compare_at_price"]
                sales += 1
            assert v.get("available", expected["in_stock"]) == expected["in_stock"]
    assert free == 1 and sales > 0


def _real_woo_product() -> dict:
    return json.loads((REAL / "woo" / "babasbeans.json").read_text())[0]


def test_rendered_woocommerce_has_the_real_store_api_shape():
    """Prices as a real Store API gives them (integer strings in minor units, with the unit);
    their decoding is the dbt project's rule, unit-tested there and checked end to end."""
    shop, real = DEFAULT_SHOPS[2], _real_woo_product()
    rows = {r["variant_id"]: r for r in truth(SEED, shop, DAY)}
    variations = woo_variations(SEED, shop, DAY)
    assert variations
    for var in variations:
        assert f"{shop.id}:{var['id']}" in rows
        assert set(var["prices"]) <= set(real["prices"])
        assert var["prices"]["price"].isdigit()
        assert type(var["prices"]["currency_minor_unit"]) is type(real["prices"]["currency_minor_unit"])
        assert var["parent"] in {p["id"] for p in woo_products(SEED, shop, DAY)}
    simple = [p for p in woo_products(SEED, shop, DAY) if p["type"] == "simple"]
    for p in simple:
        assert (f"{shop.id}:{p['id']}" in rows) == (p["prices"]["price"] != "0")
    grouped = [p for p in woo_products(SEED, shop, DAY) if p["type"] == "grouped"]
    priced_simple = [p for p in simple if p["prices"]["price"] != "0"]
    assert len(grouped) == (1 if priced_simple else 0)
    assert all(f"{shop.id}:{p['id']}" not in rows for p in grouped)


def test_variant_ids_are_unique_per_shop():
    for shop in DEFAULT_SHOPS:
        ids = [o.variant.platform_id for o in offers(SEED, shop, DAY)]
        assert len(ids) == len(set(ids))


def test_http_limits_match_the_real_platforms():
    with Simulator(today=DAY) as sim:
        woo = httpx.get(f"{sim.url}/r/cedar-roast/wp-json/wc/store/v1/products?per_page=101")
        past = httpx.get(f"{sim.url}/r/cedar-roast/wp-json/wc/store/v1/products?per_page=100&page=9")
        window = httpx.get(f"{sim.url}/r/aurora-beans/products.json?limit=250&page=101")
        truth_doc = httpx.get(f"{sim.url}/_sim/truth/aurora-beans/{DAY}.json")
        assert woo.status_code == 400
        assert past.status_code == 200 and past.json() == []
        assert window.status_code == 400 and "errors" in window.json()
        assert len(truth_doc.json()) == len(truth(SEED, DEFAULT_SHOPS[0], DAY))
        assert httpx.get(f"{sim.url}/r/aurora-beans/wp-json/wc/store/v1/products").status_code == 404


def test_parse_fault_and_limits():
    fault = parse_fault("kind=429,shop=aurora-beans,resource=products,page=2,times=3,arg=1.5")
    assert fault == Fault("429", "aurora-beans", "products", 2, 3, 1.5)
    assert parse_fault("kind=robots-disallow").resource == "robots"
    for bad in ("kind=nope", "shop=x", "kind=429,times=many", "kind=429,colour=red"):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_fault_times_are_counted():
    with Simulator(today=DAY, faults=[Fault("503", resource="meta", times=2)]) as sim:
        codes = [httpx.get(f"{sim.url}/r/aurora-beans/meta.json").status_code for _ in range(3)]
    assert codes == [503, 503, 200]


def _unchanged_share(shop, days: int = 200) -> float:
    """Share of days whose catalog pages are byte for byte the previous day's."""
    render = shopify_products if shop.platform == "shopify" else woo_variations
    pages = [json.dumps(render(SEED, shop, DAY + dt.timedelta(days=i))) for i in range(days)]
    return sum(a == b for a, b in itertools.pairwise(pages)) / (days - 1)


def _product_changes(shop, days: int = 120) -> float:
    """Share of (product, day) pairs whose offers differ from the day before."""
    states = [{} for _ in range(days)]
    for i in range(days):
        for o in offers(SEED, shop, DAY + dt.timedelta(days=i)):
            states[i].setdefault(o.product.platform_id, []).append((o.price, o.is_sale, o.in_stock))
    pairs = [(a[k], b[k]) for a, b in itertools.pairwise(states) for k in a.keys() & b.keys()]
    return sum(x != y for x, y in pairs) / len(pairs)


def test_pages_change_from_day_to_day_at_the_configured_rate():
    for base, slow, frozen in zip(DEFAULT_SHOPS, changing(DEFAULT_SHOPS, 0.1, 1.0), changing(DEFAULT_SHOPS, 0.0, 1.0),
                                  strict=True):
        assert _unchanged_share(base) < 0.1, base.id  # the default: every day's own catalog
        assert 0.8 <= _unchanged_share(slow) <= 0.97, base.id
        assert _unchanged_share(frozen) >= 0.98, base.id


def test_a_changed_page_changes_its_configured_share_of_products():
    for every, some in zip(changing(DEFAULT_SHOPS, 1.0, 1.0), changing(DEFAULT_SHOPS, 1.0, 0.3), strict=True):
        assert 0.1 * _product_changes(every) < _product_changes(some) < 0.5 * _product_changes(every), every.id


def test_slowly_changing_pages_still_render_their_truth():
    shop = changing(DEFAULT_SHOPS, 0.2, 0.5)[0]
    for day in (DAY, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=40)):
        rows = {r["variant_id"]: r for r in truth(SEED, shop, day)}
        rendered = {f"{shop.id}:{v['id']}": Decimal(str(v["price"]))
                    for p in shopify_products(SEED, shop, day) for v in p["variants"] if Decimal(str(v["price"])) > 0}
        assert rendered == {k: r["price"] for k, r in rows.items()}
