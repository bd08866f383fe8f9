"""Fixtures for an in-process hub: the real app from ``create_app``, real HTTP, real Redis.

``make_hub()`` builds one with a fresh World and a settable clock; the returned aiohttp test
client also carries ``.world``, ``.clock`` and ``.hub`` (the composition root).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from factory import NOW, World
from gateway.core.crypto import generate_private_key
from gateway.core.model import Alg
from gateway.web.app import create_app
from gateway.web.hub import HUB
from load_tests.cluster import LocalCluster


def cache_counts(text: str, layer: str) -> dict[str, float]:
    """``hcgw_cache_total`` of one layer (``local``, ``redis``) in a /metrics text: outcome → n."""
    out = {}
    for line in text.splitlines():
        if line.startswith(f'hcgw_cache_total{{layer="{layer}"'):
            name, value = line.rsplit(" ", 1)
            out[name.split('outcome="')[1].rstrip('"}')] = float(value)
    return out


class Clock:
    """The hub's clock in tests: it moves only when a test says so."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def hub_backend(request: pytest.FixtureRequest) -> str:
    """``redis`` (one server) or ``cluster``; the API tests run on both (conftest.py)."""
    return str(getattr(request, "param", "redis"))


@pytest.fixture
def make_hub(
    redis_url: str, aiohttp_client: Any, hub_backend: str, request: pytest.FixtureRequest
) -> Callable[..., Awaitable[Any]]:
    async def make(
        world: World | None = None,
        clock: Clock | None = None,
        *,
        url: str | None = None,
        **overrides: Any,
    ) -> Any:
        world = world or World.make()
        clock = clock or Clock()
        if hub_backend == "cluster" and url is None:
            cluster: LocalCluster = request.getfixturevalue("redis_cluster")
            await cluster.flush()
            url, overrides = cluster.url, {**overrides, "redis_cluster": True}
        app = create_app(
            world.settings(**overrides),
            redis_url=url or redis_url,
            hub_key=generate_private_key(Alg.ED25519),
            clock=clock,
        )
        client = await aiohttp_client(app)
        client.world, client.clock, client.hub = world, clock, app[HUB]
        return client

    return make
