"""Local simulator of roaster shops (Shopify and WooCommerce) and of a web archive."""

from runner.sandbox.simulator.catalog import DEFAULT_SHOPS, ShopSpec, changing
from runner.sandbox.simulator.faults import Fault, parse_fault
from runner.sandbox.simulator.server import Simulator

__all__ = ["DEFAULT_SHOPS", "Fault", "ShopSpec", "Simulator", "changing", "parse_fault"]
