"""Deterministic shop catalogs that change day by day.

Everything is a pure function of (seed, shop, day): no state, no clock. Tests and the
demo ask `truth()` for what a shop offered on a day and compare the marts with it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

EPOCH = dt.date(2024, 1, 1)
SALE_DISCOUNT = Decimal("0.85")
SALE_CHANCE = 0.15  # per product per 3-day window
STOCKOUT_CHANCE = 0.10  # per variant per day

GRINDS = ("Whole Bean", "Espresso", "Filter", "French Press", "Pour Over", "AeroPress",
          "Moka Pot", "Cold Brew", "South Indian Filter", "Drip", "Ground", "Cold Brew / Channi / French Press")
# French-speaking shops name their options Poids / Mouture (layout 3).
FRENCH_GRINDS = ("Grains", "Moulu", "Filtre")
# What the marts call each grind label (the label lower-cased where it is not listed).
GRIND_TERMS = {"Cold Brew / Channi / French Press": "ground", "Grains": "whole bean", "Moulu": "ground",
               "Filtre": "filter"}
# Size labels as shops write them, with the grams they mean (None: not a weight).
SIZES: dict[str, tuple[tuple[str, int | None, Decimal], ...]] = {
    "metric": (("250g", 250, Decimal(1)), ("500g", 500, Decimal("1.9")), ("1kg", 1000, Decimal("3.6"))),
    "spaced": (("250 g", 250, Decimal(1)), ("1 kg", 1000, Decimal("3.5"))),
    "gms": (("250 gms", 250, Decimal(1)), ("500 gms", 500, Decimal("1.9"))),
    "imperial": (("12oz", 340, Decimal(1)), ("2 lbs", 907, Decimal("2.5")), ("5 Pounds", 2268, Decimal(6))),
    "caps": (("12 Oz", 340, Decimal(1)), ("1 lb", 454, Decimal("1.3"))),
    "dual": (("340g (12oz)", 340, Decimal(1)), ("907g (2lb)", 907, Decimal("2.5"))),
    "multipack": (("200g x 4", 800, Decimal("3.1")), ("4 x 250g", 1000, Decimal("3.8"))),
}
FREE_SAMPLE_INDEX = 3  # every shop lists one free sample (price 0): a rejected item, never a price
PACKS: tuple[tuple[str, int | None, Decimal], ...] = (
    ("1 bag", None, Decimal(1)), ("10 count", None, Decimal("4.5")), ("12 Pack", None, Decimal(5)))
ORIGINS = ("Ethiopia Yirgacheffe", "Kenya AA", "Colombia Huila", "Guatemala Antigua",
           "Brazil Cerrado", "Sumatra Mandheling", "Costa Rica Tarrazu", "Rwanda Nyamasheke",
           "Chikmagalur Estate", "Baba Budangiri", "House Espresso", "Decaf Swiss Water")
PAGE_SIZES = {"shopify": 250, "woocommerce": 100}  # the pages the runner asks for (the change unit)
CHANGE_LOOKBACK_DAYS = 400
PRICE_BANDS = {"USD": (12, 26), "EUR": (10, 22), "GBP": (9, 20), "INR": (380, 1250), "JPY": (1500, 3800)}


@dataclass(frozen=True)
class ShopSpec:
    id: str
    name: str
    platform: str  # shopify | woocommerce
    currency: str
    timezone: str = "UTC"
    products: int = 12  # size of the product pool over all time
    currency_in_config: bool = True  # shopify: False means meta.json supplies it
    woo_route: str = "v1"  # v1 | legacy (only /wp-json/wc/store/products)
    minor_unit: int = 2
    fixture: str | None = None  # a captured real catalog served byte for byte instead (render.fixture_items)
    # How pages change from one day to the next, as real catalogs do: on a day, each page
    # changes with `page_change_rate`, and on a changed page each product with
    # `product_change_share`; a product that does not change shows its last change day's
    # price, sale and stock. 1.0 and 1.0: every product's state is the day's own.
    page_change_rate: float = 1.0
    product_change_share: float = 1.0
    # Send a strong ETag with each catalog page and answer a matching If-None-Match with
    # 304 Not Modified, as some shops' caches do (Shopify and the Store API send none).
    validators: bool = False

    @property
    def decimals(self) -> int:
        return 0 if self.currency == "JPY" else 2


DEFAULT_SHOPS = (
    ShopSpec("aurora-beans", "Aurora Beans", "shopify", "USD", "America/New_York",
             currency_in_config=False),
    ShopSpec("blue-peak", "Blue Peak Roasters", "shopify", "INR", "Asia/Kolkata"),
    ShopSpec("cedar-roast", "Cedar Roast Co", "woocommerce", "EUR", "Europe/Berlin"),
    ShopSpec("dune-coffee", "Dune Coffee", "woocommerce", "GBP", "Europe/London", woo_route="legacy"),
)


def changing(shops: tuple[ShopSpec, ...], page_change_rate: float,
             product_change_share: float) -> tuple[ShopSpec, ...]:
    """The shops with pages that change at these rates (see ShopSpec)."""
    return tuple(dataclasses.replace(shop, page_change_rate=page_change_rate,
                                     product_change_share=product_change_share) for shop in shops)


def _hash(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _frac(*parts: object) -> float:
    return _hash(*parts) / 2**64


def _pick(seq: tuple[Any, ...], *parts: object) -> Any:
    return seq[_hash(*parts) % len(seq)]


@dataclass(frozen=True)
class Variant:
    platform_id: int
    options: tuple[tuple[str, str], ...]  # (option name, value) in the shop's order
    weight_g: int | None
    grind: str | None
    base_price: Decimal

    @property
    def title(self) -> str:
        values = [v for _, v in self.options]
        return " / ".join(values) if values else "Default Title"


@dataclass(frozen=True)
class Product:
    platform_id: int
    index: int
    title: str
    handle: str
    product_type: str
    option_names: tuple[str, ...]
    variants: tuple[Variant, ...]
    start_day: int  # days since EPOCH of its first listing
    period: int | None  # seasonal: listed for `on_days` of every `period` days; None: always
    on_days: int
    style: int  # presentation quirks: compare_at style, tags format, missing 'available'

    def active_on(self, day_index: int) -> bool:
        if self.period is None:
            return True
        return (day_index - self.start_day) % self.period < self.on_days


@dataclass(frozen=True)
class Offer:
    product: Product
    variant: Variant
    price: Decimal
    compare_at: Decimal | None
    is_sale: bool
    in_stock: bool


def day_index(day: dt.date) -> int:
    return (day - EPOCH).days


@functools.lru_cache(maxsize=256)
def product_pool(seed: int, shop: ShopSpec) -> tuple[Product, ...]:
    return tuple(_make_product(seed, shop, i) for i in range(shop.products))


def _make_product(seed: int, shop: ShopSpec, i: int) -> Product:
    kind = "coffee" if i < 3 or _frac(seed, shop.id, i, "kind") < 0.8 else _pick(("merch", "pack"), seed, shop.id, i)
    kind = "sample" if i == FREE_SAMPLE_INDEX else kind
    origin = ORIGINS[i % len(ORIGINS)]
    title = {"coffee": f"{origin} #{i}", "merch": f"Gift Card #{i}", "pack": f"Drip Bags #{i}",
             "sample": f"Free Sample #{i}"}[kind]
    low, high = PRICE_BANDS.get(shop.currency, (10, 25))
    base = Decimal(0) if kind == "sample" else Decimal(low + _hash(seed, shop.id, i, "price") % (high - low + 1))
    names, combos = _options(seed, shop, i, kind)
    pid = _platform_id(shop, i)
    variants = tuple(
        Variant(_platform_id(shop, i, k + 1), opts, weight, grind, _money(base * mult, shop))
        for k, (opts, weight, grind, mult) in enumerate(combos)
    )
    # The first three products are always listed so no day has an empty catalog; the
    # others are seasonal releases that come and go, so catalogs change week to week.
    seasonal = i > FREE_SAMPLE_INDEX and _frac(seed, shop.id, i, "seasonal") < 0.5
    period = 20 + _hash(seed, shop.id, i, "period") % 60 if seasonal else None
    start = _hash(seed, shop.id, i, "start") % 400 - 400
    on_days = (period or 1) * 2 // 3
    return Product(pid, i, title, f"{title.lower().replace(' ', '-').replace('#', '')}", kind.title(),
                   names, variants, start, period, on_days, _hash(seed, shop.id, i, "style") % 4)


Combo = tuple[tuple[tuple[str, str], ...], int | None, str | None, Decimal]


def _combo(layout: int, size: str, grams: int | None, grind: str, mult: Decimal) -> Combo:
    """One variant's options in a layout: 0 size then grind, 1 grind first (positions differ,
    names do not), 2 size only, 3 a French shop's option names."""
    if layout == 0:
        return (("Size", size), ("Grind", grind)), grams, grind, mult
    if layout == 1:
        return (("Grind", grind), ("Weight", size)), grams, grind, mult
    if layout == 3:
        return (("Poids", size), ("Mouture", grind)), grams, grind, mult
    return (("Weight", size),), grams, None, mult


def _options(seed: int, shop: ShopSpec, i: int, kind: str) -> tuple[tuple[str, ...], list]:
    if kind in ("merch", "sample"):
        return (), [((), None, None, Decimal(1))]
    if kind == "pack":
        sizes = PACKS[: 1 + _hash(seed, shop.id, i, "packs") % len(PACKS)]
        return ("Size",), [((("Size", s),), None, None, m) for s, _, m in sizes]
    sizes = SIZES[_pick(tuple(SIZES), seed, shop.id, i, "sizes")]
    layout = _hash(seed, shop.id, i, "layout") % 4
    size_name = "Weight" if layout == 1 else "Size"
    names_of = FRENCH_GRINDS if layout == 3 else GRINDS
    grinds = [names_of[(i + k) % len(names_of)] for k in range(1 + _hash(seed, shop.id, i, "g") % 3)]
    combos = [_combo(layout, size, grams, grind, mult)
              for size, grams, mult in sizes for grind in (grinds if layout != 2 else ["Whole Bean"])]
    names = {0: ("Size", "Grind"), 1: ("Grind", size_name), 2: ("Weight",), 3: ("Poids", "Mouture")}[layout]
    return names, combos


def _platform_id(shop: ShopSpec, product: int, variant: int = 0) -> int:
    if shop.platform == "shopify":
        base = 7_000_000_000 + _hash(shop.id) % 1_000_000 * 1000
        return base + product if variant == 0 else 40_000_000_000 + (base % 10**9) * 10 + product * 100 + variant
    # WordPress: products and variations share one id space.
    return 100 + product * 50 + variant


def _money(value: Decimal, shop: ShopSpec) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-shop.decimals), rounding=ROUND_HALF_UP)


def changed_on(seed: int, shop: ShopSpec, product: Product, d: int) -> bool:
    """Did the product's page change on day index `d`, and the product with it?"""
    page = product.index // PAGE_SIZES[shop.platform]
    return (_frac(seed, shop.id, "page-change", page, d) < shop.page_change_rate
            and _frac(seed, shop.id, "product-change", product.index, d) < shop.product_change_share)


def as_of(seed: int, shop: ShopSpec, product: Product, d: int) -> int:
    """The day index whose price, sale and stock the product shows on day index `d`: its
    latest change day, looking back to the start of d's CHANGE_LOOKBACK_DAYS window (which
    counts as a change day, so a product that never changes still moves once a window)."""
    if shop.page_change_rate >= 1 and shop.product_change_share >= 1:
        return d
    window = d - d % CHANGE_LOOKBACK_DAYS
    return next((day for day in range(d, window, -1) if changed_on(seed, shop, product, day)), window)


def offers(seed: int, shop: ShopSpec, day: dt.date) -> list[Offer]:
    """What the shop offers on `day` (a calendar day in the shop's timezone)."""
    d = day_index(day)
    result = []
    for product in product_pool(seed, shop):
        s = as_of(seed, shop, product, d)  # listed or not, like its price, as of its last change
        if not product.active_on(s):
            continue
        on_sale = _frac(seed, shop.id, product.index, "sale", s // 3) < SALE_CHANCE
        for variant in product.variants:
            step = Decimal(_hash(seed, shop.id, variant.platform_id, "week", s // 7) % 5 - 2) / 50
            regular = _money(variant.base_price * (1 + step), shop)
            price = _money(regular * SALE_DISCOUNT, shop) if on_sale else regular
            in_stock = _frac(seed, shop.id, variant.platform_id, "stock", s) >= STOCKOUT_CHANCE
            result.append(Offer(product, variant, price, regular if on_sale else None, on_sale, in_stock))
    return result


def truth(seed: int, shop: ShopSpec, day: dt.date) -> list[dict[str, Any]]:
    """The expected normalized rows for a day: one per variant, keyed as the marts key them."""
    rows = []
    for offer in offers(seed, shop, day):
        if offer.price <= 0:
            continue  # a free sample: rejected_items, never prices
        simple = shop.platform == "woocommerce" and len(offer.product.variants) == 1 and not offer.variant.options
        vid = offer.product.platform_id if simple else offer.variant.platform_id
        rows.append({
            "product_id": f"{shop.id}:{offer.product.platform_id}",
            "variant_id": f"{shop.id}:{vid}",
            "price": offer.price,
            "compare_at_price": offer.compare_at,
            "is_sale": offer.is_sale,
            "in_stock": offer.in_stock,
            "currency": shop.currency,
            "weight_g": offer.variant.weight_g,
            "grind": grind_term(shop, offer),
        })
    return rows


def grind_term(shop: ShopSpec, offer: Offer) -> str | None:
    """The grind the marts should read: the label's term; none where a WooCommerce
    variation leaves its grind attribute null (sold in any grind)."""
    label = offer.variant.grind
    if label is None or (shop.platform == "woocommerce" and offer.product.style == 1):
        return None
    return GRIND_TERMS.get(label, label.lower())
