"""coffee-runner: polite shop fetcher, raw store and backfill runner."""

__version__ = "0.1.0"
