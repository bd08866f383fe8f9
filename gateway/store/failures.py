"""Redis failures become one error the API knows: 503 ``unavailable`` (SPEC §7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import RedisError

from gateway.errors import Unavailable


@asynccontextmanager
async def redis_errors(doing: str) -> AsyncIterator[None]:
    try:
        yield
    except (TimeoutError, RedisError, OSError) as exc:
        raise Unavailable(f"the status store is unreachable ({doing})") from exc
