"""Redis failures become one error the API knows: 503 ``unavailable`` (SPEC §7); and a
cancellation that a redis-py call lost is raised again."""

from __future__ import annotations

import asyncio
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


def keep_cancelled() -> None:
    """Raise ``CancelledError`` if this task was cancelled and has not seen it: a redis-py call
    can lose a cancellation and return, or fail with an error of its own instead (measured: a
    lease keeper cancelled in its first milliseconds on a fresh client went on in 11 of 40
    trials, and the hub's shutdown waited for it for ever). A background loop calls this
    after each call and in its ``except`` branches."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
