"""Where a long-running process gets its database connections: one psycopg_pool pool,
shared by the service's scheduler, its pages, /health and /metrics. A command that runs
once connects directly (`direct`); both are `Connections`: call it, use it in `with`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from runner.core.errors import DatabaseUnavailable
from runner.store.db import CONNECT_TIMEOUT_SECONDS, Target, connect

POOL_WAIT_SECONDS = 5.0  # a request waits this long for a connection, then the database counts as down
POOL_MIN_SIZE = 1

Connections = Callable[[], AbstractContextManager[psycopg.Connection]]


def direct(target: Target) -> Connections:
    """A new autocommit connection per use (commands, tests)."""
    return lambda: connect(target, autocommit=True)


@contextlib.contextmanager
def open_pool(target: Target, max_size: int) -> Iterator[Connections]:
    """A pool of autocommit connections, checked before each use (a restarted server's dead
    connections are replaced), closed on exit. Opening does not wait for the database."""
    pool = ConnectionPool(target.url, min_size=POOL_MIN_SIZE, max_size=max(POOL_MIN_SIZE, max_size), open=False,
                          timeout=POOL_WAIT_SECONDS, check=ConnectionPool.check_connection, name="coffee-runner",
                          kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS})
    pool.open(wait=False)
    try:
        yield lambda: _pooled(pool, target)
    finally:
        pool.close()


@contextlib.contextmanager
def _pooled(pool: ConnectionPool, target: Target) -> Iterator[psycopg.Connection]:
    try:
        with pool.connection() as conn:
            yield conn
    except PoolTimeout:
        raise DatabaseUnavailable(f"cannot connect to {target.safe_url}: no connection within "
                                  f"{POOL_WAIT_SECONDS:g} s") from None
