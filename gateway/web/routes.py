"""Every route of the hub, declared once (SPEC §4–§7), and the OpenAPI document built over them.

:data:`ROUTES` is the one table: :func:`add_routes` and :func:`add_operator_routes` register it,
the middleware exempts its ``limited=False`` paths from the in-flight limit
(:data:`UNLIMITED_PATHS`), the OpenAPI document takes its paths from it (each route names the
operation of ``openapi.yaml`` that describes it, and ``web.openapi`` refuses a route without one
or an operation without a route) and the tests read it. Operator routes (``operator=True``) move
to the ``admin_listen`` listener when one is set. A GET also answers HEAD (aiohttp).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.web import dashboard, handlers
from gateway.web.answers import json_response
from gateway.web.openapi import build_document


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    operation_id: str  # its operation in openapi.yaml
    handler: Handler
    operator: bool = False  # an operator view: on admin_listen when that is set
    limited: bool = True  # counts against max_inflight; operator views and probes stay up


async def openapi(request: web.Request) -> web.Response:
    return json_response(DOCUMENT)


ROUTES = (
    Route("POST", "/v1/verify", "verifyCode", handlers.verify_one),
    Route("POST", "/v1/verify/batch", "verifyBatch", handlers.verify_batch),
    Route("GET", "/v1/trustlist", "getTrustList", handlers.trust_list),
    Route("GET", "/v1/trustlist/key", "getTrustListKey", handlers.trust_list_key),
    Route("POST", "/v1/issuers/{iss}/keys", "addKey", handlers.add_key),
    Route("POST", "/v1/issuers/{iss}/keys/revoke", "revokeKey", handlers.revoke_key),
    Route("POST", "/v1/issuers/{iss}/status", "postStatus", handlers.post_status),
    Route("GET", "/v1/issuers/{iss}/status/mark", "getMark", handlers.get_mark),
    Route("GET", "/healthz", "healthz", handlers.healthz, limited=False),
    Route("GET", "/readyz", "readyz", handlers.readyz, limited=False),
    Route("GET", "/openapi.json", "openapi", openapi),
    Route("GET", "/metrics", "metrics", dashboard.metrics, operator=True, limited=False),
    Route("GET", "/dashboard", "dashboard", dashboard.dashboard, operator=True, limited=False),
    Route(
        "GET",
        "/dashboard/data",
        "dashboardData",
        dashboard.dashboard_data,
        operator=True,
        limited=False,
    ),
)
UNLIMITED_PATHS = frozenset(route.path for route in ROUTES if not route.limited)
DOCUMENT = build_document(ROUTES)


def openapi_document(server_url: str | None = None) -> dict[str, object]:
    """A fresh copy of the hub's OpenAPI document; ``servers`` names ``server_url`` when given."""
    document = copy.deepcopy(DOCUMENT)
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def _add(app: web.Application, routes: tuple[Route, ...]) -> None:
    for route in routes:
        if route.method == "GET":
            app.router.add_get(route.path, route.handler)  # and HEAD
        else:
            app.router.add_route(route.method, route.path, route.handler)


def add_routes(app: web.Application, *, operator_views: bool = True) -> None:
    """The API's routes, and the operator views unless they have a listener of their own."""
    _add(app, tuple(r for r in ROUTES if operator_views or not r.operator))


def add_operator_routes(app: web.Application) -> None:
    """/metrics, /dashboard and /dashboard/data alone: the ``admin_listen`` application."""
    _add(app, tuple(r for r in ROUTES if r.operator))
