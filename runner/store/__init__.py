"""PostgreSQL: connections (embedded by default), migrations, the append-only raw store
and runs, the control tables the runner writes directly (pauses, the shared request
budget).

May import `core` only.
"""
