"""Pagination on both platforms, against the simulator, stored in a real database."""

from __future__ import annotations

from pathlib import Path

from runner.acquire.fetch import fetch_live
from runner.core.config import Config
from runner.sandbox.simulator import ShopSpec, Simulator
from runner.sandbox.simulator.render import woo_variations
from runner.store.db import Target
from runner.transform.bootstrap import prepare
from tests.runner.helpers import TODAY, sim_config

BIG_SHOPIFY = ShopSpec("big-shopify", "Big Shopify", "shopify", "USD", products=800)
BIG_WOO = ShopSpec("big-woo", "Big Woo", "woocommerce", "EUR", products=250)
LEGACY_WOO = ShopSpec("old-woo", "Old Woo", "woocommerce", "JPY", woo_route="legacy", minor_unit=0)


def _fetch(sim: Simulator, tmp_path: Path, target: Target, db) -> tuple[Config, list]:
    _, config = sim_config(sim, tmp_path)
    prepare(db, config)
    return config, fetch_live(config, target, list(config.roasters))


def _listing(db, roaster: str) -> list[tuple]:
    return db.execute(
        """select resource, page, http_status,
                  coalesce(jsonb_array_length(case when jsonb_typeof(body) = 'array' then body end),
                           jsonb_array_length(body -> 'products')),
                  requested_url
             from raw.captures where roaster_id = %s and resource in ('products', 'variations')
            order by captured_at""",
        (roaster,),
    ).fetchall()


def test_shopify_pages_until_empty(tmp_path, target, db):
    with Simulator(shops=(BIG_SHOPIFY,), today=TODAY) as sim:
        _, (run,) = _fetch(sim, tmp_path, target, db)
    n = len(_active_products(BIG_SHOPIFY))
    assert n > 500  # the pool is big enough for three pages
    assert run.status == "ok" and run.pages == 3
    rows = _listing(db, "big-shopify")
    assert [(r[1], r[3]) for r in rows] == [(1, 250), (2, 250), (3, n - 500), (4, 0)]
    assert all("limit=250" in r[4] for r in rows)


def test_shopify_window_end_with_400_errors_is_a_clean_end(tmp_path, target, db):
    with Simulator(shops=(BIG_SHOPIFY,), today=TODAY, shopify_window=500) as sim:
        _, (run,) = _fetch(sim, tmp_path, target, db)
    assert run.status == "ok" and run.pages == 2
    assert [(r[1], r[2]) for r in _listing(db, "big-shopify")] == [(1, 200), (2, 200), (3, 400)]


def test_woocommerce_uses_total_pages_for_products_and_variations(tmp_path, target, db):
    with Simulator(shops=(BIG_WOO,), today=TODAY) as sim:
        _, (run,) = _fetch(sim, tmp_path, target, db)
        n_variations = len(woo_variations(42, BIG_WOO, TODAY))
    rows = _listing(db, "big-woo")
    products = [r for r in rows if r[0] == "products"]
    variations = [r for r in rows if r[0] == "variations" and "parent=" not in r[4]]
    by_parent = [r for r in rows if r[0] == "variations" and "parent=" in r[4]]
    assert run.status == "ok"
    assert [r[1] for r in products] == list(range(1, len(products) + 1))
    # every active product, plus the shop's one grouped product
    assert sum(r[3] for r in products) == len({p for p in _active_products(sim_shop=BIG_WOO)}) + 1
    assert len(variations) == -(-sum(r[3] for r in variations) // 100)  # no extra empty page
    # the variations the listing left out were asked for by parent, and came
    assert by_parent and sum(r[3] for r in variations + by_parent) == n_variations
    assert all("per_page=100" in r[4] for r in rows)
    assert all("type=variation" in r[4] for r in variations)
    assert sum(r[3] for r in variations) < n_variations


def _active_products(sim_shop: ShopSpec) -> set[int]:
    from runner.sandbox.simulator.catalog import offers

    return {o.product.platform_id for o in offers(42, sim_shop, TODAY)}


def test_woocommerce_falls_back_to_the_older_route(tmp_path, target, db):
    with Simulator(shops=(LEGACY_WOO,), today=TODAY) as sim:
        _, (run,) = _fetch(sim, tmp_path, target, db)
    rows = _listing(db, "old-woo")
    assert run.status == "ok"
    assert rows[0][2] == 404 and "/wp-json/wc/store/v1/products" in rows[0][4]
    assert all("/wp-json/wc/store/products" in r[4] for r in rows[1:])


def test_currency_from_meta_json_only_when_config_lacks_it(tmp_path, target, db, sim):
    _fetch(sim, tmp_path, target, db)
    meta = dict(db.execute("""select roaster_id, body->>'currency' from raw.captures
                               where resource = 'meta'""").fetchall())
    assert meta == {"aurora-beans": "USD"}  # blue-peak has currency: INR in its config


def test_run_is_partial_when_a_later_page_fails(tmp_path, target, db):
    from runner.sandbox.simulator import Fault

    with Simulator(shops=(BIG_SHOPIFY,), today=TODAY,
                   faults=[Fault("500", resource="products", page=2)]) as sim:
        _, (run,) = _fetch(sim, tmp_path, target, db)
    assert run.status == "partial" and run.pages == 1
    assert "products page 2: HTTP 500" in run.error
