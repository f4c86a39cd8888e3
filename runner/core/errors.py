"""The runner's exception tree.

    CoffeeError
    ├── InputError            bad operator input (config, dates, ids): exit code 2
    ├── DatabaseUnavailable   the database cannot be reached or started: exit code 1
    │   └── SetAsideWithoutLive  a schema is missing while a restore's set-aside copy of it exists
    ├── NoRow                 a query that always returns a row returned none (a bug, or a row deleted under us)
    ├── PageNotFound          the dashboard has no such page (HTTP 404)
    ├── NoCapture             the web archive holds no capture of a page on a day
    ├── UnfollowableRedirect  a shop redirected somewhere the client will not follow
    └── FetchError            one HTTP exchange did not give a usable response
        ├── RetryableFetchError    worth another attempt after a pause
        │   ├── ConnectFailed      connection refused/reset, truncated body
        │   ├── FetchTimeout       connect/read timeout or the per-request deadline
        │   ├── Throttled          429/430/403 or an HTML page where JSON was expected
        │   ├── ServerError        5xx
        │   └── BadBody            200 with a body that is not the JSON we asked for
        └── PermanentFetchError    another attempt would get the same answer
            ├── ClientError        4xx other than the throttling ones
            ├── BodyTooLarge       body over the configured limit
            ├── TooManyRedirects   redirect loop or chain over the limit
            └── RobotsDisallowed   robots.txt forbids us (or cannot be read)

    BackfillInterrupted       (a KeyboardInterrupt) Ctrl-C during a backfill, naming it

Only `RetryableFetchError` is retried by the HTTP client; everything else ends the
request at once. Callers decide what a failed page means for their run. A fetch error's
kind is its class; `reason` is the class's tag in stored error texts and alerts.
"""

from __future__ import annotations

from typing import Any

# The command line's exit codes (docs/reference/cli.md, "Exit codes"): the one definition.
EXIT_OK = 0  # success
EXIT_FAILED = 1  # finished, but something failed (a run, an item, a dbt test, a health check)
EXIT_INPUT = 2  # bad input or usage: one line on stderr, nothing changed
EXIT_ABORTED = 3  # a backfill stopped by a threshold; resumable


class CoffeeError(Exception):
    """Base of every error the runner raises on purpose."""


class InputError(CoffeeError):
    """Operator input is wrong. The message is one line naming what and where."""


class DatabaseUnavailable(CoffeeError):
    """The database could not be reached or started. `backfill_id`: the backfill it
    interrupted, when one was running (the command says how to resume it)."""

    backfill_id: str | None = None


class SetAsideWithoutLive(DatabaseUnavailable):
    """`raw`, `control` or `quarantine` is gone while a `*_replaced_*` copy of it exists
    (an interrupted restore of an older release, or a hand-made rename): the runner
    refuses to create an empty schema beside it and says how to put it back."""


class FetchError(CoffeeError):
    """One HTTP exchange failed. `reason` is a short machine-friendly tag; `exchange` is
    the last response (a permanent answer's body can still say something); `retry_after`
    is the seconds the server asked us to wait, when it said."""

    reason = "fetch"

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 exchange: Any = None) -> None:  # a runner.core.exchange.Exchange (which imports this module)
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.exchange = exchange


class RetryableFetchError(FetchError):
    reason = "retryable"


class ConnectFailed(RetryableFetchError):
    reason = "connect"


class FetchTimeout(RetryableFetchError):
    reason = "timeout"


class Throttled(RetryableFetchError):
    """The shop asked us to slow down (its `retry_after`, when it said)."""

    reason = "throttled"


class ServerError(RetryableFetchError):
    reason = "server_error"


class BadBody(RetryableFetchError):
    reason = "bad_body"


class PermanentFetchError(FetchError):
    reason = "permanent"


class ClientError(PermanentFetchError):
    reason = "client_error"


class BodyTooLarge(PermanentFetchError):
    reason = "too_large"


class TooManyRedirects(PermanentFetchError):
    reason = "redirects"


class RobotsDisallowed(PermanentFetchError):
    reason = "robots"


class PageNotFound(CoffeeError):
    """The dashboard has no page at this path (or no such roaster, day or backfill)."""


class NoCapture(CoffeeError):
    """The archive holds no capture of this page on this day."""


class UnfollowableRedirect(CoffeeError):
    """A redirect to a target the client does not follow (another scheme, a bad URL)."""


class BackfillInterrupted(KeyboardInterrupt):
    """Ctrl-C while this process worked a backfill: still an interrupt, naming the backfill
    so the command can say how to resume it."""

    def __init__(self, backfill_id: str) -> None:
        super().__init__(backfill_id)
        self.backfill_id = backfill_id


class NoRow(CoffeeError):
    """A query that always returns a row (an aggregate, a RETURNING) returned none."""
