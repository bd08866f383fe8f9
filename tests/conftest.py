"""Shared fixtures. Real Redis, mocked nothing (STYLE 20): servers come from the project's own
``gateway.store.embedded`` runner, the same code the gateway runs in production.

- ``redis_server``: one server for the session, on a unix socket in a temp dir.
- ``redis_url``: that server, emptied before the test; most tests want only this.
- ``fresh_redis``: a dedicated server per test, for tests that kill, pause or restart Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from gateway.store.embedded import EmbeddedRedis

# ---------------------------------------------------------------------------------------------
# Redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
async def redis_url(redis_server: EmbeddedRedis) -> str:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        await client.flushall()
    finally:
        await client.aclose()
    return redis_server.url


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """Stopped at the end whatever the test did to it: paused, killed or restarted."""
    with EmbeddedRedis(tmp_path / "redis") as server:
        yield server


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every API test on a single Redis and on a 3-master Redis Cluster (issue 6)."""
    if "make_hub" in metafunc.fixturenames and metafunc.module.__name__.startswith("test_api_"):
        metafunc.parametrize("hub_backend", ["redis", "cluster"], indirect=True)
