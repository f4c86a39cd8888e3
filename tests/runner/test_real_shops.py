"""Catalogs captured from real shops, served byte for byte through the simulator.

The expected rows are derived here from the JSON by hand: each variant's price, currency,
sale and stock straight from the payload, and weights and grinds from tables of the
plain labels these shops use (GRAMS, GRINDS), written out by reading the payloads, so a
change to the parser's rules cannot quietly move its own yardstick.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from runner.sandbox.simulator import Simulator
from runner.sandbox.simulator.catalog import ShopSpec
from tests.runner.helpers import TODAY, dbt, fetch_days, sim_config

REAL = Path(__file__).parent / "data" / "real"
SHOPS = (
    ShopSpec("blue-tokai", "Blue Tokai Coffee Roasters", "shopify", "INR", "Asia/Kolkata",
             fixture=str(REAL / "shopify" / "bluetokai.json")),
    ShopSpec("babas-beans", "Babas Beans", "woocommerce", "INR", "Asia/Kolkata", woo_route="legacy",
             fixture=str(REAL / "woo" / "babasbeans.json")),
    ShopSpec("dak", "DAK Coffee Roasters", "woocommerce", "EUR", "Europe/Amsterdam",
             fixture=str(REAL / "woo" / "dak.json")),
)
# Size labels in these payloads and the grams they plainly mean (None: not a weight).
GRAMS = {"250g": 250, "500g": 500, "1000g": 1000, "1kg": 1000, "1Kg": 1000, "100gms": 100, "75g": 75,
         "200g": 200, "600ml": None}
# Grind labels in these payloads and the grind they name.
GRINDS = {"Whole Bean": "whole bean", "French Press": "french press", "Aeropress": "aeropress",
          "Inverted Aeropress": "aeropress", "Moka Pot": "moka pot", "Cold Brew": "cold brew",
          "South Indian Filter": "south indian filter", "Pourover": "pour over", "Home Espresso": "espresso",
          "Commercial Espresso": "espresso", "Coffee Filter": "filter", "Channi": "channi", "Turkish": "turkish"}


def _load(name: str):
    return json.loads((REAL / name).read_text(encoding="utf-8"))


def _shopify_expected() -> dict[str, tuple]:
    rows = {}
    for product in _load("shopify/bluetokai.json")["products"]:
        names = [o["name"] for o in product["options"]]
        for v in product["variants"]:
            options = {name: v.get(f"option{i + 1}") for i, name in enumerate(names)}
            price = Decimal(v["price"])
            compare = Decimal(v["compare_at_price"]) if v.get("compare_at_price") else None
            on_sale = compare is not None and compare > price
            rows[f"blue-tokai:{v['id']}"] = (
                price, compare if on_sale else None, on_sale, v.get("available"), "INR",
                GRAMS.get(options.get("Size")), GRINDS.get(options.get("Grind")))
    return rows


@pytest.fixture
def real_day(tmp_path, target, db):
    """One live scrape of the three captured shops, then `dbt build`."""
    with Simulator(shops=SHOPS, today=TODAY) as sim:
        _, config = sim_config(sim, tmp_path)
        runs = fetch_days(sim, config, target, [TODAY])
        result = dbt(target, "build")
        assert result.ok, result.output[-3000:]
        yield {r.roaster_id: r for r in runs}, sim


def _prices(db, roaster: str) -> dict[str, tuple]:
    rows = db.execute("""select variant_id, price, compare_at_price, is_sale, in_stock, currency, weight_g, grind
                           from marts.prices where roaster_id = %s""", (roaster,)).fetchall()
    return {r[0]: r[1:] for r in rows}


def _coverage(db, roaster: str) -> tuple:
    return db.execute("""select status, price_rows, rejected_items, missing_variations, reason
                           from ops.coverage_daily where roaster_id = %s and day = %s""",
                      (roaster, TODAY)).fetchone()


def test_every_shopify_variant_of_a_real_catalog_is_priced_as_its_json_says(real_day, db):
    expected = _shopify_expected()
    got = _prices(db, "blue-tokai")
    assert len(expected) == 333
    assert got == expected
    assert _coverage(db, "blue-tokai") == ("complete", 333, 0, 0, None)
    # Multi-word grinds and non-grind options (City, Installments, Title) read right
    variants = dict(db.execute("select id, grind from marts.variants where roaster_id = 'blue-tokai'").fetchall())
    assert sum(1 for g in variants.values() if g is not None) == sum(1 for row in expected.values() if row[6]) == 274


def test_a_free_item_is_rejected_alone_and_unreturned_variations_make_the_day_partial(real_day, db):
    runs, _ = real_day
    items = _load("woo/babasbeans.json")
    simple = {str(p["id"]): p for p in items if p["type"] == "simple"}
    priced = {f"babas-beans:{pid}": (Decimal(p["prices"]["price"]) / 100, p["is_in_stock"])
              for pid, p in simple.items() if p["prices"]["price"] != "0"}
    got = {vid: (row[0], row[3]) for vid, row in _prices(db, "babas-beans").items()}
    assert got == priced  # the two priced simple products; no variable parent is a variant
    sale = _prices(db, "babas-beans")["babas-beans:1173"]
    assert (sale[1], sale[2]) == (Decimal("300.00"), True)  # regular 300, sale 149
    rejected = dict(db.execute("""select reason, count(*) from marts.rejected_items
                                   where roaster_id = 'babas-beans' group by reason""").fetchall())
    listed = sum(len(p["variations"]) for p in items if p["type"] == "variable")
    assert rejected == {"price <= 0": 2, "variation not returned": listed}
    zero = db.execute("""select variant_id, raw_value ->> 'price' from marts.rejected_items
                          where roaster_id = 'babas-beans' and reason = 'price <= 0' order by 1""").fetchall()
    assert zero == [("babas-beans:1982", "0"), ("babas-beans:3305", "0")]
    # the page itself stays valid: its priced items are in prices
    verdicts = db.execute("""select validation_status from marts.scrape_artifacts
                              where roaster_id = 'babas-beans' and resource = 'products' and offers > 0""").fetchall()
    assert verdicts == [("valid",)]
    # the shop's type=variation listing returned nothing, so they were asked for by parent
    assert runs["babas-beans"].status == "ok"
    _, sim = real_day
    asked = {r.query for r in sim.requests() if r.shop == "babas-beans" and "parent=" in r.query}
    parents = sorted(str(p["id"]) for p in items if p["type"] == "variable")
    assert asked == {f"type=variation&parent={'%2C'.join(parents)}&per_page=100&page=1"}
    status, price_rows, rejected_count, missing, reason = _coverage(db, "babas-beans")
    assert (status, price_rows, rejected_count, missing) == ("partial", 2, 2, listed)
    assert reason == f"{listed} variations listed by their parents were not returned"


def test_variations_with_a_roast_profile_keep_their_weight_and_no_grind(real_day, db, target):
    doc = _load("woo/dak.json")
    expected = {f"dak:{v['id']}": (Decimal(v["prices"]["price"]) / 100, None, False, True, "EUR",
                                   1000 if "1kg" in v["variation"] else 250, None)
                for v in doc["variants"]}
    assert _prices(db, "dak") == expected
    titles = db.execute("select distinct product_id, product_title from marts.prices "
                        "where roaster_id = 'dak'").fetchall()
    assert titles == [("dak:7748", "Milky Cake")]
    assert _coverage(db, "dak") == ("complete", 4, 0, 0, None)
    # a rebuild of the day gives the same tables
    before = db.execute("select * from marts.rejected_items order by artifact_id, listing_position").fetchall()
    before = [row[:-1] for row in before]  # all but invocation_id, the build that wrote the row
    assert dbt(target, "build", start_date=str(TODAY - dt.timedelta(days=1)), end_date=str(TODAY)).ok
    after = db.execute("select * from marts.rejected_items order by artifact_id, listing_position").fetchall()
    assert [row[:-1] for row in after] == before
