"""roasters.yml: loading and validation.

pydantic validates the document (`ConfigSpec`, `RoasterSpec`, and one section model per
settings dataclass), with unknown keys forbidden; the field validators hold the rules and
their messages. Every problem becomes one line naming the file, the roaster and the
field, and all of them are reported together so an operator fixes the file in one pass.
The runtime objects are the frozen dataclasses below.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, create_model, field_validator

from runner import __version__
from runner.core import clock
from runner.core.config_values import Loader, date_value, http_url, is_zone_name, rate_value, schedule_value
from runner.core.dbt_project import currency_re, slug_re
from runner.core.errors import InputError
from runner.core.schedule import DEFAULT_SCHEDULE, due_at

DEFAULT_CONFIG_PATH = "roasters.yml"
DEFAULT_USER_AGENT = f"coffee-runner/{__version__} (+https://github.com/coffee-runner)"
DEFAULT_ARCHIVE_URL = "https://web.archive.org"
DEFAULT_RATE_LIMIT_RPS = 1.0
DEFAULT_ARCHIVE_RPS = 0.4  # the Wayback CDX API asks for about one query per 2.5 s
PLATFORMS = ("shopify", "woocommerce")



@dataclass(frozen=True)
class HttpSettings:
    """Limits of the polite HTTP client. Defaults suit real shops on the internet."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    request_deadline: float = 120.0  # whole request incl. body: stops slow-drip responses
    max_attempts: int = 5
    backoff_base: float = 1.0  # first retry waits up to this, doubling each time
    backoff_max: float = 60.0
    retry_after_cap: float = 300.0  # never sleep longer than this on a shop's word
    max_body_bytes: int = 20 * 1024 * 1024
    max_redirects: int = 5
    global_concurrency: int = 16
    shop_concurrency: int = 2




@dataclass(frozen=True)
class Monitoring:
    """Thresholds from the runbook's BACKFILL_MONITORING, used by backfill and health."""

    failure_threshold: float = 0.10  # backfill --max-failure-rate default; health's 24 h run failure rate
    timeout_threshold: float = 3600.0  # backfill --timeout default; a running backfill idle longer is stale
    progress_check_interval: float = 300.0  # seconds between progress lines (non-terminal) and health checks
    alert_webhook: str | None = None  # JSON alerts are POSTed here
    cadence_hours: float = 24.0  # a roaster should have an ok run at least this often...
    cadence_grace_hours: float = 2.0  # ...plus this slack
    min_free_disk_bytes: int = 1024**3


@dataclass(frozen=True)
class ServiceSettings:
    """The scraper service (`coffee-runner serve`): its ticks, catch-up, retries and shutdown."""

    catch_up_days: int = 7  # open gaps of this many past days are healed on start and every heal interval
    tick_seconds: float = 30.0  # how often the service looks for due scrapes, pauses and retries
    heal_interval_seconds: float = 3600.0  # catch-up passes after the first (and at each local midnight)
    jitter_seconds: float = 600.0  # scrapes of one schedule spread over this many seconds (seeded)
    retry_backoff_seconds: float = 300.0  # a failed scheduled scrape is retried after this, doubling...
    retry_backoff_max: float = 3600.0  # ...up to this, until the roaster's day is over
    shutdown_grace: float = 30.0  # SIGTERM: in-flight items get this long, then roll back
    concurrency: int = 4  # items worked at once per batch
    http_idle_timeout: float = 30.0  # an HTTP client (health, metrics, dashboard) idle this long is disconnected


@dataclass(frozen=True)
class Roaster:
    id: str
    name: str
    platform: str
    base_url: str
    currency: str | None = None
    timezone: str = "UTC"
    since: dt.date | None = None
    active: bool = True
    rate_limit_rps: float = DEFAULT_RATE_LIMIT_RPS
    archive: bool = False
    schedule: str | None = None  # None: the config's default schedule

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The current calendar day in the roaster's timezone."""
        now = now or clock.now()
        return now.astimezone(ZoneInfo(self.timezone)).date()


@dataclass(frozen=True)
class Config:
    path: Path
    roasters: tuple[Roaster, ...]
    archive_url: str = DEFAULT_ARCHIVE_URL
    user_agent: str = DEFAULT_USER_AGENT
    http: HttpSettings = field(default_factory=HttpSettings)
    archive_rate_limit_rps: float = DEFAULT_ARCHIVE_RPS
    monitoring: Monitoring = field(default_factory=Monitoring)
    schedule: str = DEFAULT_SCHEDULE
    service: ServiceSettings = field(default_factory=ServiceSettings)

    def schedule_of(self, roaster: Roaster) -> str:
        return roaster.schedule or self.schedule

    def due_at(self, roaster: Roaster, day: dt.date) -> dt.datetime:
        """The moment (UTC) the scheduled scrape of the roaster's local `day` is due: its
        schedule in its timezone, plus its seeded jitter."""
        return due_at(self.schedule_of(roaster), roaster.timezone, day, roaster.id, self.service.jitter_seconds)

    def roaster(self, roaster_id: str) -> Roaster:
        for r in self.roasters:
            if r.id == roaster_id:
                return r
        raise InputError(f"{self.path}: unknown roaster '{roaster_id}'")

    def select(self, roaster_ids: tuple[str, ...] | list[str] = ()) -> list[Roaster]:
        """Roasters named on the command line, else every active one."""
        if not roaster_ids:
            return [r for r in self.roasters if r.active]
        unknown = [i for i in roaster_ids if i not in {r.id for r in self.roasters}]
        if unknown:
            raise InputError(f"{self.path}: unknown roaster {', '.join(map(repr, unknown))}")
        return [self.roaster(i) for i in dict.fromkeys(roaster_ids)]


def resolve_path(cli_path: str | None) -> Path:
    return Path(cli_path or os.environ.get("COFFEE_ROASTERS") or DEFAULT_CONFIG_PATH)


def load_config(cli_path: str | None = None) -> Config:
    path = resolve_path(cli_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: config file not found (use --config or COFFEE_ROASTERS)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read config: {exc}") from None
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> Config:
    try:
        doc = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}: not valid YAML{where}") from None
    problems: list[str] = []
    try:
        spec = ConfigSpec.model_validate(doc)
    except ValidationError as exc:
        problems += [_problem(error, doc) for error in exc.errors()]
        spec = None
    problems += _duplicate_ids(doc)
    if problems:
        raise InputError("\n".join(f"{path}: {p}" for p in dict.fromkeys(problems)))
    assert spec is not None
    return spec.build(path)


# --- validation (pydantic): every field checked, all problems reported at once --------------

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class RoasterSpec(_Section):
    """One entry of `roasters:`; the field validators hold the rules and their messages."""

    id: Any = None
    name: Any = None
    platform: Any = None
    base_url: Any = None
    currency: Any = None
    timezone: Any = "UTC"
    since: Any = None
    active: Any = True
    rate_limit_rps: Any = DEFAULT_RATE_LIMIT_RPS
    archive: Any = False
    schedule: Any = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> str:
        if not isinstance(value, str) or not slug_re().match(value):
            raise ValueError(f"must be a slug like 'blue-tokai' ({slug_re().pattern.strip('^$')})")
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValueError("must be a non-empty string")
        return value.strip() if value else None

    @field_validator("platform", mode="before")
    @classmethod
    def _platform(cls, value: Any) -> str:
        if value not in PLATFORMS:
            raise ValueError(f"must be one of {', '.join(PLATFORMS)} (got {value!r})")
        return value

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: Any) -> str:
        return http_url(value).rstrip("/")

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str | None:
        if value is not None and (not isinstance(value, str) or not currency_re().match(value)):
            raise ValueError("must be an ISO 4217 code like 'USD'")
        return value

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: Any) -> str:
        if not is_zone_name(value):
            raise ValueError(f"unknown timezone {value!r}")
        return value

    @field_validator("since", mode="before")
    @classmethod
    def _since(cls, value: Any) -> dt.date | None:
        day = date_value(value)
        if not isinstance(day, dt.date) and day is not None:
            raise ValueError(f"must be a date YYYY-MM-DD from {clock.FIRST_DAY} to {clock.LAST_DAY}")
        return day

    @field_validator("active", "archive", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    @field_validator("rate_limit_rps", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> float:
        return rate_value(value)

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> str | None:
        return None if value is None else schedule_value(value)

    def build(self) -> Roaster:
        return Roaster(id=self.id, name=self.name or self.id, platform=self.platform, base_url=self.base_url,
                       currency=self.currency, timezone=self.timezone, since=self.since, active=self.active,
                       rate_limit_rps=self.rate_limit_rps, archive=self.archive, schedule=self.schedule)


def _settings_spec(defaults: Any, *, positive: bool, zero_ok: tuple[str, ...] = ()) -> type[BaseModel]:
    """A section model with one field per field of the dataclass `defaults` (HttpSettings,
    Monitoring, ServiceSettings): numbers of the default's type (positive, or >= 0 when not
    `positive` or named in `zero_ok`), a share for failure_threshold, a URL for alert_webhook."""

    def check(cls: type, value: Any, info: ValidationInfo) -> Any:
        if info.field_name == "alert_webhook":
            return None if value is None else http_url(value)
        name = info.field_name or ""
        kind = type(getattr(defaults, name))
        strict = positive and name not in zero_ok
        what = "a positive {}" if strict else "a number >= 0"
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or (kind is int and not isinstance(value, int)) or value < 0 or (strict and value == 0):
            raise ValueError(f"must be {what.format(kind.__name__)}")
        if name == "failure_threshold" and value > 1:
            raise ValueError("must be between 0 and 1")
        return kind(value)

    fields: dict[str, Any] = {name: (Any, getattr(defaults, name)) for name in defaults.__dataclass_fields__}
    return create_model(f"{type(defaults).__name__}Spec", __base__=_Section,
                        __validators__={"check": field_validator("*", mode="before")(check)}, **fields)


HttpSpec = _settings_spec(HttpSettings(), positive=True)
MonitoringSpec = _settings_spec(Monitoring(), positive=False)
ServiceSpec = _settings_spec(ServiceSettings(), positive=True, zero_ok=("catch_up_days", "jitter_seconds"))


class ConfigSpec(_Section):
    roasters: list[RoasterSpec]
    archive_url: Any = DEFAULT_ARCHIVE_URL
    archive_rate_limit_rps: Any = DEFAULT_ARCHIVE_RPS
    user_agent: Any = DEFAULT_USER_AGENT
    # the section models are made by create_model at import time: mypy sees no class
    http: HttpSpec = HttpSpec()  # type: ignore[valid-type]
    monitoring: MonitoringSpec = MonitoringSpec()  # type: ignore[valid-type]
    schedule: Any = DEFAULT_SCHEDULE
    service: ServiceSpec = ServiceSpec()  # type: ignore[valid-type]

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> str:
        return schedule_value(value)

    @field_validator("roasters", mode="before")
    @classmethod
    def _roasters(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("must be a list")
        return value

    @field_validator("archive_url", mode="before")
    @classmethod
    def _archive_url(cls, value: Any) -> str:
        return http_url(value).rstrip("/")

    @field_validator("archive_rate_limit_rps", mode="before")
    @classmethod
    def _archive_rate(cls, value: Any) -> float:
        return rate_value(value)

    @field_validator("user_agent", mode="before")
    @classmethod
    def _user_agent(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or not value.isprintable():
            raise ValueError("must be a one-line string")
        return value

    def build(self, path: Path) -> Config:
        return Config(path, tuple(r.build() for r in self.roasters), self.archive_url, self.user_agent,
                      HttpSettings(**dict(self.http)), self.archive_rate_limit_rps,
                      Monitoring(**dict(self.monitoring)), self.schedule, ServiceSettings(**dict(self.service)))


# pydantic's own errors, in the words of the rest of the config's messages
PYDANTIC_MESSAGES = {"model_type": "must be a mapping", "model_attributes_type": "must be a mapping",
                     "dict_type": "must be a mapping", "missing": "is required"}


def _problem(error: Any, doc: Any) -> str:
    """One pydantic error as one line: the roaster, the field, what is wrong."""
    loc, kind = list(error["loc"]), error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if not loc:
        return "top level must be a mapping with a 'roasters' list"
    label = ""
    if loc[0] == "roasters" and len(loc) > 1:
        rid = doc["roasters"][loc[1]].get("id") if isinstance(doc["roasters"][loc[1]], dict) else None
        label = f"roaster '{rid}': " if isinstance(rid, str) else f"roaster #{loc[1] + 1}: "
        loc = loc[2:]
        if not loc:
            return f"{label}must be a mapping"
    if kind == "extra_forbidden":
        section = f"field '{'.'.join(map(str, loc[:-1]))}': " if len(loc) > 1 else ""
        return f"{label}{section}unknown key '{loc[-1]}'"
    message = PYDANTIC_MESSAGES.get(kind, message)
    return f"{label}field '{'.'.join(map(str, loc))}': {message}"


def _duplicate_ids(doc: Any) -> list[str]:
    items = doc.get("roasters") if isinstance(doc, dict) else None
    ids = [item.get("id") for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    seen: set[str] = set()
    found = []
    for rid in (i for i in ids if isinstance(i, str)):
        if rid in seen:
            found.append(f"roaster '{rid}': field 'id': duplicate id")
        seen.add(rid)
    return found


def check_timezones(config: Config, conn: Any) -> None:
    """InputError (one line per roaster) when PostgreSQL does not know a roaster's timezone:
    its tz database may be older than Python's (a zone added since), and dbt and the
    dashboard read days in the server's zones. Runs wherever a command first meets the database."""
    names = sorted({r.timezone for r in config.roasters})
    known = {row[0] for row in conn.execute("select name from pg_timezone_names where name = any(%s)", (names,))}
    problems = [f"{config.path}: roaster '{r.id}': field 'timezone': PostgreSQL does not know {r.timezone!r} "
                "(its time zone database is older): use a zone both know" for r in config.roasters
                if r.timezone not in known]
    if problems:
        raise InputError("\n".join(problems))
