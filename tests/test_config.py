"""Configuration (SPEC §8): the TOML file, HCGW_* overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, load_settings, parse_settings

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_example_loads() -> None:
    settings = load_settings(ROOT / "examples" / "hcgw.toml", {})
    assert [i.iss for i in settings.issuers] == ["440000"]
    assert settings.clients[0].scopes == {"verify", "trustlist"}


def test_environment_variables_override_gateway_keys() -> None:
    settings = parse_settings(
        {"gateway": {"listen": "127.0.0.1:1"}},
        {"HCGW_LISTEN": "127.0.0.1:9", "HCGW_MAX_INFLIGHT": "7", "HCGW_ACCESS_LOG": "true"},
    )
    assert (settings.listen, settings.max_inflight, settings.access_log) == ("127.0.0.1:9", 7, True)


@pytest.mark.parametrize(
    ("doc", "names"),
    [
        ({"gateway": {"listen": "nowhere"}}, "listen"),
        ({"gateway": {"workers": "many"}}, "workers"),
        ({"gateway": {"colour": "red"}}, "unknown keys: colour"),
        ({"gateway": {"redis_durability": "maybe"}}, "redis_durability"),
        ({"issuer": [{"iss": "44000"}]}, "iss"),
        ({"issuer": [{"iss": "440000", "upload_keys": ["bm90IGEga2V5"]}]}, "upload_keys[0]"),
        ({"client": [{"id": "x", "token_sha256": "ab", "scopes": [], "rate": 1}]}, "token_sha256"),
        (
            {"client": [{"id": "x", "token_sha256": "ab" * 32, "scopes": ["admin"], "rate": 1}]},
            "scopes",
        ),
        ({"client": [{"id": "x", "token_sha256": "ab" * 32, "scopes": [], "rate": 0}]}, "rate"),
    ],
)
def test_a_bad_value_is_refused_with_its_key_named(doc: dict[str, Any], names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace("[", r"\[").replace("]", r"\]")):
        parse_settings(doc, {})


def test_log_format_is_json_unless_text_is_asked_for() -> None:
    assert parse_settings({}, {}).log_format == "json"
    assert parse_settings({}, {"HCGW_LOG_FORMAT": "text"}).log_format == "text"
    with pytest.raises(ConfigError, match="log_format = 'yaml'"):
        parse_settings({"gateway": {"log_format": "yaml"}}, {})


@pytest.mark.parametrize(
    "gateway",
    [{"listen": "127.0.0.1:0"}, {"listen": "127.0.0.1:8080", "admin_listen": "127.0.0.1:0"}],
)
def test_workers_need_a_fixed_port(gateway: dict[str, Any]) -> None:
    assert parse_settings({"gateway": gateway}, {}).workers == 1
    with pytest.raises(ConfigError, match="workers = 2 with port 0"):
        parse_settings({"gateway": {**gateway, "workers": 2}}, {})
