"""The benchmarks reuse the suite's PostgreSQL (embedded, or COFFEE_TEST_DATABASE_URL)."""

from tests.runner.conftest import pg_admin_url  # noqa: F401 - a fixture, used by name
