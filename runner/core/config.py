"""roasters.yml: the config's models, loading, and one-line problems.

The models are pydantic models and the runtime objects both: typed fields (`Literal`,
dates, strict numbers with their bounds, the value types of runner/core/config_values.py)
with unknown keys forbidden. Every problem becomes one line naming the file, the roaster
and the field, worded from the field's own type and bounds, and all of them are reported
together so an operator fixes the file in one pass.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import annotated_types
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, Strict, ValidationError
from pydantic.fields import FieldInfo

from runner import __version__
from runner.core import clock
from runner.core.config_values import (
    MAX_RATE_LIMIT_RPS,
    Loader,
    currency_value,
    date_value,
    http_url,
    name_value,
    one_line,
    rate_value,
    schedule_value,
    slug_value,
    zone_value,
)
from runner.core.errors import InputError
from runner.core.schedule import DEFAULT_SCHEDULE, due_at
from runner.core.settings import settings

DEFAULT_CONFIG_PATH = "roasters.yml"
DEFAULT_USER_AGENT = f"coffee-runner/{__version__} (+https://github.com/coffee-runner)"
DEFAULT_ARCHIVE_URL = "https://web.archive.org"
DEFAULT_RATE_LIMIT_RPS = 1.0
DEFAULT_ARCHIVE_RPS = 0.4  # the Wayback CDX API asks for about one query per 2.5 s
DEFAULT_FAILURE_THRESHOLD = 0.10  # backfill --max-failure-rate default; health's 24 h run failure rate
DEFAULT_TIMEOUT_THRESHOLD = 3600.0  # backfill --timeout default; a running backfill idle longer is stale
PLATFORMS = ("shopify", "woocommerce")

# The value types a field can have: each checks its value, and its bounds word the message.
Positive = Annotated[float, Strict(), Field(gt=0)]
PositiveInt = Annotated[int, Strict(), Field(gt=0)]
NonNegative = Annotated[float, Strict(), Field(ge=0)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]
Share = Annotated[float, Strict(), Field(ge=0, le=1)]
Rate = Annotated[float, BeforeValidator(rate_value), Field(gt=0, le=MAX_RATE_LIMIT_RPS)]
Flag = Annotated[bool, Strict()]
Slug = Annotated[str, BeforeValidator(slug_value)]
BaseUrl = Annotated[str, BeforeValidator(lambda v: http_url(v).rstrip("/"))]
Currency = Annotated[str | None, BeforeValidator(currency_value)]
ZoneName = Annotated[str, BeforeValidator(zone_value)]
Day = Annotated[dt.date | None, BeforeValidator(date_value)]
Schedule = Annotated[str, BeforeValidator(schedule_value)]
MaybeSchedule = Annotated[str | None, BeforeValidator(lambda v: None if v is None else schedule_value(v))]
MaybeUrl = Annotated[str | None, BeforeValidator(lambda v: None if v is None else http_url(v))]
OneLine = Annotated[str, BeforeValidator(one_line)]
Name = Annotated[str | None, BeforeValidator(name_value)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class HttpSettings(_Section):
    """Limits of the polite HTTP client. Defaults suit real shops on the internet."""

    connect_timeout: Positive = 10.0
    read_timeout: Positive = 30.0
    request_deadline: Positive = 120.0  # whole request incl. body: stops slow-drip responses
    max_attempts: PositiveInt = 5
    backoff_base: Positive = 1.0  # first retry waits up to this, doubling each time
    backoff_max: Positive = 60.0
    retry_after_cap: Positive = 300.0  # never sleep longer than this on a shop's word
    max_body_bytes: PositiveInt = 20 * 1024 * 1024
    max_redirects: PositiveInt = 5
    global_concurrency: PositiveInt = 16
    shop_concurrency: PositiveInt = 2


class Monitoring(_Section):
    """Thresholds from the runbook's BACKFILL_MONITORING, used by backfill and health."""

    failure_threshold: Share = DEFAULT_FAILURE_THRESHOLD
    timeout_threshold: NonNegative = DEFAULT_TIMEOUT_THRESHOLD
    progress_check_interval: NonNegative = 300.0  # seconds between progress lines (non-terminal) and health checks
    alert_webhook: MaybeUrl = None  # JSON alerts are POSTed here
    cadence_hours: NonNegative = 24.0  # a roaster should have an ok run at least this often...
    cadence_grace_hours: NonNegative = 2.0  # ...plus this slack
    min_free_disk_bytes: NonNegativeInt = 1024**3


class ServiceSettings(_Section):
    """The scraper service (`coffee-runner serve`): its ticks, catch-up, retries and shutdown."""

    catch_up_days: NonNegativeInt = 7  # open gaps of this many past days are healed on start and every heal interval
    tick_seconds: Positive = 30.0  # how often the service looks for due scrapes, pauses and retries
    heal_interval_seconds: Positive = 3600.0  # catch-up passes after the first (and at each local midnight)
    jitter_seconds: NonNegative = 600.0  # scrapes of one schedule spread over this many seconds (seeded)
    retry_backoff_seconds: Positive = 300.0  # a failed scheduled scrape is retried after this, doubling...
    retry_backoff_max: Positive = 3600.0  # ...up to this, until the roaster's day is over
    shutdown_grace: Positive = 30.0  # SIGTERM: in-flight items get this long, then roll back
    concurrency: PositiveInt = 4  # items worked at once per batch
    http_idle_timeout: Positive = 30.0  # an HTTP client (health, metrics, dashboard) idle this long is disconnected


class Roaster(_Section):
    """One entry of `roasters:`."""

    id: Slug = None  # type: ignore[assignment]  # None is refused, in the slug's words
    name: Name = None  # None: the id
    platform: Literal["shopify", "woocommerce"] = None  # type: ignore[assignment]  # None is refused: "(got None)"
    base_url: BaseUrl = None  # type: ignore[assignment]  # as above: "must be an http(s) URL"
    currency: Currency = None
    timezone: ZoneName = "UTC"
    since: Day = None
    active: Flag = True
    rate_limit_rps: Rate = DEFAULT_RATE_LIMIT_RPS
    archive: Flag = False
    schedule: MaybeSchedule = None  # None: the config's default schedule

    def model_post_init(self, context: Any) -> None:
        if self.name is None:  # a roaster without a name is called by its id
            self.__dict__["name"] = self.id

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The current calendar day in the roaster's timezone."""
        now = now or clock.now()
        return now.astimezone(ZoneInfo(self.timezone)).date()


class Config(_Section):
    roasters: tuple[Roaster, ...]
    archive_url: BaseUrl = DEFAULT_ARCHIVE_URL
    # wayback: the Wayback Machine's API (/cdx/search/cdx, /web/<ts>id_/<url>);
    # pywb: a pywb collection, archive_url = http://host:port/COLLECTION (/cdx, /<ts>id_/<url>)
    archive_api: Literal["wayback", "pywb"] = "wayback"
    user_agent: OneLine = DEFAULT_USER_AGENT
    http: HttpSettings = HttpSettings()
    archive_rate_limit_rps: Rate = DEFAULT_ARCHIVE_RPS
    monitoring: Monitoring = Monitoring()
    schedule: Schedule = DEFAULT_SCHEDULE
    service: ServiceSettings = ServiceSettings()
    _path: Path = PrivateAttr(default=Path(DEFAULT_CONFIG_PATH))

    @property
    def path(self) -> Path:
        """The file this config was read from (named in every message about it)."""
        return self._path

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
    return Path(cli_path or settings().roasters or DEFAULT_CONFIG_PATH)


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
    config = None
    try:
        config = Config.model_validate(doc)
    except ValidationError as exc:
        problems += [_problem(error, doc) for error in exc.errors()]
    problems += _duplicate_ids(doc)
    if problems or config is None:
        raise InputError("\n".join(f"{path}: {p}" for p in dict.fromkeys(problems)))
    config._path = path
    return config


# --- one line per problem ------------------------------------------------------------------

# pydantic's structural errors, in the words of the rest of the config's messages
STRUCTURE_MESSAGES = {"model_type": "must be a mapping", "model_attributes_type": "must be a mapping",
                      "dict_type": "must be a mapping", "missing": "is required", "tuple_type": "must be a list",
                      "bool_type": "must be true or false"}
NUMBER_ERRORS = ("int_type", "float_type", "greater_than", "greater_than_equal", "less_than_equal")


def _problem(error: Any, doc: Any) -> str:
    """One pydantic error as one line: the roaster, the field, what is wrong."""
    loc = list(error["loc"])
    if not loc:
        return "top level must be a mapping with a 'roasters' list"
    label = ""
    if loc[0] == "roasters" and len(loc) > 1:
        label, loc = _roaster_label(doc, loc[1]), loc[2:]
        if not loc:
            return f"{label}must be a mapping"
    if error["type"] == "extra_forbidden":
        section = f"field '{'.'.join(map(str, loc[:-1]))}': " if len(loc) > 1 else ""
        return f"{label}{section}unknown key '{loc[-1]}'"
    return f"{label}field '{'.'.join(map(str, loc))}': {_message(error, loc, label != '')}"


def _roaster_label(doc: Any, index: int) -> str:
    item = doc["roasters"][index]
    rid = item.get("id") if isinstance(item, dict) else None
    return f"roaster '{rid}': " if isinstance(rid, str) else f"roaster #{index + 1}: "


def _message(error: Any, loc: list[Any], in_roaster: bool) -> str:
    """What is wrong, in words taken from the field's type: its own check's message, the
    choices of a Literal, the bounds of a number."""
    kind = error["type"]
    if kind == "literal_error":
        return f"must be one of {', '.join(PLATFORMS)} (got {error['input']!r})"
    if kind in NUMBER_ERRORS:
        return _number_message(_field(loc, in_roaster))
    if kind in STRUCTURE_MESSAGES:
        return STRUCTURE_MESSAGES[kind]
    return str(error["msg"]).removeprefix("Value error, ")


def _field(loc: list[Any], in_roaster: bool) -> FieldInfo:
    model: Any = Roaster if in_roaster else Config
    for part in loc[:-1]:
        model = model.model_fields[part].annotation  # a section: HttpSettings, Monitoring, ServiceSettings
    field: FieldInfo = model.model_fields[loc[-1]]
    return field


def _number_message(field: FieldInfo) -> str:
    """A number's message, from its declared bounds: (0, max], [min, max], > 0 or >= 0."""
    bounds: dict[type, Any] = {type(m): m for m in field.metadata}
    kind = "int" if field.annotation is int else "float"
    gt, ge, le = bounds.get(annotated_types.Gt), bounds.get(annotated_types.Ge), bounds.get(annotated_types.Le)
    if le is not None and gt is not None:
        return f"must be a number in (0, {le.le:g}]"
    if le is not None and ge is not None:
        return f"must be between {ge.ge:g} and {le.le:g}"
    return f"must be a positive {kind}" if gt is not None else "must be a number >= 0"


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
