"""Every COFFEE_* environment variable, read in one place (pydantic-settings).

    COFFEE_HOME              the runner's folder: embedded database, backups, logs (.coffee)
    COFFEE_DATABASE_URL      an external PostgreSQL instead of the embedded one
    COFFEE_ROASTERS          roasters.yml, when --config is not given (./roasters.yml)
    COFFEE_NOW               a frozen (or, with the two below, moving) clock for tests and demos
    COFFEE_CLOCK_RATE        simulated seconds per real second from COFFEE_NOW
    COFFEE_CLOCK_ANCHOR      the real moment COFFEE_NOW was true (unix seconds)
    COFFEE_DBT_PROJECT_DIR   the dbt project, when the package is not run from its checkout
    COFFEE_DBT_WORKER        the socket of a long-lived dbt worker to send dbt calls to
    COFFEE_LOG_FORMAT        text (default) or json, for the lines on stderr
    COFFEE_LOG_FILE          the log file ($COFFEE_HOME/logs/backfill.log)

An empty value counts as unset. The environment is read again whenever it has changed
(tests and the demo change it between calls), never parsed twice for the same values.
"""

from __future__ import annotations

import functools
import os
from typing import Literal

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from runner.core.errors import InputError

PREFIX = "COFFEE_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    home: str = ".coffee"
    database_url: str | None = None
    roasters: str | None = None
    now: str = ""  # parsed by runner.core.clock, which words its own errors
    clock_rate: str = ""
    clock_anchor: str = ""
    dbt_project_dir: str | None = None
    dbt_worker: str | None = None
    log_format: Literal["text", "json"] = "text"
    log_file: str | None = None


def settings() -> Settings:
    """The settings of the environment as it is now."""
    return _settings(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX))))


@functools.lru_cache(maxsize=8)
def _settings(_environment: tuple[tuple[str, str], ...]) -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = PREFIX + str(first["loc"][0]).upper()
        raise InputError(f"{name}: {first['msg']}") from None
