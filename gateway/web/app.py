"""``create_app``: the aiohttp application of one gateway process, the adapter over the
composition root (``gateway.compose``): its metrics, middleware and routes, and the hub opened
for the app's life (``gateway.web.hub.hub_context``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from gateway.config import Settings
from gateway.core.crypto import PrivateKey
from gateway.metrics import Metrics
from gateway.web.hub import HUB, hub_context
from gateway.web.middleware import GATE, Gate
from gateway.web.routes import add_operator_routes, add_routes


def create_app(
    settings: Settings,
    *,
    redis_url: str,
    hub_key: PrivateKey,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    metrics = Metrics(i.iss for i in settings.issuers)
    gate = Gate(metrics, settings.max_inflight)
    app = web.Application(middlewares=[gate.middleware])
    app[GATE] = gate  # for gateway.web.fastpath, which passes requests through it too
    app.cleanup_ctx.append(hub_context(settings, redis_url, hub_key, metrics, clock))
    add_routes(app, operator_views=not settings.admin_listen)
    return app


def create_admin_app(app: web.Application) -> web.Application:
    """The operator listener (``admin_listen``): /metrics of ``app``, which must be set up."""
    admin = web.Application()
    admin[HUB] = app[HUB]
    add_operator_routes(admin)
    return admin
