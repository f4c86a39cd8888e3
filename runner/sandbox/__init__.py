"""Trying and testing coffee-runner without real shops: the shop and archive simulator,
the demo, the runbook's scenario book and its harness, and the one truth check (the
marts against what the simulator served).

May import every production layer; only `cli` (the `demo` and `simulate` commands) and
the tests import it.
"""
