"""Where the dbt project is, and the rules it defines for every layer.

`dbt_project.yml` is the one home of the slug and currency rules (vars `slug_pattern`,
`currency_pattern`): dbt reads them as vars, the config validation reads them here, and
runner/store/db.py `sync_rule_checks` keeps the raw.roasters check constraints in step.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

from runner.core.errors import InputError
from runner.core.settings import settings

RULE_VARS = ("slug_pattern", "currency_pattern")


def project_dir() -> Path:
    """The dbt project: $COFFEE_DBT_PROJECT_DIR, else the checkout this package lives in."""
    configured = settings().dbt_project_dir
    candidates = [Path(configured)] if configured else [Path(__file__).resolve().parents[2], Path.cwd()]
    for candidate in candidates:
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    raise InputError("dbt project not found: install from a checkout (pip install -e .) "
                     "or set COFFEE_DBT_PROJECT_DIR")


@functools.cache
def rules() -> dict[str, str]:
    """The rule patterns from dbt_project.yml's vars."""
    doc = yaml.safe_load((project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    found = {name: (doc.get("vars") or {}).get(name) for name in RULE_VARS}
    missing = [name for name, value in found.items() if not isinstance(value, str)]
    if missing:
        raise InputError(f"dbt_project.yml: vars {', '.join(missing)} missing")
    return {name: str(value) for name, value in found.items()}


def slug_re() -> re.Pattern[str]:
    return re.compile(rules()["slug_pattern"])  # re caches compiled patterns


def currency_re() -> re.Pattern[str]:
    return re.compile(rules()["currency_pattern"])
