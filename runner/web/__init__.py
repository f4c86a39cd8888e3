"""The service's HTTP face: `/health`, `/metrics` and the dashboard (the pages, their
parameters, queries, cells and charts), and the same pages exported as static files.

May import `core`, `store`, `transform`, `ops` and `backfill`; imported by `service`
and `cli`.
"""
