"""Redis failures become one error the API knows: 503 ``unavailable`` (SPEC §7); and a
cancellation that a redis-py call lost is raised again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import RedisError

from gateway.errors import Unavailable

# Where a TypeError or AttributeError means a broken connection, not a bug of ours.
_CLIENT_MODULES = ("redis.", "asyncio.")


@asynccontextmanager
async def redis_errors(doing: str) -> AsyncIterator[None]:
    try:
        yield
    except (TimeoutError, RedisError, OSError) as exc:
        raise Unavailable(f"the status store is unreachable ({doing})") from exc
    except (TypeError, AttributeError) as exc:
        if not raised_in_the_client(exc):
            raise
        raise Unavailable(f"the status store is unreachable ({doing})") from exc


def raised_in_the_client(exc: BaseException) -> bool:
    """True when ``exc`` was raised in redis-py or in asyncio's transports. redis-py 8.1 lets
    a write on a connection the peer has closed fail that way instead of with its
    ``ConnectionError`` (redis/redis-py#4287; seen here once as a 500 on the cluster, an
    ``AttributeError`` from a connection's health check); it is the store being unreachable."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", ""))
    return module.startswith(_CLIENT_MODULES)


def keep_cancelled() -> None:
    """Raise ``CancelledError`` if this task was cancelled and has not seen it: a redis-py call
    can lose a cancellation and return, or fail with an error of its own instead (measured: a
    lease keeper cancelled in its first milliseconds on a fresh client went on in 11 of 40
    trials, and the hub's shutdown waited for it for ever). A background loop calls this
    after each call and in its ``except`` branches."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
