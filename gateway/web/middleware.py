"""The two middlewares: in-flight limit and error rendering (with the request timer).

Every error leaves here as ``{"error", "detail"}`` JSON (SPEC §7); handlers only raise. Each
error answer is counted and logged as one JSON line (``gateway.metrics.logs``); anything
unexpected is logged with where it was raised and answered 500 without a trace. The in-flight
count is a plain integer the metrics read when they are exposed. Every request is timed and
counted by route, method and status, whatever became of it.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.http import HttpVersion10
from aiohttp.typedefs import Handler, Middleware

from gateway.errors import BadRequest, HcgwError, MethodNotAllowed, NotFound, Overloaded
from gateway.metrics import Metrics
from gateway.metrics.logs import ErrorLog
from gateway.web.answers import json_response
from gateway.web.routes import UNLIMITED_PATHS

# The ``code`` of a request that ended without an answer (its task was cancelled: the client
# went away or the worker stopped), as nginx logs it.
NO_ANSWER = 499


def error_response(error: HcgwError) -> web.Response:
    return json_response(error.body(), status=error.status, headers=error.headers)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def make_middlewares(metrics: Metrics, max_inflight: int) -> list[Middleware]:
    inflight = 0
    metrics.watch_inflight(lambda: inflight)
    errors_log = ErrorLog()

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = NO_ANSWER
        try:
            response = await answer(request, handler)
            status = response.status
            return response
        except web.HTTPException as exc:  # below 400 (a 304, a redirect): aiohttp renders it
            status = exc.status
            raise
        finally:
            metrics.observe_request(
                _route(request), request.method, status, time.perf_counter() - started
            )

    async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal inflight
        counted = request.path not in UNLIMITED_PATHS  # probes, operator views
        try:
            if request.version < HttpVersion10:  # a request line without a version: HTTP/0.9
                raise BadRequest("HTTP/0.9 is not served; send HTTP/1.1")
            if counted:
                if inflight >= max_inflight:
                    raise Overloaded(f"over {max_inflight} requests in flight")
                inflight += 1
            try:
                return await handler(request)
            finally:
                if counted:
                    inflight -= 1
        except HcgwError as exc:
            return failed(request, exc)
        except web.HTTPMethodNotAllowed as exc:
            allow = ", ".join(sorted(exc.allowed_methods))
            return failed(
                request,
                MethodNotAllowed(f"{request.method} is not allowed here", headers={"Allow": allow}),
            )
        except web.HTTPNotFound:
            return failed(request, NotFound("no such resource"))  # the path stays out of logs
        except web.HTTPException as exc:  # aiohttp's own refusals; keep the status, our shape
            if exc.status < 400:
                raise
            error = "bad_request" if exc.status < 500 else "unavailable"
            metrics.count_error(error, _route(request))
            errors_log.error(exc.status, error, _route(request), request.method, exc.reason)
            return json_response({"error": error, "detail": exc.reason}, status=exc.status)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a 500, logged
            metrics.count_error("internal", _route(request))
            errors_log.exception(exc, _route(request), request.method)
            return json_response(
                {"error": "internal", "detail": "an unexpected error; it has been logged"},
                status=500,
            )

    def failed(request: web.Request, exc: HcgwError) -> web.Response:
        metrics.count_error(exc.error, _route(request))
        errors_log.error(exc.status, exc.error, _route(request), request.method, exc.detail)
        return error_response(exc)

    return [errors]
