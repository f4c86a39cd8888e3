"""Local simulator of roaster shops (Shopify and WooCommerce) and of a web archive."""

from runner.simulator.catalog import DEFAULT_SHOPS, ShopSpec
from runner.simulator.faults import Fault, parse_fault
from runner.simulator.server import Simulator

__all__ = ["DEFAULT_SHOPS", "Fault", "ShopSpec", "Simulator", "parse_fault"]
