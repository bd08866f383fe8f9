"""The two middlewares: in-flight limit and error rendering (with the request timer).

Every error leaves here as ``{"error", "detail"}`` JSON (SPEC §7); handlers only raise.
Anything unexpected is logged with its trace and answered 500 without one.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.errors import HcgwError, MethodNotAllowed, NotFound, Overloaded
from gateway.metrics import Metrics

log = logging.getLogger("hcgw.errors")

_UNLIMITED = frozenset({"/healthz", "/readyz", "/metrics"})


def error_response(error: HcgwError) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers=error.headers)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def make_middlewares(metrics: Metrics, max_inflight: int) -> list[Middleware]:
    inflight = 0

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal inflight
        started = time.perf_counter()
        counted = request.path not in _UNLIMITED
        try:
            if counted:
                if inflight >= max_inflight:
                    raise Overloaded(f"over {max_inflight} requests in flight")
                inflight += 1
                metrics.inflight.set(inflight)
            try:
                return await handler(request)
            finally:
                if counted:
                    inflight -= 1
                    metrics.inflight.set(inflight)
        except HcgwError as exc:
            if exc.status in (413, 429, 503):
                metrics.rejected.labels(exc.error).inc()
            return error_response(exc)
        except web.HTTPMethodNotAllowed as exc:
            allow = ", ".join(sorted(exc.allowed_methods))
            return error_response(
                MethodNotAllowed(f"{request.method} is not allowed here", headers={"Allow": allow})
            )
        except web.HTTPNotFound:
            return error_response(NotFound(f"no such resource: {request.path}"))
        except web.HTTPException as exc:  # aiohttp's own refusals; keep the status, our shape
            if exc.status < 400:
                raise
            return web.json_response(
                {
                    "error": "bad_request" if exc.status < 500 else "unavailable",
                    "detail": exc.reason,
                },
                status=exc.status,
            )
        except Exception:
            log.exception("unexpected error on %s %s", request.method, _route(request))
            return web.json_response(
                {"error": "internal", "detail": "an unexpected error; it has been logged"},
                status=500,
            )
        finally:
            metrics.request_duration.labels(_route(request)).observe(time.perf_counter() - started)

    return [errors]
