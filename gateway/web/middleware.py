"""The hub's one middleware, ``Gate``: the in-flight limit, errors rendered, requests timed.

Every error leaves here as ``{"error", "detail"}`` JSON (SPEC §7); handlers only raise. Each
error answer is counted and logged as one JSON line (``gateway.metrics.logs``); anything
unexpected is logged with where it was raised and answered 500 without a trace. The in-flight
count is a plain integer the metrics read when they are exposed. Every request is timed and
counted by route, method and status, whatever became of it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from aiohttp import web
from aiohttp.http import HttpVersion10
from aiohttp.typedefs import Handler

from gateway.errors import BadRequest, HcgwError, MethodNotAllowed, NotFound, Overloaded
from gateway.metrics import Metrics
from gateway.metrics.logs import ErrorLog
from gateway.web.answers import json_response
from gateway.web.routes import UNLIMITED_PATHS


class Answered(Protocol):
    """What a call through the gate answers: a response, or anything else with a status."""

    @property
    def status(self) -> int: ...


A = TypeVar("A", bound=Answered)

# The ``code`` of a request that ended without an answer (its task was cancelled: the client
# went away or the worker stopped), as nginx logs it.
NO_ANSWER = 499


def error_response(error: HcgwError) -> web.Response:
    return json_response(error.body(), status=error.status, headers=error.headers)


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


class Gate:
    """What every request of the hub passes: the in-flight limit, the error rendering and the
    request's count and time. ``middleware`` is its aiohttp form; ``gateway.web.fastpath``
    passes the verification requests it answers through ``answer`` itself."""

    def __init__(self, metrics: Metrics, max_inflight: int) -> None:
        self.inflight = 0
        self._metrics = metrics
        self._max_inflight = max_inflight
        self._errors_log = ErrorLog()
        metrics.watch_inflight(lambda: self.inflight)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.version < HttpVersion10:  # a request line without a version: HTTP/0.9
            return await self.answer(_route(request), request.method, False, _refuse_http09)
        counted = request.path not in UNLIMITED_PATHS  # probes, operator views
        call = functools.partial(handler, request)
        return await self.answer(_route(request), request.method, counted, call)

    async def answer(
        self, route: str, method: str, counted: bool, call: Callable[[], Awaitable[A]]
    ) -> A | web.Response:
        """``call``'s answer, or the error it raised as SPEC §7 JSON; timed and counted."""
        started = time.perf_counter()
        status = NO_ANSWER
        try:
            response = await self._rendered(
                route, method, self._limited(call) if counted else call()
            )
            status = response.status
            return response
        except web.HTTPException as exc:  # below 400 (a 304, a redirect): aiohttp renders it
            status = exc.status
            raise
        finally:
            self._metrics.observe_request(route, method, status, time.perf_counter() - started)

    async def _rendered(self, route: str, method: str, answer: Awaitable[A]) -> A | web.Response:
        try:
            return await answer
        except HcgwError as exc:
            return self._failed(route, method, exc)
        except web.HTTPMethodNotAllowed as exc:
            allow = ", ".join(sorted(exc.allowed_methods))
            return self._failed(
                route,
                method,
                MethodNotAllowed(f"{method} is not allowed here", headers={"Allow": allow}),
            )
        except web.HTTPNotFound:
            return self._failed(route, method, NotFound("no such resource"))  # no path logged
        except web.HTTPException as exc:  # aiohttp's own refusals; keep the status, our shape
            if exc.status < 400:
                raise
            error = "bad_request" if exc.status < 500 else "unavailable"
            self._metrics.count_error(error, route)
            self._errors_log.error(exc.status, error, route, method, exc.reason)
            return json_response({"error": error, "detail": exc.reason}, status=exc.status)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: a 500, logged
            self._metrics.count_error("internal", route)
            self._errors_log.exception(exc, route, method)
            return json_response(
                {"error": "internal", "detail": "an unexpected error; it has been logged"},
                status=500,
            )

    async def _limited(self, call: Callable[[], Awaitable[A]]) -> A:
        """``call``'s answer within the in-flight limit (503 ``overloaded`` over it)."""
        if self.inflight >= self._max_inflight:
            raise Overloaded(f"over {self._max_inflight} requests in flight")
        self.inflight += 1
        try:
            return await call()
        finally:
            self.inflight -= 1

    def _failed(self, route: str, method: str, exc: HcgwError) -> web.Response:
        self._metrics.count_error(exc.error, route)
        self._errors_log.error(exc.status, exc.error, route, method, exc.detail)
        return error_response(exc)


GATE = web.AppKey("gate", Gate)


async def _refuse_http09() -> web.StreamResponse:
    raise BadRequest("HTTP/0.9 is not served; send HTTP/1.1")
