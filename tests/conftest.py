"""Shared fixtures: a real redis-server (from the project's own embedded runner) per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from gateway.store.embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start_sync()
    try:
        yield server
    finally:
        server.stop_sync()


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
    """A dedicated server for tests that kill or pause Redis."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start_sync()
    try:
        yield server
    finally:
        if server.pid is not None:
            server.resume()
        server.stop_sync()
