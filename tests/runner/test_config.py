from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from runner.core.config import load_config, parse_config
from runner.core.errors import InputError
from tests.runner.helpers import run_process

GOOD = """
roasters:
  - id: blue-tokai
    name: Blue Tokai Coffee Roasters
    platform: shopify
    base_url: https://bluetokaicoffee.com/
    currency: INR
    timezone: Asia/Kolkata
    since: 2024-01-01
    rate_limit_rps: 0.5
    archive: true
  - id: woo-shop
    name: Woo Shop
    platform: woocommerce
    base_url: http://shop.example
archive_url: https://web.archive.org
user_agent: coffee-runner/0.1 (+https://example.org)
http:
  max_attempts: 3
  backoff_base: 0.5
"""


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        parse_config(text, Path("r.yml"))
    return str(info.value).splitlines()


def test_good_config_loads_with_defaults():
    config = parse_config(GOOD, Path("r.yml"))
    blue, woo = config.roasters
    assert blue.base_url == "https://bluetokaicoffee.com"  # trailing slash dropped
    assert blue.since == dt.date(2024, 1, 1) and blue.rate_limit_rps == 0.5 and blue.archive
    assert woo.timezone == "UTC" and woo.currency is None and woo.active and not woo.archive
    assert config.http.max_attempts == 3 and config.http.backoff_base == 0.5
    assert config.http.read_timeout == 30.0  # untouched default


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ("platform: shopify",
         "roaster 'blue-tokai': field 'platform': must be one of shopify, woocommerce (got 'magento')"),
        ("id: blue-tokai", "field 'id': must be a slug"),
        ("base_url: https://bluetokaicoffee.com/", "field 'base_url': must be an http(s) URL"),
        ("timezone: Asia/Kolkata", "field 'timezone': unknown timezone"),
        ("currency: INR", "field 'currency': must be an ISO 4217 code"),
        ("since: 2024-01-01", "field 'since': must be a date"),
        ("rate_limit_rps: 0.5", "field 'rate_limit_rps': must be a number"),
        ("archive: true", "field 'archive': must be true or false"),
    ],
)
def test_each_bad_field_is_named(patch: str, expected: str):
    bad = {
        "platform: shopify": "platform: magento",
        "id: blue-tokai": "id: Blue_Tokai",
        "base_url: https://bluetokaicoffee.com/": "base_url: ftp://bluetokaicoffee.com",
        "timezone: Asia/Kolkata": "timezone: Mars/Olympus",
        "currency: INR": "currency: rupees",
        "since: 2024-01-01": "since: yesterday",
        "rate_limit_rps: 0.5": "rate_limit_rps: -1",
        "archive: true": "archive: maybe",
    }[patch]
    lines = problems(GOOD.replace(patch, bad, 1))
    assert len(lines) == 1
    assert lines[0].startswith("r.yml: ")
    assert expected in lines[0]


def test_duplicate_id_and_unknown_keys_all_reported_together():
    text = GOOD.replace("id: woo-shop", "id: blue-tokai").replace("archive: true", "archive: true\n    colour: red")
    text += "extra: 1\n"
    lines = problems(text)
    assert "r.yml: unknown key 'extra'" in lines
    assert "r.yml: roaster 'blue-tokai': unknown key 'colour'" in lines
    assert "r.yml: roaster 'blue-tokai': field 'id': duplicate id" in lines
    assert len(lines) == 3


def test_unknown_http_setting_and_bad_value():
    lines = problems(GOOD.replace("max_attempts: 3", "max_attempts: 0\n  retries: 9"))
    assert "r.yml: field 'http.max_attempts': must be a positive int" in lines
    assert "r.yml: field 'http': unknown key 'retries'" in lines


def test_not_yaml_and_not_a_mapping():
    assert problems("roasters: [unclosed")[0].startswith("r.yml: not valid YAML at line")
    assert problems("- a\n- b\n") == ["r.yml: top level must be a mapping with a 'roasters' list"]


def test_missing_file(tmp_path: Path):
    with pytest.raises(InputError, match="config file not found"):
        load_config(str(tmp_path / "nope.yml"))


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "elsewhere.yml"
    path.write_text(GOOD)
    monkeypatch.setenv("COFFEE_ROASTERS", str(path))
    assert load_config(None).path == path


def test_select_refuses_unknown_roaster():
    config = parse_config(GOOD, Path("r.yml"))
    assert [r.id for r in config.select(["woo-shop"])] == ["woo-shop"]
    with pytest.raises(InputError, match="unknown roaster 'nope'"):
        config.select(["nope"])


def test_cli_bad_config_exits_2_with_one_line_per_problem(tmp_path: Path):
    path = tmp_path / "bad.yml"
    path.write_text(GOOD.replace("platform: shopify", "platform: magento").replace("currency: INR", "currency: x"))
    result = run_process("--config", str(path), "fetch")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, result.stderr
    assert "field 'platform'" in lines[0] and "field 'currency'" in lines[1]
    assert result.stdout == ""


def test_every_problem_of_every_section_is_one_line_together():
    text = ("roasters:\n  - {id: a}\n  - 7\narchive_url: 7\nhttp: {max_attempts: 2.5, retries: 1}\n"
            "monitoring: {failure_threshold: 2, cadence_hours: -1, alert_webhook: 'ftp://x', colour: red}\n")
    assert problems(text) == [
        "r.yml: roaster 'a': field 'platform': must be one of shopify, woocommerce (got None)",
        "r.yml: roaster 'a': field 'base_url': must be an http(s) URL",
        "r.yml: roaster #2: must be a mapping",
        "r.yml: field 'archive_url': must be an http(s) URL",
        "r.yml: field 'http.max_attempts': must be a positive int",
        "r.yml: field 'http': unknown key 'retries'",
        "r.yml: field 'monitoring.failure_threshold': must be between 0 and 1",
        "r.yml: field 'monitoring.alert_webhook': must be an http(s) URL without query (got 'ftp://x')",
        "r.yml: field 'monitoring.cadence_hours': must be a number >= 0",
        "r.yml: field 'monitoring': unknown key 'colour'",
    ]
    assert problems("archive_url: https://x\n") == ["r.yml: field 'roasters': is required"]
    assert problems("roasters: []\nhttp: 5\n") == ["r.yml: field 'http': must be a mapping"]


def test_monitoring_and_http_values_keep_their_types():
    config = parse_config(GOOD + "monitoring: {min_free_disk_bytes: 5, cadence_hours: 1, "
                                 "alert_webhook: 'https://hooks.example/x'}\n", Path("r.yml"))
    assert config.monitoring.min_free_disk_bytes == 5 and isinstance(config.monitoring.min_free_disk_bytes, int)
    assert config.monitoring.cadence_hours == 1.0 and isinstance(config.monitoring.cadence_hours, float)
    assert config.monitoring.alert_webhook == "https://hooks.example/x"
    assert isinstance(config.http.max_attempts, int) and isinstance(config.http.backoff_base, float)
