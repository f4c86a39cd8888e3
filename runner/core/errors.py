"""The runner's exception tree.

    CoffeeError
    ├── InputError            bad operator input (config, dates, ids): exit code 2
    ├── DatabaseUnavailable   the database cannot be reached or started: exit code 1
    │   └── SetAsideWithoutLive  a schema is missing while a restore's set-aside copy of it exists
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

Only `RetryableFetchError` is retried by the HTTP client; everything else ends the
request at once. Callers decide what a failed page means for their run.
"""

from __future__ import annotations

# The command line's exit codes (README, "Exit codes"): the one definition.
EXIT_OK = 0  # success
EXIT_FAILED = 1  # finished, but something failed (a run, an item, a dbt test, a health check)
EXIT_INPUT = 2  # bad input or usage: one line on stderr, nothing changed
EXIT_ABORTED = 3  # a backfill stopped by a threshold; resumable


class CoffeeError(Exception):
    """Base of every error the runner raises on purpose."""


class InputError(CoffeeError):
    """Operator input is wrong. The message is one line naming what and where."""


class DatabaseUnavailable(CoffeeError):
    """The database could not be reached or started."""


class SetAsideWithoutLive(DatabaseUnavailable):
    """`raw`, `control` or `quarantine` is gone while a `*_replaced_*` copy of it exists
    (an interrupted restore of an older release, or a hand-made rename): the runner
    refuses to create an empty schema beside it and says how to put it back."""


class FetchError(CoffeeError):
    """One HTTP exchange failed. `reason` is a short machine-friendly tag."""

    reason = "fetch"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryableFetchError(FetchError):
    reason = "retryable"


class ConnectFailed(RetryableFetchError):
    reason = "connect"


class FetchTimeout(RetryableFetchError):
    reason = "timeout"


class Throttled(RetryableFetchError):
    """The shop asked us to slow down. `retry_after` is seconds, when it said."""

    reason = "throttled"

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


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
