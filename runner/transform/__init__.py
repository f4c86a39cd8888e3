"""The dbt project as the runner uses it: running dbt (and its warm worker), preparing a
database before work (`bootstrap`), day coverage from `ops.coverage_daily`, provenance
(which code version built which days).

May import `core` and `store`.
"""
