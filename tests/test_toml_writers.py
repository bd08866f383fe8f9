"""The two TOML writers (the simulator's operator config and the tests' factory) write any
value so that the gateway reads it back as it was: quotes, backslashes, control characters."""

from __future__ import annotations

import tomllib

import pytest

from factory import World, config_toml
from gateway.config import parse_settings
from provinces_sim.opconfig import hub_config
from provinces_sim.world import World as SimWorld

AWKWARD = [
    'a "quoted" name',
    "C:\\hub\\trust.key",
    "tab\there, newline\nthere",
    "delete \x7f and bell \x07",
    "张三 ✓",
]


@pytest.mark.parametrize("value", AWKWARD)
def test_the_factory_config_reads_back_every_value_as_written(value: str) -> None:
    text = config_toml(
        World.make(), listen="127.0.0.1:1", redis_url="redis://x", trust_key=value, log=value
    )
    doc = tomllib.loads(text)
    assert doc["gateway"]["trust_key"] == value
    assert doc["gateway"]["log"] == value
    assert len(doc["issuer"]) == 3
    assert [c["id"] for c in doc["client"]] == ["terminal", "mirror", "noscope", "slow"]


@pytest.mark.parametrize("value", AWKWARD)
def test_the_simulators_hub_config_reads_back_every_value_as_written(value: str) -> None:
    world = SimWorld.create(seed=1, scale=1e-7, now=1_600_000_000)
    doc = tomllib.loads(hub_config(world, {"trust_key": value, "rate": 10.0, "flag": True}))
    assert doc["gateway"] == {"trust_key": value, "rate": 10, "flag": True}
    assert len(doc["issuer"]) == len(world.issuers)


def test_the_simulators_hub_config_is_what_the_gateway_enrols() -> None:
    world = SimWorld.create(seed=1, scale=1e-7, now=1_600_000_000)
    settings = parse_settings(tomllib.loads(hub_config(world, {})), {})
    assert [i.iss for i in settings.issuers] == list(world.issuers)
    assert {c.id for c in settings.clients} == set(world.clients)
