"""Fixtures for an in-process hub: the real app from ``create_app``, real HTTP, real Redis.

``make_hub()`` builds one with a fresh World and a settable clock and returns a ``HubClient``:
aiohttp's test client of that app, which also carries ``.world``, ``.clock`` and ``.hub`` (the
composition root).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

import msgpack
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from factory import MSGPACK, NOW, World, bearer
from gateway.core.crypto import generate_private_key
from gateway.core.model import Alg
from gateway.web.app import create_app
from gateway.web.connections import ConnectionLimits, HubRunner
from gateway.web.hub import HUB, Hub
from load_tests.cluster import LocalCluster


def cache_counts(text: str, layer: str) -> dict[str, float]:
    """``hcgw_cache_total`` of one layer (``local``, ``redis``) in a /metrics text: outcome → n."""
    out = {}
    for line in text.splitlines():
        if line.startswith(f'hcgw_cache_total{{layer="{layer}"'):
            name, value = line.rsplit(" ", 1)
            out[name.split('outcome="')[1].rstrip('"}')] = float(value)
    return out


async def verify_batch(hub: HubClient, codes: list[bytes]) -> list[dict[str, Any]]:
    """The verdicts of one ``/v1/verify/batch`` call, which must answer 200."""
    r = await hub.post(
        "/v1/verify/batch", data=msgpack.packb(codes), headers={**bearer(), **MSGPACK}
    )
    assert r.status == 200, await r.text()
    verdicts: list[dict[str, Any]] = await r.json()
    return verdicts


class Clock:
    """The hub's clock in tests: it moves only when a test says so."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class HubTestServer(TestServer):
    """The hub's own listener, as ``hcgw serve`` runs it (``HubRunner``: its connections and
    the fast path of ``POST /v1/verify``), under aiohttp's test client; ``fast_path=False``:
    every request by aiohttp's way."""

    def __init__(
        self, app: web.Application, *, fast_path: bool = True, header_timeout: float = 30.0
    ) -> None:
        super().__init__(app)
        self.fast_path = fast_path
        self.limits = ConnectionLimits(max_connections=4096, header_timeout=header_timeout)

    async def _make_runner(self, **kwargs: Any) -> web.BaseRunner:
        return HubRunner(self.app, limits=self.limits, fast_path=self.fast_path)


class HubClient(TestClient[web.Request, web.Application]):
    """aiohttp's test client of one hub, with the World that signs what it is sent and the clock
    it reads; ``.hub`` is its composition root, there once the server has started."""

    def __init__(
        self,
        app: web.Application,
        world: World,
        clock: Clock,
        *,
        fast_path: bool = True,
        header_timeout: float = 30.0,
    ) -> None:
        super().__init__(HubTestServer(app, fast_path=fast_path, header_timeout=header_timeout))
        self.world = world
        self.clock = clock

    @property
    def hub(self) -> Hub:
        return self.app[HUB]

    @property
    def fast_answered(self) -> int:
        """Requests the fast path of ``POST /v1/verify`` has answered (0 without one)."""
        runner = self.server.runner
        fast = runner.fast_path if isinstance(runner, HubRunner) else None
        return 0 if fast is None else fast.answered


class MakeHub(Protocol):
    """The ``make_hub`` fixture: settings ``overrides`` are ``Settings`` fields."""

    async def __call__(
        self,
        world: World | None = None,
        clock: Clock | None = None,
        *,
        url: str | None = None,
        fast_path: bool = True,
        header_timeout: float = 30.0,
        **overrides: Any,
    ) -> HubClient: ...


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
async def make_hub(
    redis_url: str, hub_backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[MakeHub]:
    clients: list[HubClient] = []

    async def make(
        world: World | None = None,
        clock: Clock | None = None,
        *,
        url: str | None = None,
        fast_path: bool = True,
        header_timeout: float = 30.0,
        **overrides: Any,
    ) -> HubClient:
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
        client = HubClient(app, world, clock, fast_path=fast_path, header_timeout=header_timeout)
        await client.start_server()  # as pytest-aiohttp's aiohttp_client does
        clients.append(client)
        return client

    yield make
    while clients:
        await clients.pop().close()
