"""The hub as the aiohttp application holds it: the ``HUB`` key, and ``hub_context``, which
opens the composition root's hub (``gateway.compose.open_hub``) for the app's life.

Handlers reach the hub's objects through ``request.app[HUB]``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway.compose import Hub, open_hub
from gateway.config import Settings
from gateway.core.crypto import PrivateKey
from gateway.metrics import Metrics

__all__ = ["HUB", "Hub", "hub_context"]

HUB = web.AppKey("hub", Hub)


def hub_context(
    settings: Settings,
    redis_url: str,
    hub_key: PrivateKey,
    metrics: Metrics,
    clock: Callable[[], float] = time.time,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry: the app's hub is open from its startup to its cleanup."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async with open_hub(settings, redis_url, hub_key, metrics, clock) as hub:
            app[HUB] = hub
            yield

    return context
