"""Render a day's offers as Shopify products.json and WooCommerce Store API JSON.

The quirks real shops show are reproduced on purpose (design.md section 9): tags as a
list or a comma string, `body_html` null, `available` absent, compare_at_price null,
"0.00", "" or below the price, prices as numbers, a free sample at price 0, option order
that varies, option names in French, multipacks; WooCommerce prices in minor units,
a grouped product, backorders, a variation whose grind attribute is null, and variable
products whose variations only come when asked for by parent.
A shop with a `fixture` serves a catalog captured from a real shop instead.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from runner.sandbox.simulator.catalog import EPOCH, Offer, Product, ShopSpec, offers


def _stamp(shop: ShopSpec, day_idx: int, hour: int = 9) -> str:
    day = EPOCH + dt.timedelta(days=max(day_idx, -400))
    when = dt.datetime.combine(day, dt.time(hour), ZoneInfo(shop.timezone))
    return when.isoformat()


def _grouped(seed: int, shop: ShopSpec, day: dt.date) -> list[tuple[Product, list[Offer]]]:
    groups: dict[int, tuple[Product, list[Offer]]] = {}
    for offer in offers(seed, shop, day):
        groups.setdefault(offer.product.platform_id, (offer.product, []))[1].append(offer)
    return list(groups.values())


# --- Shopify ---------------------------------------------------------------------------

def shopify_products(seed: int, shop: ShopSpec, day: dt.date) -> list[dict[str, Any]]:
    return [_shopify_product(shop, product, group) for product, group in _grouped(seed, shop, day)]


def _shopify_product(shop: ShopSpec, product: Product, group: list[Offer]) -> dict[str, Any]:
    tags = ["coffee", product.product_type.lower(), f"origin-{product.index}"]
    options = [
        {"name": name, "position": pos + 1,
         "values": list(dict.fromkeys(dict(v.options)[name] for v in product.variants))}
        for pos, name in enumerate(product.option_names)
    ] or [{"name": "Title", "position": 1, "values": ["Default Title"]}]
    return {
        "id": product.platform_id,
        "title": product.title,
        "handle": product.handle,
        "body_html": None if product.style == 1 else f"<p>{product.title}, roasted to order.</p>",
        "published_at": _stamp(shop, product.start_day),
        "created_at": _stamp(shop, product.start_day, 8),
        "updated_at": _stamp(shop, product.start_day, 10),
        "vendor": shop.name,
        "product_type": product.product_type,
        "tags": ", ".join(tags) if product.style == 2 else tags,
        "variants": [_shopify_variant(shop, product, offer, pos) for pos, offer in enumerate(group)],
        "images": [],
        "options": options,
    }


def _shopify_variant(shop: ShopSpec, product: Product, offer: Offer, pos: int) -> dict[str, Any]:
    values: list[str | None] = [v for _, v in offer.variant.options] or ["Default Title"]
    values += [None] * (3 - len(values))
    compare_at: str | None
    if offer.compare_at is not None:
        compare_at = str(offer.compare_at)
    else:  # not on sale: shops write this four different ways, one of them below the price
        below = _fixed(offer.price * Decimal("0.9"), 2)
        compare_at = {0: None, 1: "0.00", 2: below, 3: ""}[product.style]
    variant: dict[str, Any] = {
        "id": offer.variant.platform_id,
        "title": offer.variant.title,
        "option1": values[0], "option2": values[1], "option3": values[2],
        "sku": f"{shop.id[:3].upper()}-{offer.variant.platform_id % 100000}",
        "requires_shipping": True,
        "taxable": True,
        # some endpoints give the price as a number, not a string
        "price": float(offer.price) if product.style == 1 else _fixed(offer.price, 2),
        "compare_at_price": compare_at,
        "grams": offer.variant.weight_g or 0,
        "position": pos + 1,
        "product_id": product.platform_id,
        "created_at": _stamp(shop, product.start_day, 8),
        "updated_at": _stamp(shop, product.start_day, 10),
    }
    if product.style != 3:  # some storefronts leave 'available' out
        variant["available"] = offer.in_stock
    return variant


def _fixed(value: Decimal, places: int) -> str:
    return f"{value:.{places}f}"


GRIND_OPTION_NAMES = ("Grind", "Mouture")

# --- WooCommerce -----------------------------------------------------------------------

def _minor(value: Decimal, shop: ShopSpec) -> str:
    return str(int((value * (10 ** shop.minor_unit)).to_integral_value()))


def _prices(shop: ShopSpec, offer: Offer, price_range: dict[str, str] | None = None) -> dict[str, Any]:
    regular = offer.compare_at if offer.compare_at is not None else offer.price
    return {
        "price": _minor(offer.price, shop),
        "regular_price": _minor(regular, shop),
        "sale_price": _minor(offer.price, shop),
        "price_range": price_range,
        "currency_code": shop.currency,
        "currency_symbol": {"EUR": "€", "GBP": "£", "USD": "$", "INR": "₹", "JPY": "¥"}.get(shop.currency, ""),
        "currency_minor_unit": shop.minor_unit,
        "currency_decimal_separator": ".",
        "currency_thousand_separator": ",",
        "currency_prefix": "",
        "currency_suffix": "",
    }


def _is_simple(product: Product) -> bool:
    return len(product.variants) == 1 and not product.variants[0].options


def woo_products(seed: int, shop: ShopSpec, day: dt.date) -> list[dict[str, Any]]:
    items = [_woo_product(shop, product, group) for product, group in _grouped(seed, shop, day)]
    simple = [item for item in items if item["type"] == "simple" and int(item["prices"]["price"]) > 0]
    if simple:  # a grouped product: no offer of its own, its price is its cheapest child's
        cheapest = min(simple, key=lambda item: int(item["prices"]["price"]))
        items.append({**cheapest, "id": 90_000 + len(items), "name": f"{shop.name} bundle", "type": "grouped",
                      "slug": "bundle", "grouped_products": [item["id"] for item in simple]})
    return items


def _woo_attribute(product: Product, pos: int, name: str) -> dict[str, Any]:
    values = dict.fromkeys(dict(v.options)[name] for v in product.variants)
    return {"id": pos + 1, "name": name, "taxonomy": f"pa_{name.lower()}", "has_variations": True,
            "terms": [{"id": 1000 + k, "name": value, "slug": value.lower().replace(" ", "-")}
                      for k, value in enumerate(values)]}


def _woo_variation_ref(o: Offer) -> dict[str, Any]:
    return {"id": o.variant.platform_id, "attributes": [{"name": n, "value": v} for n, v in o.variant.options]}


def _woo_product(shop: ShopSpec, product: Product, group: list[Offer]) -> dict[str, Any]:
    cheapest = min(group, key=lambda o: o.price)
    simple = _is_simple(product)
    price_range = None if simple else {
        "min_amount": _minor(min(o.price for o in group), shop),
        "max_amount": _minor(max(o.price for o in group), shop),
    }
    attributes = [_woo_attribute(product, pos, name) for pos, name in enumerate(product.option_names)]
    return {
        "id": product.platform_id,
        "name": product.title,
        "slug": product.handle,
        "parent": 0,
        "type": "simple" if simple else "variable",
        "variation": "",
        "permalink": f"https://{shop.id}.example/product/{product.handle}/",
        "sku": f"{shop.id[:3].upper()}-{product.platform_id}",
        "short_description": "",
        "description": f"<p>{product.title}</p>",
        "on_sale": any(o.is_sale for o in group),
        "prices": _prices(shop, cheapest, price_range),
        "is_in_stock": any(o.in_stock for o in group),
        "is_on_backorder": False,
        "is_purchasable": True,
        "attributes": attributes,
        "variations": [] if simple else [_woo_variation_ref(o) for o in group],
        "categories": [{"id": 1, "name": product.product_type, "slug": product.product_type.lower()}],
    }


def woo_variations(seed: int, shop: ShopSpec, day: dt.date) -> list[dict[str, Any]]:
    rows = []
    for product, group in _grouped(seed, shop, day):
        if _is_simple(product):
            continue
        for offer in group:
            label = ", ".join(f"{n}: {v}" for n, v in offer.variant.options)
            attributes: list[dict[str, Any]] = []
            if product.style == 1:  # "any grind": the attribute is null, the others stay
                label = ""
                attributes = [{"name": n, "value": None if n in GRIND_OPTION_NAMES else v}
                              for n, v in offer.variant.options]
            rows.append({
                "id": offer.variant.platform_id,
                "name": f"{product.title} - {', '.join(v for _, v in offer.variant.options)}",
                "slug": f"{product.handle}-{offer.variant.platform_id}",
                "parent": product.platform_id,
                "type": "variation",
                "variation": label,
                "sku": f"{shop.id[:3].upper()}-{offer.variant.platform_id}",
                "on_sale": offer.is_sale,
                "prices": _prices(shop, offer),
                "is_in_stock": offer.in_stock,
                "is_on_backorder": not offer.in_stock and product.style == 1,
                "is_purchasable": True,
                "attributes": attributes,
                "variations": [],
                "unlisted": product.style == 2,  # popped by the server: returned only by parent
            })
    return rows


# --- captured real catalogs ---------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def fixture_items(path: str, kind: str) -> tuple[dict[str, Any], ...]:
    """A real shop's captured catalog: a Shopify products.json body, a Store API array, or
    the {"product", "variants"} records another crawler saved; `kind` is shopify,
    products or variations."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if kind == "shopify":
        return tuple(doc["products"])
    if isinstance(doc, list):
        return tuple(doc) if kind == "products" else ()
    return (doc["product"],) if kind == "products" else tuple(doc["variants"])
