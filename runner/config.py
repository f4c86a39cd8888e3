"""roasters.yml: loading and validation.

Every problem becomes one line naming the file, the roaster and the field, and all of
them are reported together so an operator fixes the file in one pass.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from runner import __version__, clock
from runner.errors import InputError
from runner.project import currency_re, slug_re

DEFAULT_CONFIG_PATH = "roasters.yml"
DEFAULT_USER_AGENT = f"coffee-runner/{__version__} (+https://github.com/coffee-runner)"
DEFAULT_ARCHIVE_URL = "https://web.archive.org"
DEFAULT_RATE_LIMIT_RPS = 1.0
DEFAULT_ARCHIVE_RPS = 0.4  # the Wayback CDX API asks for about one query per 2.5 s
MAX_RATE_LIMIT_RPS = 100.0
PLATFORMS = ("shopify", "woocommerce")

ROASTER_KEYS = {
    "id", "name", "platform", "base_url", "currency", "timezone", "since", "active",
    "rate_limit_rps", "archive",
}
TOP_KEYS = {"roasters", "archive_url", "archive_rate_limit_rps", "user_agent", "http", "monitoring"}


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


HTTP_KEYS = {f for f in HttpSettings.__dataclass_fields__}


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


MONITORING_KEYS = {f for f in Monitoring.__dataclass_fields__}


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
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}: not valid YAML{where}") from None
    problems: list[str] = []
    config = _build_config(doc, path, problems)
    if problems:
        raise InputError("\n".join(f"{path}: {p}" for p in problems))
    assert config is not None
    return config


def _build_config(doc: Any, path: Path, problems: list[str]) -> Config | None:
    if not isinstance(doc, dict):
        problems.append("top level must be a mapping with a 'roasters' list")
        return None
    for key in sorted(set(doc) - TOP_KEYS, key=str):
        problems.append(f"unknown key '{key}'")
    items = doc.get("roasters")
    if not isinstance(items, list):
        problems.append("field 'roasters': must be a list")
        items = []
    roasters: list[Roaster] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        rid = item.get("id") if isinstance(item, dict) else None
        if isinstance(rid, str) and rid in seen:
            problems.append(f"roaster '{rid}': field 'id': duplicate id")
            continue
        if isinstance(rid, str):
            seen.add(rid)
        roaster = _build_roaster(item, index, problems)
        if roaster is not None:
            roasters.append(roaster)
    archive_url = _url(doc.get("archive_url", DEFAULT_ARCHIVE_URL), "field 'archive_url'", problems)
    user_agent = doc.get("user_agent", DEFAULT_USER_AGENT)
    if not isinstance(user_agent, str) or not user_agent.strip() or not user_agent.isprintable():
        problems.append("field 'user_agent': must be a one-line string")
    http = _build_http(doc.get("http", {}), problems)
    archive_rps = doc.get("archive_rate_limit_rps", DEFAULT_ARCHIVE_RPS)
    if not _rate_ok(archive_rps):
        problems.append(f"field 'archive_rate_limit_rps': must be a number in (0, {MAX_RATE_LIMIT_RPS:g}]")
        archive_rps = DEFAULT_ARCHIVE_RPS
    monitoring = _build_monitoring(doc.get("monitoring", {}), problems)
    return Config(path, tuple(roasters), (archive_url or "").rstrip("/"), str(user_agent), http, float(archive_rps),
                  monitoring)


def _build_roaster(item: Any, index: int, problems: list[str]) -> Roaster | None:
    if not isinstance(item, dict):
        problems.append(f"roaster #{index + 1}: must be a mapping")
        return None
    rid = item.get("id")
    label = f"roaster '{rid}'" if isinstance(rid, str) else f"roaster #{index + 1}"
    found = [f"{label}: unknown key '{key}'" for key in sorted(set(item) - ROASTER_KEYS, key=str)]
    found += [f"{label}: field {problem}" for problem in _identity_problems(item) + _setting_problems(item)]
    base_url = _url(item.get("base_url"), f"{label}: field 'base_url'", found)
    problems += found
    if found:
        return None
    return Roaster(
        id=rid, name=item.get("name", rid).strip(), platform=item["platform"], base_url=base_url.rstrip("/"),
        currency=item.get("currency"), timezone=item.get("timezone", "UTC"), since=_date(item.get("since")),
        active=item.get("active", True), rate_limit_rps=float(item.get("rate_limit_rps", DEFAULT_RATE_LIMIT_RPS)),
        archive=item.get("archive", False),
    )


def _identity_problems(item: dict[str, Any]) -> list[str]:
    """What is wrong with a roaster's id, name, platform and currency ("'field': problem")."""
    rid, found = item.get("id"), []
    if not isinstance(rid, str) or not slug_re().match(rid):
        found.append(f"'id': must be a slug like 'blue-tokai' ({slug_re().pattern.strip('^$')})")
    name = item.get("name", rid)
    if not isinstance(name, str) or not name.strip():
        found.append("'name': must be a non-empty string")
    platform = item.get("platform")
    if platform not in PLATFORMS:
        found.append(f"'platform': must be one of {', '.join(PLATFORMS)} (got {platform!r})")
    currency = item.get("currency")
    if currency is not None and (not isinstance(currency, str) or not currency_re().match(currency)):
        found.append("'currency': must be an ISO 4217 code like 'USD'")
    return found


def _setting_problems(item: dict[str, Any]) -> list[str]:
    """What is wrong with a roaster's timezone, since, flags and rate limit."""
    found = []
    timezone = item.get("timezone", "UTC")
    if not _valid_timezone(timezone):
        found.append(f"'timezone': unknown timezone {timezone!r}")
    if _date(item.get("since")) is False:
        found.append("'since': must be a date YYYY-MM-DD")
    found += [f"'{key}': must be true or false" for key, default in (("active", True), ("archive", False))
              if not isinstance(item.get(key, default), bool)]
    if not _rate_ok(item.get("rate_limit_rps", DEFAULT_RATE_LIMIT_RPS)):
        found.append(f"'rate_limit_rps': must be a number in (0, {MAX_RATE_LIMIT_RPS:g}]")
    return found


def _build_monitoring(section: Any, problems: list[str]) -> Monitoring:
    if not isinstance(section, dict):
        problems.append("field 'monitoring': must be a mapping")
        return Monitoring()
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in MONITORING_KEYS:
            problems.append(f"field 'monitoring': unknown key '{key}'")
        elif key == "alert_webhook":
            if value is not None:
                values[key] = _url(value, "field 'monitoring.alert_webhook'", problems)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            problems.append(f"field 'monitoring.{key}': must be a number >= 0")
        elif key == "failure_threshold" and value > 1:
            problems.append("field 'monitoring.failure_threshold': must be between 0 and 1")
        else:
            values[key] = int(value) if key == "min_free_disk_bytes" else float(value)
    return Monitoring(**values)


def _rate_ok(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value <= MAX_RATE_LIMIT_RPS


def _build_http(section: Any, problems: list[str]) -> HttpSettings:
    if not isinstance(section, dict):
        problems.append("field 'http': must be a mapping")
        return HttpSettings()
    values: dict[str, Any] = {}
    defaults = HttpSettings()
    for key, value in section.items():
        if key not in HTTP_KEYS:
            problems.append(f"field 'http': unknown key '{key}'")
            continue
        kind = type(getattr(defaults, key))
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        if ok and kind is int and not isinstance(value, int):
            ok = False
        if not ok:
            problems.append(f"field 'http.{key}': must be a positive {kind.__name__}")
            continue
        values[key] = kind(value)
    return HttpSettings(**values)


def _url(value: Any, label: str, problems: list[str]) -> str | None:
    if not isinstance(value, str):
        problems.append(f"{label}: must be an http(s) URL")
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        problems.append(f"{label}: must be an http(s) URL without query (got {value!r})")
        return None
    return value


def _date(value: Any) -> dt.date | bool | None:
    """A YAML date or an ISO string; False when it is neither."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return False
    return False


def _valid_timezone(name: Any) -> bool:
    if not isinstance(name, str) or not name or ".." in name or name.startswith("/"):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
