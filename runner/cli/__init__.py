"""The `coffee-runner` command line: one module per command family. Each command parses its
options, calls one library function, and prints text or JSON (`render`, `progress`).

The top layer: may import every other package, including `sandbox` (for `demo` and
`simulate`); nothing imports it.
"""

from runner.cli.main import cli, main

__all__ = ["cli", "main"]
