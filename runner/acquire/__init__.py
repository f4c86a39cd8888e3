"""Getting shop JSON politely: the HTTP client (per-shop gate, retries, robots.txt,
redirects), the platforms (Shopify, WooCommerce Store API), the web archive, live runs.

May import `core`, `store` and `transform` (a run prepares the database first).
"""
